"""Teacher-forced NLL of reference traces at every checkpoint of a run.

Each reference row (SFT schema: ``messages`` + ``response``) is scored exactly as training sees it: the prompt is
:func:`rsft.chat.render_prompt` of the messages, the response is tokenized without special tokens and followed by
the tokenizer's EOS, and the loss covers the response tokens including EOS. Per checkpoint the result is the
token-mean NLL over all reference tokens (nats/token) with a bootstrap interval over rows (seeded), plus the
row-mean NLL. Checkpoints are those of :mod:`rsft.eval.layouts` (any trainer's run folder), complete ones only.

Run: ``rsft analyze nll --run RUN_DIR --data REF.jsonl [--out nll.json]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rsft._util.errors import DataError
from rsft.analysis.stats import BootSpec, item_weights, percentile_ci


def checkpoints(run_dir: str | Path, *, base: str | None = None) -> list[tuple[int, Any]]:
    """Complete checkpoints of a run of any trainer, sorted by step, as ``(step, Target)``
    (:func:`rsft.eval.plan.discover_run`; the base is step 0 when the run names one).

    Raises:
        DataError: the run folder has no complete checkpoint.
    """
    from rsft.eval.plan import discover_run

    found, listing = discover_run(run_dir, base=base)
    if not found:
        raise DataError(
            f"no complete checkpoint (layout: {listing.layout})",
            file=str(run_dir),
            fix="pass a run folder with complete checkpoints (rsft train, a Hugging Face Trainer, a run manifest)",
        )
    return [(t.step, t) for t in found]


def load_checkpoint(target: Any, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a checkpoint; a PEFT adapter is applied to its base in memory (no merged copy is
    written)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rsft._util.model_folder import check_finite_weights

    tok = AutoTokenizer.from_pretrained(target.model)
    if target.adapter_base is None:
        model = AutoModelForCausalLM.from_pretrained(target.model)
    else:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(target.adapter_base)
        model = PeftModel.from_pretrained(base, target.model).merge_and_unload()
    check_finite_weights(model, target.model)  # NaN weights would give a NaN curve, not an error
    return model.to(device).eval(), tok


def _row_losses(model, tok, rows, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Summed NLL and token count of each row's response (+ EOS) under ``model``."""
    import torch

    from rsft.chat import prompt_ids

    if tok.eos_token_id is None:
        raise DataError("the checkpoint's tokenizer has no EOS token", field="eos_token")
    sums, counts = [], []
    for row in rows:
        p = prompt_ids(tok, row.messages)
        r = tok(row.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = torch.tensor([p + r], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(p) - 1 : -1].float()
        target = ids[0, len(p) :]
        nll = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
        sums.append(float(nll))
        counts.append(len(r))
    return np.array(sums), np.array(counts, dtype=float)


def nll_curve(
    run_dir: str | Path,
    data: str | Path,
    *,
    max_rows: int | None = 200,
    seed: int = 0,
    B: int = 1000,
    level: float = 0.95,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    base: str | None = None,
) -> dict:
    """Teacher-forced NLL of the reference rows at every complete checkpoint (see the module docstring).

    Args:
        run_dir: the training run folder.
        data: reference rows (any format :func:`rsft.data.io.read_sft` reads).
        max_rows: use the first rows only (None = all).
        seed, B, level: the bootstrap over rows.
        device: torch device.
        progress: called with (checkpoints done, total).
        base: the base model (step 0) when the run's layout does not name it.

    Returns:
        ``{"run", "data", "rows", "tokens", "stat", "step": [...], "nll": {est, lo, hi}, "nll_row_mean": [...]}``.

    Raises:
        DataError: no checkpoint, unreadable data, or no rows.
    """
    from rsft.data.io import read_sft

    rows = read_sft(data, on_unclosed="keep")[: max_rows or None]
    if not rows:
        raise DataError("no reference rows", file=str(data))
    cks = checkpoints(run_dir, base=base)
    spec = BootSpec(B=B, seed=seed, level=level)
    rng = spec.rng("nll", str(data))
    W = item_weights(len(rows), B, rng)  # one draw of the rows, shared by every checkpoint
    steps, est, lo, hi, row_mean, tokens = [], [], [], [], [], 0
    for i, (step, target) in enumerate(cks):
        model, tok = load_checkpoint(target, device)
        sums, counts = _row_losses(model, tok, rows, device)
        boot = (W @ sums) / (W @ counts)
        a, b = percentile_ci(boot[:, None], level)
        steps.append(step)
        est.append(float(sums.sum() / counts.sum()))
        lo.append(float(a[0]))
        hi.append(float(b[0]))
        row_mean.append(float(np.mean(sums / counts)))
        tokens = int(counts.sum())
        if progress:
            progress(i + 1, len(cks))
    return {
        "run": str(Path(run_dir).resolve()),
        "data": str(data),
        "rows": len(rows),
        "tokens": tokens,
        "stat": {**spec.describe(), "method": "token-mean NLL (nats/token); bootstrap over reference rows"},
        "step": steps,
        "nll": {"est": est, "lo": lo, "hi": hi},
        "nll_row_mean": row_mean,
    }


def write_nll(result: dict, out: str | Path) -> Path:
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(result, indent=1))
    return p
