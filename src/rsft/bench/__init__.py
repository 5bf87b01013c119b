"""Benchmarks: one file each (load + prompt + score) plus one registry line."""

from rsft.bench.base import Benchmark
from rsft.bench.registry import BENCHMARKS, benchmark_names, get_benchmark

__all__ = ["Benchmark", "BENCHMARKS", "benchmark_names", "get_benchmark"]
