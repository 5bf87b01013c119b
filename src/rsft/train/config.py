"""The training config: one typed model for ``rsft train CONFIG.yaml [key=value ...]``.

Defaults follow the paper's protocol (``PROTOCOL.md`` "Training"): AdamW (0.9, 0.999), weight decay 0.01, gradient
clipping 1.0, cosine to 0 with 10% warmup, no shuffling, right truncation, no packing. Defaults live only here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rsft.config import MAX_STEPS, FolderName, StrictModel
from rsft.resources import packaged_model


def short_number(x: float) -> str:
    """The shorter of plain and scientific notation: 5e-5, 1e-4, 0.5, 2e-3."""
    mantissa, exp = f"{x:e}".split("e")
    sci = f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
    plain = f"{x:g}"
    return sci if len(sci) < len(plain) else plain


class LoraConfig(StrictModel):
    """Plain LoRA through peft. Saved checkpoints hold the *merged* weights (W + B·A·alpha/r), so they load with
    ``from_pretrained`` as is; the adapter itself is kept in ``train_state`` for resuming."""

    r: int = Field(16, ge=1)
    alpha: float = Field(32.0, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class ModelConfig(StrictModel):
    path: str = Field(
        ..., description="hub id or local folder of a Hugging Face causal LM, or rsft:toy/large | rsft:toy/small "
        "(the tiny bases shipped with rsft)"
    )
    revision: str | None = Field(None, description="hub revision (commit, tag or branch); pin it for hub ids")
    dtype: Literal["float32", "bfloat16"] = Field(
        "bfloat16",
        description="bfloat16: fp32 master weights with bf16 autocast, checkpoints saved in bf16; "
        "float32: everything fp32 (bitwise-reproducible on CPU)",
    )
    precision: Literal["mixed", "pure"] = Field(
        "mixed",
        description="mixed: fp32 master weights and AdamW state, ``dtype`` autocast (rsft's default); pure: "
        "weights, gradients and AdamW state all in ``dtype`` with no fp32 copy (the paper's FSDP setup)",
    )
    gradient_checkpointing: bool = False
    lora: LoraConfig | None = None
    chat_template: Path | None = Field(
        None, description="a .jinja file replacing the tokenizer's template (saved with every checkpoint)"
    )
    system_prompt: str = Field(
        "model_default",
        description="none | model_default | the system text itself (rsft.chat.PromptFormat; saved with every "
        "checkpoint so evaluation renders prompts the same way)",
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="template variables, e.g. {enable_thinking: false} for Qwen3"
    )
    trust_remote_code: bool = Field(
        False,
        description="run the model repo's own Python code (InternLM2.5 needs it); only for repos you trust",
    )
    attn_implementation: str | None = Field(None, description="e.g. sdpa, flash_attention_2; None = default")
    compile: bool = Field(
        False,
        description="torch.compile each decoder layer (regional compilation; CUDA only, ignored on CPU)",
    )

    def prompt_format(self) -> Any:
        """The :class:`rsft.chat.PromptFormat` of this model's prompts."""
        from rsft.chat import PromptFormat

        return PromptFormat(system_prompt=self.system_prompt, chat_template_kwargs=self.chat_template_kwargs)

    @field_validator("path")
    @classmethod
    def _packaged(cls, v: str) -> str:
        return packaged_model(v)


class DataConfig(StrictModel):
    path: str = Field(..., description="SFT data: a local .jsonl/.json/.parquet file or a hub dataset id")
    revision: str | None = None
    split: str = "train"
    max_length: int = Field(20000, ge=2, description="prompt + response + EOS, in tokens")
    overlong: Literal["truncate", "skip"] = Field(
        "truncate", description="rows longer than max_length: cut on the right (counted) or drop (counted)"
    )
    column_map: dict[str, Any] | str = Field(
        default_factory=dict,
        description="source column -> SFTRow field, or a mapping YAML file (rsft.data.mapping)",
    )
    unclosed_think: Literal["error", "keep", "drop"] = Field(
        "error",
        description="rows whose response opens <think> and never closes it (see rsft.data.io.read_sft)",
    )


