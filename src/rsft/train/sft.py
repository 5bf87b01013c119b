"""rsft's SFT recipe, top to bottom: build_accelerator, build_model, build_dataset, build_optimizer, run.

A plain PyTorch loop under ``accelerate`` (so it runs unchanged under ``accelerate launch`` with DDP, FSDP or
DeepSpeed ZeRO-3). The decisions live here, in order:

1. prompt/response tokenization and the loss mask (:mod:`rsft.train.data`, the train/eval contract);
2. the data order: global batch ``k`` of a run is a pure function of (step, seed), which makes resuming exact;
3. the loss (:mod:`rsft.train.loss`): ``token_mean`` divides by the supervised tokens of the whole global batch,
   counted before the step from the pre-tokenized rows (every process sees the same rows, so the count needs no
   communication and is identical everywhere);
4. AdamW, gradient clipping, and *skipping* the update when the gradient norm is not finite (the paper's
   trainer does the same; the scheduler still advances); a non-finite *loss* stops the run;
5. checkpoints in Hugging Face format (rank 0 writes the gathered full weights; LoRA adapters are merged into
   them) and a resume state, both written atomically.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsft._util.errors import MissingDependencyError, OfflineError, RsftError
from rsft._util.faults import fault_point
from rsft._util.hashing import hash_obj, weights_hash
from rsft._util.progress import Progress, Say, quiet, to_stderr
from rsft._util.provenance import provenance
from rsft._util.seeding import seed_everything
from rsft.chat import write_prompt_format
from rsft.train import checkpoints as ck
from rsft.train.config import TrainConfig
from rsft.train.data import EncodedData, collate, encode_rows
from rsft.train.loss import micro_batch_loss
from rsft.train.monitor import Monitor
from rsft.train.schedule import Plan, batch_rows, checkpoint_steps, lr_lambda, plan_schedule, wants_state


class TrainingDiverged(RsftError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What a finished run produced.

    Attributes:
        run_dir: the run folder.
        final_step: last optimizer step.
        weights_hash: content hash of the final checkpoint's weights.
        checkpoints: complete checkpoints, ``[(step, path), ...]`` sorted.
        final_loss: loss of the last step (None when the run was already done before this call).
        tokens_seen: supervised tokens trained on.
        resumed_from: the step resumed from, or None.
    """

    run_dir: Path
    final_step: int
    weights_hash: str
    checkpoints: list[tuple[int, Path]]
    final_loss: float | None
    tokens_seen: int
    resumed_from: int | None = None


def config_hash(cfg: TrainConfig) -> str:
    """Hash of everything that changes the trained weights (not the output folder or logging)."""
    data = cfg.model_dump(mode="json", exclude={"output_dir", "logging"})
    data["run_name"] = cfg.resolved_run_name()
    return hash_obj(data)


# --------------------------------------------------------------------------------------------------- builders


def build_accelerator(cfg: TrainConfig, run_dir: Path) -> Any:
    """An ``Accelerator``: bf16 autocast when ``model.dtype`` is bfloat16; trackers when asked."""
    import importlib.util

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    # accelerate keeps its settings in process-wide singletons; several runs in one process (a study, the tests)
    # may differ in precision, so start each run from fresh settings (the distributed set-up itself is kept).
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    trackers = []
    for wanted, name, package in (
        (cfg.logging.tensorboard, "tensorboard", "tensorboard"),
        (cfg.logging.wandb, "wandb", "wandb"),
    ):
        if wanted:
            if importlib.util.find_spec(package) is None:
                raise MissingDependencyError(f"logging.{name}", package)
            trackers.append(name)
    return Accelerator(
        # pure precision: the weights themselves are bf16, so there is nothing to autocast
        mixed_precision="bf16" if cfg.model.dtype == "bfloat16" and cfg.model.precision == "mixed" else "no",
        log_with=trackers or None,
        project_dir=str(run_dir / "logs"),
    )


def configure_engine(accelerator: Any, cfg: TrainConfig, plan: Plan) -> None:
    """Tell accelerate (and DeepSpeed, whose engine clips and steps by itself) the accumulation, micro-batch and
    clipping; must run before ``prepare``."""
    accelerator.gradient_accumulation_steps = plan.accumulation
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:
        ds = plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = plan.micro_batch
        ds["gradient_accumulation_steps"] = plan.accumulation
        ds["train_batch_size"] = plan.global_batch
        ds["gradient_clipping"] = cfg.schedule.max_grad_norm


