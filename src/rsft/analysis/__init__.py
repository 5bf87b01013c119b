"""Analysis: tidy frames from the per-sample store, dynamics with intervals, the dip-and-recovery detector,
behaviours, the safety trade-off, condition comparisons. ``rsft report`` renders what this writes."""

from rsft.analysis.analyze import AnalyzeConfig, analyze_store
from rsft.analysis.synthetic import make_store

__all__ = ["AnalyzeConfig", "analyze_store", "make_store"]