class ScheduleConfig(StrictModel):
    lr: float = Field(5e-5, gt=0)
    scheduler: Literal["cosine", "constant", "linear"] = "cosine"
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    epochs: int | None = Field(None, ge=1, le=MAX_STEPS)
    max_steps: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="optimizer steps; overrides epochs when set"
    )
    global_batch: int = Field(256, ge=1, description="rows per optimizer step, over all processes")
    micro_batch: int = Field(4, ge=1, description="rows per forward pass per process")
    shuffle: bool = Field(False, description="the paper keeps the data order fixed")
    seed: int = 0
    weight_decay: float = Field(0.01, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    max_grad_norm: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _length(self) -> ScheduleConfig:
        if self.epochs is None and self.max_steps is None:
            self.epochs = 1
        return self


class LossConfig(StrictModel):
    reduction: Literal["token_mean", "sequence_mean", "paper"] = Field(
        "token_mean",
        description="token_mean: over all response tokens of the global batch; sequence_mean: per-row token "
        "mean averaged over rows; paper: token mean within each micro-batch, summed over accumulation",
    )
    weighting: Literal["none", "weight", "dft"] = Field(
        "none",
        description="weight: scale each row's tokens by its weight (the paper's `advantage`); dft: by p(token)",
    )
    chunked: bool = Field(
        False,
        description="compute the cross-entropy from hidden states in chunks (rsft.train.kernels): no full-vocabulary "
        "logits for the whole sequence; same result, much less memory for long rows and large vocabularies",
    )


class CheckpointConfig(StrictModel):
    every: int | None = Field(None, ge=1, description="every N optimizer steps")
    steps: list[Annotated[int, Field(ge=0, le=MAX_STEPS)]] | None = Field(
        None, description="an explicit list of steps"
    )
    log_spaced: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="N steps spaced geometrically between 1 and the end"
    )
    keep: Literal["all"] | int = Field("all", description="'all' or the number of latest checkpoints kept")
    state_every: int | None = Field(
        None, ge=1, description="also save resume state (weights, optimizer, scheduler, RNG) every N steps"
    )
    state_at_checkpoints: bool = Field(
        True,
        description="save resume state at every checkpoint too; false keeps optimizer state to the state_every "
        "cadence (and the last step) — weights are still saved at every checkpoint",
    )

    @model_validator(mode="after")
    def _one_schedule(self) -> CheckpointConfig:
        chosen = [k for k in ("every", "steps", "log_spaced") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose one of every / steps / log_spaced (got {', '.join(chosen)})")
        if isinstance(self.keep, int) and self.keep < 1:
            raise ValueError("keep must be 'all' or a positive number")
        return self


class LoggingConfig(StrictModel):
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "rsft"
    log_every: int = Field(
        1, ge=1, description="progress refresh every N steps (metrics.jsonl gets every step)"
    )


class TrainConfig(StrictModel):
    """``rsft train`` config. Run folder = ``output_dir / run_name``."""

    model: ModelConfig
    data: DataConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    checkpoints: CheckpointConfig = Field(default_factory=lambda: CheckpointConfig(every=10))
    packing: bool = Field(False, description="pack each micro-batch's rows into as few sequences as fit")
    output_dir: Path = Path("runs")
    run_name: FolderName | None = Field(
        None, description="one folder name below output_dir; default {model}_{dataset}_lr{lr}_ep{epochs}_bs{batch}"
    )
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    def resolved_run_name(self) -> str:
        """``run_name``, or :func:`run_name` of the model folder's and data file's names."""
        if self.run_name:
            return self.run_name
        model = Path(self.model.path.rstrip("/")).name
        data = Path(self.data.path.rstrip("/")).name
        for suffix in (".jsonl", ".json", ".parquet", ".gz"):
            data = data.removesuffix(suffix)
        return run_name(model, data, self.schedule)

    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.resolved_run_name()


def run_name(model: str, dataset: str, schedule: ScheduleConfig) -> str:
    """The paper's run naming, ``{model}_{dataset}_lr{lr}_{ep{epochs}|st{max_steps}}_bs{batch}[_ConstLR]``.

    The one place a run is named: ``rsft train`` calls it with the model folder's and data file's names,
    ``rsft study`` with the study's model and dataset keys. The learning rate is written in the shorter of plain
    and scientific notation (5e-5, 1e-4, 0.5).
    """
    s = schedule
    length = f"st{s.max_steps}" if s.max_steps is not None else f"ep{s.epochs}"
    name = f"{model}_{dataset}_lr{short_number(s.lr)}_{length}_bs{s.global_batch}"
    return name + ("_ConstLR" if s.scheduler == "constant" else "")


_RUN_NAME = re.compile(
    r"^(?P<model>[^_]+)_(?P<dataset>.+?)_lr(?P<lr>[0-9.eE+-]+)_(?:ep(?P<epochs>\d+)|st(?P<steps>\d+))"
    r"_bs(?P<batch>\d+)(?P<const>_ConstLR)?$"
)


def parse_run_name(name: str) -> dict[str, Any]:
    """The conditions :func:`run_name` wrote into a name (``{}`` when ``name`` is not of that form).

    Types are those of the schedule: ``lr`` a float, ``epochs`` or ``max_steps`` an int (whichever the name
    carries), ``batch`` an int, ``schedule`` "constant" or "cosine". ``run_name(parse_run_name(n)...) == n``
    for every name :func:`run_name` writes (``tests/study/test_run_name.py``).
    """
    m = _RUN_NAME.match(name)
    if not m:
        return {}
    d = m.groupdict()
    try:
        lr = float(d["lr"])
    except ValueError:
        return {}
    out: dict[str, Any] = {"model": d["model"], "dataset": d["dataset"], "lr": lr}
    if d["epochs"] is not None:
        out["epochs"] = int(d["epochs"])
    else:
        out["max_steps"] = int(d["steps"])
    out["batch"] = int(d["batch"])
    out["schedule"] = "constant" if d["const"] else "cosine"
    return out

