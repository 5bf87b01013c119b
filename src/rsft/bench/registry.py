"""Benchmark registry: one line per benchmark, ``name -> "module:Class"``, imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from rsft._util.errors import RsftError

BENCHMARKS: dict[str, str] = {
    # toy world (the embedded default) — wrappers around rsft.tasks
    "toy_arith": "rsft.bench.toy:ToyArith",
    "toy_sort": "rsft.bench.toy:ToySort",
    "toy_mcq": "rsft.bench.toy:ToyMcq",
    "toy_instruct": "rsft.bench.toy:ToyInstruct",
    "toy_safety": "rsft.bench.toy:ToySafety",
    "toy_countdown": "rsft.bench.toy:ToyCountdown",
    "countdown": "rsft.bench.countdown:Countdown",
    # math
    "math500": "rsft.bench.math500:Math500",
    "aime24": "rsft.bench.aime:Aime24",
    "aime25": "rsft.bench.aime:Aime25",
    "gsm8k": "rsft.bench.gsm8k:Gsm8k",
    # multiple choice
    "gpqa_diamond": "rsft.bench.gpqa:GpqaDiamond",
    "mmlu_pro": "rsft.bench.mmlu_pro:MmluPro",
    # code
    "livecodebench": "rsft.bench.livecodebench:LiveCodeBench",
    "humaneval": "rsft.bench.humaneval:HumanEval",
    "mbpp": "rsft.bench.mbpp:Mbpp",
    # general
    "ifeval": "rsft.bench.ifeval:IFEval",
    "truthfulqa": "rsft.bench.truthfulqa:TruthfulQA",
    "halueval": "rsft.bench.halueval:HaluEval",
    "alpaca_eval": "rsft.bench.alpaca_eval:AlpacaEval",
    # safety and over-refusal
    "hex_phi": "rsft.bench.safety:HexPhi",
    "harmbench": "rsft.bench.safety:HarmBench",
    "strongreject": "rsft.bench.safety:StrongReject",
    "advbench": "rsft.bench.safety:AdvBench",
    "xstest": "rsft.bench.xstest:XSTest",
}


def benchmark_names() -> list[str]:
    return sorted(BENCHMARKS)


def get_benchmark(name: str, **options: Any) -> Any:
    """Instantiate a registered benchmark by name with its options (validated by its ``Options`` model).

    Raises:
        RsftError: unknown name. ConfigError: unknown or ill-typed options.
    """
    if name not in BENCHMARKS:
        raise RsftError(
            f"unknown benchmark '{name}'",
            field="benchmarks",
            fix=f"choose one of: {', '.join(benchmark_names())}",
        )
    return benchmark_class(name)(**options)


def benchmark_class(name: str) -> Any:
    """The class registered as ``name`` (its module is imported now).

    Raises:
        RsftError: unknown name.
    """
    if name not in BENCHMARKS:
        raise RsftError(f"unknown benchmark '{name}'", field="benchmarks", fix=f"choose one of: {', '.join(benchmark_names())}")
    module, attr = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), attr)
