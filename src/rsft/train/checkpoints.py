"""Checkpoints (Hugging Face folders for evaluation) and resume state, both written atomically.

Layout (see :mod:`rsft.train`)::

    RUN_DIR/resolved_config.yaml    the config as run, each value tagged default / file / cli
    RUN_DIR/metrics.jsonl           one line per optimizer step
    RUN_DIR/checkpoints/step_{step:06d}/   model + tokenizer + meta.json + COMPLETE (written last)
    RUN_DIR/train_state/step_{step:06d}/   accelerate state (weights, optimizer, scheduler, RNG) + position.json
    RUN_DIR/DONE                    json: final step and weights hash, written when training finishes

Every folder is first written as ``.tmp-step_...`` beside its final name and then renamed, so a process killed
at any moment leaves either the previous complete folder or the new one — never half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rsft._util.errors import RsftError
from rsft.train import COMPLETE_MARKER

_STEP_RE = re.compile(r"^step_(\d+)$")
RUN_MARKERS = ("resolved_config.yaml", "checkpoints", "train_state", "metrics.jsonl", "DONE")


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


def _scan_steps(folder: Path) -> tuple[list[tuple[int, Path]], list[Path]]:
    """(complete ``step_N`` folders sorted by step, step folders without the ``COMPLETE`` marker)."""
    if not folder.is_dir():
        return [], []
    complete, partial = [], []
    for p in folder.iterdir():
        m = _STEP_RE.match(p.name)
        if not (m and p.is_dir()):
            continue
        if (p / COMPLETE_MARKER).is_file():
            complete.append((int(m.group(1)), p))
        else:
            partial.append(p)
    return sorted(complete), sorted(partial)


def scan_checkpoints(run_dir: str | Path) -> tuple[list[tuple[int, Path]], list[Path]]:
    """The one checkpoint lister: complete checkpoints of a run sorted by step, ``[(0, RUN/checkpoints/step_000000),
    ...]``, and the half-written step folders (no ``COMPLETE`` marker yet). Evaluation, analysis and resume all
    read checkpoints through it."""
    return _scan_steps(Path(run_dir) / "checkpoints")


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, sorted by step: ``[(0, RUN/checkpoints/step_000000), ...]``.

    Half-written folders (no ``COMPLETE`` marker) are left out.
    """
    return scan_checkpoints(run_dir)[0]


def latest_state(run_dir: str | Path) -> tuple[int, Path] | None:
    """The newest complete resume state, or None."""
    states = _scan_steps(Path(run_dir) / "train_state")[0]
    return states[-1] if states else None


def tmp_dir_for(final: Path) -> Path:
    """The temporary folder a step folder is written into; deterministic, so every process of a distributed run
    writes into the same one."""
    return final.parent / f".tmp-{final.name}"