def build_model(cfg: TrainConfig) -> tuple[Any, Any]:
    """Tokenizer (with the configured chat template) and the model: fp32 master weights, LoRA when configured.

    Raises:
        RsftError: the model cannot be loaded, the template file is missing, or there is no chat template.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    m = cfg.model
    try:
        remote = {"revision": m.revision, "trust_remote_code": m.trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(m.path, **remote)
        # pure precision loads the weights in their training dtype: AdamW then keeps its state in it too
        dtype = torch.bfloat16 if m.precision == "pure" and m.dtype == "bfloat16" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(
            m.path, **remote, dtype=dtype, attn_implementation=m.attn_implementation
        )
    except OSError as e:
        cls = OfflineError if not Path(m.path).exists() else RsftError
        raise cls(
            f"cannot load model: {e}",
            file=m.path,
            field="model.path",
            fix="check the path / hub id and revision",
        ) from None
    from rsft._util.model_folder import check_finite_weights

    check_finite_weights(model, m.path, field="model.path")  # before LoRA wraps it: the base's own names
    if m.chat_template is not None:
        if not Path(m.chat_template).is_file():
            raise RsftError(
                "chat template file not found", file=str(m.chat_template), field="model.chat_template"
            )
        tokenizer.chat_template = Path(m.chat_template).read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise RsftError(
            f"tokenizer '{m.path}' has no chat template",
            field="model.chat_template",
            fix="set `model.chat_template: PATH.jinja` (e.g. the instruct model's template for a base model); "
            "it is saved with every checkpoint so evaluation uses the same one",
        )
    model.config.use_cache = False
    if cfg.loss.chunked:
        from rsft.train.kernels import enable_chunked_loss

        enable_chunked_loss(model)  # the output head computes the loss chunk by chunk; same weights and keys
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if m.lora is not None:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(cfg.schedule.seed)  # LoRA's A matrices are initialised randomly
        lc = m.lora
        model = get_peft_model(
            model,
            LoraConfig(
                r=lc.r,
                lora_alpha=lc.alpha,
                lora_dropout=lc.dropout,
                target_modules=lc.target_modules,
                task_type="CAUSAL_LM",
            ),
        )
    return tokenizer, model


def build_dataset(cfg: TrainConfig, tokenizer: Any) -> EncodedData:
    """Read SFT rows with :func:`rsft.data.io.read_sft` and tokenize them (prompt, response + EOS, loss mask)."""
    from rsft.data.io import read_sft

    d = cfg.data
    rows = read_sft(
        d.path,
        revision=d.revision,
        split=d.split,
        column_map=d.column_map or None,
        on_unclosed=d.unclosed_think,
    )
    return encode_rows(
        tokenizer,
        rows,
        max_length=d.max_length,
        overlong=d.overlong,
        use_weights=cfg.loss.weighting == "weight",
        source=d.path,
        fmt=cfg.model.prompt_format(),
    )


def build_optimizer(cfg: TrainConfig, model: Any, plan: Plan, *, sharded: bool = False) -> tuple[Any, Any]:
    """AdamW over the trainable parameters and a LambdaLR schedule (warmup, then cosine / linear / constant)."""
    import torch

    s = cfg.schedule
    params = [p for p in model.parameters() if p.requires_grad]
    # the fused kernel: one pass over all parameters instead of a dozen small ops per tensor (a large share of a
    # small model's step on CPU); left to torch's default when parameters will be sharded (FSDP / DeepSpeed)
    fused = not sharded and all(p.device.type in ("cpu", "cuda") for p in params)
    optimizer = torch.optim.AdamW(
        params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay, fused=fused or None
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(s.scheduler, plan.warmup_steps, plan.total_steps)
    )
    return optimizer, scheduler


# --------------------------------------------------------------------------------------------------- the loop


@dataclass
class _Run:
    """Everything the loop touches, built once by :func:`train`."""

    cfg: TrainConfig
    run_dir: Path
    accelerator: Any
    tokenizer: Any
    model: Any
    optimizer: Any
    scheduler: Any
    data: EncodedData
    plan: Plan
    config_hash: str


def save_checkpoint(r: _Run, step: int, meta: dict[str, Any]) -> None:
    """Gather the full weights (collective) and let rank 0 write ``checkpoints/step_XXXXXX`` atomically."""
    import torch

    acc = r.accelerator
    state_dict = acc.get_state_dict(r.model)
    if acc.is_main_process:
        final = r.run_dir / "checkpoints" / ck.step_dir_name(step)
        dtype = torch.bfloat16 if r.cfg.model.dtype == "bfloat16" else torch.float32
        with ck.atomic_dir(final) as tmp:
            ck.save_hf_checkpoint(
                acc.unwrap_model(r.model),
                state_dict,
                r.tokenizer,
                tmp,
                dtype=dtype,
                lora=r.cfg.model.lora is not None,
            )
            meta = {**meta, "weights_hash": weights_hash(tmp)}
            write_prompt_format(tmp, r.cfg.model.prompt_format())  # evaluation renders prompts the same way
            ck.write_json(tmp / "meta.json", meta)
            (tmp / ck.COMPLETE_MARKER).write_text("")
        ck.prune(r.run_dir / "checkpoints", r.cfg.checkpoints.keep)
    acc.wait_for_everyone()


def save_state(r: _Run, step: int, position: dict[str, Any]) -> None:
    """Write the resume state (accelerate: weights, optimizer, scheduler, RNG; ours: data position) atomically."""
    acc = r.accelerator
    final = r.run_dir / "train_state" / ck.step_dir_name(step)
    tmp = ck.tmp_dir_for(final)
    if acc.is_main_process:
        ck.fresh_tmp_dir(final)
    acc.wait_for_everyone()
    with ck.disk_full_errors(final):
        acc.save_state(str(tmp), safe_serialization=False)
        acc.wait_for_everyone()
        if acc.is_main_process:
            ck.write_json(tmp / "position.json", position)
            (tmp / ck.COMPLETE_MARKER).write_text("")
    if acc.is_main_process:
        ck.commit_dir(tmp, final)
        ck.prune(r.run_dir / "train_state", 1, protect=())
    acc.wait_for_everyone()


def load_state(r: _Run) -> tuple[int, int]:
    """Restore the newest resume state; returns (step, tokens_seen), (0, 0) when there is none.

    Raises:
        RsftError: the state was written by a different config or different data.
    """
    found = ck.latest_state(r.run_dir)
    if found is None:
        return 0, 0
    step, path = found
    pos = json.loads((path / "position.json").read_text())
    for key, now in (("config_hash", r.config_hash), ("data_hash", r.data.data_hash)):
        if pos.get(key) != now:
            raise RsftError(
                f"cannot resume: the run was started with a different {key.split('_')[0]} ({pos.get(key)} != {now})",
                file=str(r.run_dir),
                fix="resume with the run's own resolved_config.yaml and data, or start again with --overwrite",
            )
    r.accelerator.load_state(str(path))
    return step, int(pos["tokens_seen"])


def _meta(r: _Run, step: int, tokens_seen: int, loss: float | None, lr: float) -> dict[str, Any]:
    prov = provenance()
    return {
        "step": step,
        "epoch": round(step / r.plan.steps_per_epoch, 6),
        "tokens_seen": tokens_seen,
        "loss": loss,
        "lr": lr,
        "config_hash": r.config_hash,
        "data_hash": r.data.data_hash,
        "rsft_version": prov["rsft_version"],
        "git": prov["git"],
        "packages": prov["packages"],
        "run_name": r.run_dir.name,
        "base_model": {"path": r.cfg.model.path, "revision": r.cfg.model.revision},
        "prompt_format": r.cfg.model.prompt_format().model_dump(mode="json"),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def forward_backward(r: _Run, step: int) -> tuple[float, float, int]:
    """Accumulate the gradient of global batch ``step``; returns (loss, token-mean NLL, supervised tokens).

    Raises:
        TrainingDiverged: the loss is not finite (before any update of this step).
    """
    import torch

    cfg, acc, plan = r.cfg, r.accelerator, r.plan
    procs = acc.num_processes
    local = plan.global_batch // procs
    rows = batch_rows(step, plan, shuffle=cfg.schedule.shuffle, seed=cfg.schedule.seed)
    global_tokens = sum(
        r.data.rows[i].n_supervised for i in rows
    )  # the token_mean denominator, all processes
    mine = rows[acc.process_index * local : (acc.process_index + 1) * local]
    pad_id = r.tokenizer.pad_token_id if r.tokenizer.pad_token_id is not None else r.tokenizer.eos_token_id
    loss_fn = micro_batch_loss
    if cfg.loss.chunked:
        from rsft.train.kernels import chunked_micro_batch_loss as loss_fn
    r.model.train()
    stats = torch.zeros(2, dtype=torch.float64, device=acc.device)
    for j in range(0, local, plan.micro_batch):
        batch = [r.data.rows[i] for i in mine[j : j + plan.micro_batch]]
        mb = collate(batch, pad_id=pad_id, packing=cfg.packing, max_length=cfg.data.max_length).to(acc.device)
        # accelerate decides when gradients synchronise (DDP/FSDP no_sync; DeepSpeed steps its engine inside
        # backward at the window's end) and divides the loss by the accumulation, which the shares already do.
        with acc.accumulate(r.model):
            parts = loss_fn(
                r.model, mb, reduction=cfg.loss.reduction, weighting=cfg.loss.weighting,
                global_tokens=global_tokens, global_rows=plan.global_batch, processes=procs,
            )  # fmt: skip
            acc.backward(parts.loss * plan.accumulation)
        stats += torch.stack([parts.objective.double(), parts.nll_sum.double()])
    if procs > 1:
        stats = acc.reduce(stats, reduction="sum")
    loss = float(stats[0]) / (procs if cfg.loss.reduction == "paper" else 1)
    if not math.isfinite(loss):
        done = [s for s, _ in ck.list_checkpoints(r.run_dir)]
        raise TrainingDiverged(
            f"the loss is {loss} at step {step} (epoch {(step - 1) // plan.steps_per_epoch + 1}); training "
            f"stopped before updating; the last good checkpoint is step {max(done) if done else 0}",
            file=str(r.run_dir),
            fix="lower schedule.lr (or check the data rows of that step), then rerun with --overwrite",
        )
    return loss, float(stats[1]) / global_tokens, global_tokens


def optimizer_step(r: _Run) -> tuple[float, float | None, bool]:
    """Clip, then update unless the gradient norm is not finite; returns (lr used, grad norm, skipped)."""
    norm = r.accelerator.clip_grad_norm_(r.model.parameters(), r.cfg.schedule.max_grad_norm)
    grad_norm = float(norm) if norm is not None else None  # None: DeepSpeed clipped and stepped by itself
    skipped = grad_norm is not None and not math.isfinite(grad_norm)
    if not skipped:
        r.optimizer.step()
    lr = r.scheduler.get_last_lr()[0]
    r.scheduler.step()  # the schedule advances even over a skipped update, as in the paper's trainer
    r.optimizer.zero_grad(set_to_none=True)
    return lr, grad_norm, skipped


def run(
    r: _Run, *, start: int, tokens_seen: int, progress: Progress | None = None, say: Say = quiet
) -> TrainResult:
    """The training loop from optimizer step ``start + 1`` to the end, with checkpoints and resume states.

    Raises:
        TrainingDiverged: the loss became non-finite (nothing from that step is saved).
    """
    cfg, acc, plan = r.cfg, r.accelerator, r.plan
    ckpt_at = set(checkpoint_steps(cfg.checkpoints, plan.total_steps))
    if start == 0:
        save_checkpoint(r, 0, _meta(r, 0, 0, None, 0.0))
    monitor = Monitor(
        r.run_dir, total=plan.total_steps, start=start, main=acc.is_main_process, progress=progress, say=say,
        accelerator=acc, trackers=bool(acc.log_with), log_every=cfg.logging.log_every,
    )  # fmt: skip
    loss = None
    try:
        for step in range(start + 1, plan.total_steps + 1):
            loss, nll, tokens = forward_backward(r, step)
            lr, grad_norm, skipped = optimizer_step(r)
            if skipped:
                monitor.note(f"step {step}: gradient norm is {grad_norm}; update skipped")
            tokens_seen += tokens
            monitor.log(
                {"step": step, "epoch": round(step / plan.steps_per_epoch, 6), "loss": loss, "nll": nll, "lr": lr,
                 "grad_norm": grad_norm, "skipped": skipped, "tokens": tokens, "tokens_seen": tokens_seen,
                 "last": step == plan.total_steps}
            )  # fmt: skip
            if step in ckpt_at:
                save_checkpoint(r, step, _meta(r, step, tokens_seen, loss, lr))
            if wants_state(cfg.checkpoints, step, ckpt_at):
                position = {"step": step, "tokens_seen": tokens_seen, "config_hash": r.config_hash}
                save_state(r, step, {**position, "data_hash": r.data.data_hash})
            fault_point("train:step")  # kill tests die or pause here (rsft._util.faults)
    finally:
        monitor.close()
    final = ck.list_checkpoints(r.run_dir)
    final_hash = weights_hash(final[-1][1])
    if acc.is_main_process:
        done = {"step": plan.total_steps, "weights_hash": final_hash, "config_hash": r.config_hash}
        ck.write_json(r.run_dir / "DONE", {**done, "tokens_seen": tokens_seen, "loss": loss})
    acc.wait_for_everyone()
    return TrainResult(r.run_dir, plan.total_steps, final_hash, final, loss, tokens_seen, start or None)


# --------------------------------------------------------------------------------------------------- entry point


def check_inputs(cfg: TrainConfig) -> None:
    """Fail on a bad model folder or a bad local data file before anything is written.

    Raises:
        RsftError: the model folder is incomplete or inconsistent; DataError: a data file or row is bad.
    """
    from rsft._util.model_folder import check_model_folder, check_output_folder, looks_local, weights_bytes
    from rsft.data.io import read_sft

    check_model_folder(cfg.model.path, field="model.path")
    check_output_folder(cfg.run_dir(), need_bytes=weights_bytes(cfg.model.path), field="output_dir")
    d = cfg.data
    if looks_local(d.path):  # a local file is cheap to read twice; a hub dataset is read once, later
        rows = read_sft(d.path, split=d.split, column_map=d.column_map or None, on_unclosed=d.unclosed_think)
        plan_schedule(len(rows), cfg.schedule, int(os.environ.get("WORLD_SIZE", "1")))  # batch arithmetic


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    sources: dict[str, str] | None = None,
    say: Say = to_stderr,
) -> TrainResult:
    """Train a causal LM with SFT as configured; the Python API behind ``rsft train``.

    Args:
        cfg: the training config.
        resume: continue the run in ``cfg.run_dir()`` from its newest resume state (a finished run is returned
            as is).
        overwrite: delete a previous run in that folder first.
        progress: receives ("train RUN_NAME", step, total steps, loss/lr/tokens-per-s text) as steps finish.
        sources: dotted key -> "file" / "cli" / "study", recorded in ``resolved_config.yaml`` (others are
            "default").
        say: receives one-line notes (run folder, schedule, data, resume point, skipped updates); stderr by
            default, ``rsft._util.progress.quiet`` silences them.

    Returns:
        A :class:`TrainResult`.

    Raises:
        RsftError: bad config, data or model; occupied output folder; ``TrainingDiverged`` on a non-finite loss.
    """
    run_dir = cfg.run_dir()
    if resume and overwrite:
        raise RsftError("--resume and --overwrite exclude each other", fix="choose one")
    check_inputs(cfg)  # before the run folder exists: bad input leaves nothing behind
    fresh = not run_dir.exists()
    top = run_dir.absolute()  # the outermost folder this run creates (output_dir too, when it is new)
    while not top.parent.exists():
        top = top.parent
    if (
        os.environ.get("RANK", "0") == "0"
    ):  # before accelerate exists: the launcher's rank says who owns the folder
        ck.prepare_run_dir(run_dir, resume=resume, overwrite=overwrite)
    try:
        return _train(cfg, run_dir, resume=resume, progress=progress, sources=sources, say=say)
    except BaseException:
        # a run that failed before writing any checkpoint leaves no folder behind (a later run would find it
        # "occupied"); one that wrote checkpoints keeps them for --resume
        if fresh and os.environ.get("RANK", "0") == "0" and not ck.list_checkpoints(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
            up = run_dir.absolute().parent
            while up != top.parent and up.is_dir() and not any(up.iterdir()):  # folders made for it, now empty
                up.rmdir()
                up = up.parent
        raise


def _train(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    resume: bool,
    progress: Progress | None,
    sources: dict[str, str] | None,
    say: Say,
) -> TrainResult:
    chash = config_hash(cfg)
    done = run_dir / "DONE"
    if resume and done.is_file():
        info = json.loads(done.read_text())
        if info.get("config_hash") == chash:
            cks = ck.list_checkpoints(run_dir)
            return TrainResult(
                run_dir, info["step"], info["weights_hash"], cks, None, info.get("tokens_seen", 0)
            )
    seed_everything(cfg.schedule.seed)
    accelerator = build_accelerator(cfg, run_dir)
    tokenizer, model = build_model(cfg)
    data = build_dataset(cfg, tokenizer)
    plan = plan_schedule(len(data.rows), cfg.schedule, accelerator.num_processes)
    sharded = accelerator.distributed_type.name in ("FSDP", "DEEPSPEED", "MEGATRON_LM")
    optimizer, scheduler = build_optimizer(cfg, model, plan, sharded=sharded)
    configure_engine(accelerator, cfg, plan)
    model, optimizer = accelerator.prepare(model, optimizer)
    if cfg.model.compile:
        from rsft.train.kernels import maybe_compile

        maybe_compile(accelerator.unwrap_model(model), True)  # after prepare: the model is on its device now
    accelerator.register_for_checkpointing(scheduler)
    r = _Run(cfg, run_dir, accelerator, tokenizer, model, optimizer, scheduler, data, plan, chash)
    # a refused resume (another config or data) raises here, before the run's record is touched
    start, tokens_seen = load_state(r) if resume else (0, 0)
    if accelerator.is_main_process:
        write_resolved_config(cfg, run_dir / "resolved_config.yaml", sources or {})
        _announce(r, say)
    if resume and accelerator.is_main_process:
        ck.truncate_metrics(run_dir / "metrics.jsonl", start)
        say(f"resuming from step {start}" if start else "no resume state found: starting from step 0")
    if accelerator.trackers or accelerator.log_with:
        accelerator.init_trackers(
            run_dir.name, config={"config_hash": chash, **_flat(cfg.model_dump(mode="json"))}
        )
    try:
        return run(r, start=start, tokens_seen=tokens_seen, progress=progress, say=say)
    finally:
        if accelerator.log_with:
            accelerator.end_training()


def _announce(r: _Run, say: Say) -> None:
    d = r.data
    say(f"run {r.run_dir}")
    say(f"schedule {r.plan.describe()}")
    extra = []
    if d.truncated:
        extra.append(f"{d.truncated} rows truncated to {r.cfg.data.max_length} tokens")
    if d.skipped:
        extra.append(f"{d.skipped} rows skipped (longer than {r.cfg.data.max_length} tokens)")
    say(
        f"data {d.n_source:,} rows read, {len(d.rows):,} used"
        + (f"; {'; '.join(extra)}" if extra else "")
    )
    for n in d.notes:
        say(f"note: {n}")


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    out[prefix[:-1]] = obj if isinstance(obj, int | float | str | bool) or obj is None else json.dumps(obj)
    return out


def write_resolved_config(cfg: TrainConfig, path: Path, sources: dict[str, str]) -> None:
    """The config as run, loadable by ``rsft train``; every leaf tagged ``# default``, ``# file``, ``# cli`` or
    ``# study`` (a value the study derived: the output folder, the run name)."""
    import yaml

    lines = [f"# resolved by rsft; run name {cfg.resolved_run_name()}; config hash {config_hash(cfg)}"]

    def emit(node: dict[str, Any], indent: int, prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict) and v:
                lines.append(" " * indent + f"{k}:")
                emit(v, indent + 2, key + ".")
                continue
            text = (
                yaml.safe_dump(v, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()
            )
            src = sources.get(key) or next(
                (s for p, s in sources.items() if key.startswith(p + ".")), "default"
            )
            lines.append(" " * indent + f"{k}: {text}  # {src}")

    data = cfg.model_dump(mode="json")
    if data.get("run_name") is None:
        data["run_name"] = cfg.resolved_run_name()
    emit(data, 0, "")
    path.write_text("\n".join(lines) + "\n")
