"""The evaluation suite config: which benchmarks, how to sample, which backend.

```yaml
seed: 0
generation: {max_new_tokens: 256, temperature: 0.0}   # defaults for every benchmark
backend: {kind: hf, batch_size: 32}
benchmarks:
  - name: toy_arith
    options: {n_items: 50}
    generation: {n: 4, temperature: 0.7}               # this benchmark only
```

Sampling precedence, lowest first: GenerateConfig defaults < the benchmark's own ``defaults`` < keys set in the
suite's ``generation`` < the entry's ``generation``. Suites can be named: ``toy`` loads the packaged ``rsft/suites/toy.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rsft._util.errors import ConfigError, Problem
from rsft.config import StrictModel, apply_overrides, build_config, read_yaml
from rsft.generate.base import GenerateConfig
from rsft.resources import resolve_config


class BenchmarkSpec(StrictModel):
    """One benchmark of a suite."""

    name: str = Field(description="registered benchmark name (rsft.bench.registry)")
    options: dict[str, Any] = Field(
        default_factory=dict, description="benchmark options (n_items, seed, path ...)"
    )
    generation: dict[str, Any] = Field(default_factory=dict, description="GenerateConfig overrides")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from rsft.bench.registry import BENCHMARKS

        if v not in BENCHMARKS:
            raise ValueError(f"unknown benchmark '{v}' (known: {', '.join(sorted(BENCHMARKS))})")
        return v

    @model_validator(mode="after")
    def _options(self) -> BenchmarkSpec:
        """The options as the benchmark's Options model reads them: typos and types caught when the suite loads."""
        from rsft.bench.base import parse_options
        from rsft.bench.registry import BENCHMARKS, benchmark_class

        if self.name in BENCHMARKS:
            try:
                parse_options(benchmark_class(self.name), self.options)
            except ConfigError as e:
                raise ValueError("; ".join(str(p) for p in e.problems)) from None
        return self

    @field_validator("generation")
    @classmethod
    def _gen_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(v) - set(GenerateConfig.model_fields))
        if unknown:
            raise ValueError(
                f"unknown generation keys {unknown} (known: {', '.join(GenerateConfig.model_fields)})"
            )
        GenerateConfig(**v)  # types and ranges
        return v


class BackendSettings(StrictModel):
    """How to generate; options that do not apply to the chosen kind are ignored."""

    kind: str = Field("hf", description="a kind of rsft.generate.registry.BACKENDS: hf | openai | vllm")
    batch_size: int = Field(32, ge=1, description="hf: rows per batch; also the store's flush interval")
    device: str = Field("auto", description="hf: auto | cpu | cuda | cuda:N")
    dtype: str = Field("auto", description="hf/vllm: auto | float32 | bfloat16 | float16")
    chat_template: str | None = Field(None, description="path to a Jinja template for tokenizers without one")
    system_prompt: str | None = Field(
        None,
        description="none | model_default | the system text (rsft.chat.PromptFormat); unset = what each "
        "checkpoint was trained with (its rsft_prompt.json), else model_default",
    )
    chat_template_kwargs: dict[str, Any] | None = Field(
        None, description="template variables, e.g. {enable_thinking: false}; unset = as trained"
    )
    trust_remote_code: bool = Field(False, description="hf/vllm: run the model repo's own code (InternLM2.5)")
    threads: int | Literal["auto"] | None = Field(
        "auto", description="hf on CPU: intra-op threads while generating (auto: 1 below 20 M parameters)"
    )
    fast: bool | Literal["auto"] = Field(
        "auto",
        description="hf: the fast decode path (static KV cache, continuous refill, CUDA graphs); auto = on CUDA",
    )
    base_url: str | None = Field(None, description="openai: server URL, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the API key")
    endpoint: Literal["chat", "completions"] = "chat"
    concurrency: int = Field(8, ge=1, description="openai: requests in flight")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per engine")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1, description="vllm: share of GPU memory")
    max_model_len: int | None = Field(
        None, ge=1, description="vllm: prompt + generation tokens per sequence (None = the model's limit)"
    )
    max_logprobs: int = Field(20, ge=-1, description="vllm: cap on top_logprobs (-1 = whole vocabulary)")
    enable_prefix_caching: bool = Field(True, description="vllm: a prompt's k samples share its KV blocks")
    weight_swap: Literal["auto", "reload", "rpc", "rebuild"] = Field(
        "auto", description="vllm: how a checkpoint switch loads weights (auto: in place, else rebuild)"
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from rsft.generate.registry import BACKENDS

        if v not in BACKENDS:
            from rsft.config import did_you_mean

            hint = did_you_mean(v, sorted(BACKENDS))
            raise ValueError(f"unknown backend kind '{v}'{hint} (choose one of: {', '.join(sorted(BACKENDS))})")
        return v


class SuiteConfig(StrictModel):
    """An evaluation suite (``rsft eval --suite``)."""

    name: str = "suite"
    seed: int = Field(
        0, description="base seed: per-sample seeds derive from (seed, benchmark, item, sample)"
    )
    generation: GenerateConfig = Field(default_factory=GenerateConfig)
    backend: BackendSettings = Field(default_factory=BackendSettings)
    benchmarks: list[BenchmarkSpec] = Field(min_length=1)
    data_pins: dict[str, str] = Field(
        default_factory=dict,
        description="REPO/PATH -> sha256: accept a hub data file version for `rsft data fetch` (overrides the "
        "manifest's hash)",
    )

    @model_validator(mode="after")
    def _unique(self) -> SuiteConfig:
        names = [b.name for b in self.benchmarks]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"benchmarks listed twice: {dups} (one entry per benchmark)")
        return self

    def generation_for(self, spec: BenchmarkSpec, bench_defaults: dict[str, Any]) -> GenerateConfig:
        """The effective sampling of one benchmark (precedence in the module docstring)."""
        merged = dict(bench_defaults)
        merged.update(self.generation.model_dump(include=self.generation.model_fields_set))
        merged.update(spec.generation)
        if "seed" not in self.generation.model_fields_set and "seed" not in spec.generation:
            merged["seed"] = self.seed
        return GenerateConfig(**merged)


def resolve_suite(name_or_path: str | Path) -> Path:
    """A suite file: an existing path, or a suite name shipped in the package (``rsft suites`` lists them)."""
    return resolve_config(name_or_path, "suite")


def apply_suite_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Dotted overrides; ``benchmarks.NAME.key=v`` (or ``benchmarks.INDEX.key=v``) edits one list entry."""
    plain, problems = [], []
    for item in overrides or []:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if sep and parts[0] == "benchmarks" and len(parts) >= 3:
            entries = data.get("benchmarks") or []
            idx = next((i for i, b in enumerate(entries) if b.get("name") == parts[1]), None)
            if idx is None and parts[1].isdigit() and int(parts[1]) < len(entries):
                idx = int(parts[1])
            if idx is None:
                problems.append(Problem(key, f"no benchmark '{parts[1]}' in this suite"))
                continue
            apply_overrides(entries[idx], [".".join(parts[2:]) + "=" + value])
        else:
            plain.append(item)
    if problems:
        raise ConfigError(problems, file="<command line>")
    return apply_overrides(data, plain)


def load_suite(name_or_path: str | Path, overrides: list[str] | None = None) -> SuiteConfig:
    """Load a suite by path or name, with dotted overrides; every problem reported at once."""
    path = resolve_suite(name_or_path)
    data = apply_suite_overrides(read_yaml(path), overrides)
    return build_config(SuiteConfig, data, source=str(path))