def fresh_tmp_dir(final: Path) -> Path:
    tmp = tmp_dir_for(final)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit_dir(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` with renames (an existing ``final`` is a rewrite of the same step)."""
    if final.exists():
        old = final.parent / f".old-{final.name}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)


_DISK_FULL = ("No space left on device", "os error 28", "Disk quota exceeded", "os error 122")


@contextmanager
def disk_full_errors(folder: Path) -> Iterator[None]:
    """Turn a full disk while writing ``folder`` into one :class:`RsftError` naming it.

    safetensors and torch report a full disk as their own exception types, so the OS error is recognised by
    its text as well as by its errno.
    """
    import errno

    try:
        yield
    except Exception as e:
        full = (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
            t in str(e) for t in _DISK_FULL
        )
        if not full:
            raise
        raise RsftError(
            f"the disk is full (no space left on device) while writing {folder.name}",
            file=str(folder.parent),
            fix="free space or choose another output_dir, then rerun with --resume (complete checkpoints are kept)",
        ) from None


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``; on success, rename it to ``final``. A failed write
    removes the temporary folder (it frees the space a full disk needs) and re-raises."""
    tmp = fresh_tmp_dir(final)
    try:
        with disk_full_errors(final):
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit_dir(tmp, final)


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def prune(folder: Path, keep: str | int, *, protect: tuple[int, ...] = (0,)) -> list[int]:
    """Delete all but the ``keep`` newest complete step folders (never the protected steps); returns deleted."""
    if keep == "all":
        return []
    steps = [(s, p) for s, p in _scan_steps(folder)[0] if s not in protect]
    doomed = steps[: max(0, len(steps) - int(keep))]
    for _, p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return [s for s, _ in doomed]


def is_run_dir(path: Path) -> bool:
    return any((path / m).exists() for m in RUN_MARKERS)


def prepare_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse an occupied output folder unless resuming or overwriting; ``overwrite`` deletes a previous run.

    Raises:
        RsftError: the folder holds another run (or other files) and neither flag was given; or ``overwrite``
            was asked for a folder that does not look like an rsft run.
    """
    if resume and overwrite:
        raise RsftError("--resume and --overwrite exclude each other", fix="choose one")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        run_dir.mkdir(parents=True, exist_ok=True)
        return
    if overwrite:
        if not is_run_dir(run_dir):
            raise RsftError(
                "refusing to --overwrite a folder that does not hold an rsft run",
                file=str(run_dir),
                fix="choose another output_dir / run_name, or empty the folder yourself",
            )
        shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        return
    if resume:
        return
    what = "another training run" if is_run_dir(run_dir) else "other files"
    raise RsftError(
        f"the output folder already holds {what}",
        file=str(run_dir),
        fix="pass --resume to continue it, --overwrite to start again, or set another run_name / output_dir",
    )


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines after ``step`` (they are recomputed after a resume)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except ValueError:
            break  # a torn last line from a killed process
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(x + "\n" for x in keep))
    os.replace(tmp, path)


def _lora_scalings(peft_model: Any) -> dict[str, float]:
    """Module name (as in the state dict, without the ``.lora_A...`` suffix) -> LoRA scaling (alpha / r)."""
    out = {}
    for name, module in peft_model.named_modules():
        scaling = getattr(module, "scaling", None)
        if isinstance(scaling, dict) and "default" in scaling:
            out[name] = float(scaling["default"])
    return out


def merge_lora_state_dict(state_dict: dict[str, Any], scalings: dict[str, float]) -> dict[str, Any]:
    """Fold LoRA adapters into the base weights of a peft state dict: ``W + (B @ A) * alpha / r``.

    Keys come back with the base model's names (``base_model.model.`` and ``.base_layer`` removed), so the result
    loads into the plain model with ``from_pretrained``. The inputs are not modified.
    """
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        if ".lora_A." in key or ".lora_B." in key:
            continue
        name = key.removeprefix("base_model.model.")
        if ".base_layer." in key:
            module = key.rsplit(".base_layer.", 1)[0]
            if key.endswith(".weight"):
                a = state_dict[f"{module}.lora_A.default.weight"]
                b = state_dict[f"{module}.lora_B.default.weight"]
                scale = scalings[module]
                value = (value.float() + (b.float() @ a.float()) * scale).to(value.dtype)
            name = name.replace(".base_layer.", ".")
        out[name] = value
    return out


def save_hf_checkpoint(
    model: Any, state_dict: dict[str, Any], tokenizer: Any, out: Path, *, dtype: Any, lora: bool
) -> None:
    """Write a Hugging Face folder (safetensors + config + generation config + tokenizer) from a full state dict.

    Args:
        model: the unwrapped model (a peft model when ``lora``).
        state_dict: its full (gathered) state dict.
        tokenizer: saved alongside, chat template included.
        out: folder to write into (already created).
        dtype: dtype the weights are saved in.
        lora: merge the adapters first, so the folder is a plain model.
    """
    if lora:
        state_dict = merge_lora_state_dict(state_dict, _lora_scalings(model))
        model = model.get_base_model()
    state_dict = {
        k: v.detach().to("cpu", dtype=dtype) if v.is_floating_point() else v for k, v in state_dict.items()
    }
    # tie shared tensors again so that save_pretrained stores a tied weight once
    if getattr(model.config, "tie_word_embeddings", False):
        emb = model.get_input_embeddings()
        names = {n for n, p in model.named_parameters(remove_duplicate=False) if p is emb.weight}
        names = {n.replace(".base_layer.", ".") for n in names} & set(state_dict)
        if len(names) > 1:
            first = sorted(names)[0]
            for n in names:
                state_dict[n] = state_dict[first]
    model.save_pretrained(str(out), state_dict=state_dict, safe_serialization=True)
    tokenizer.save_pretrained(str(out))
