"""The evaluation engine: suites, sweeps over checkpoints, the per-sample store and per-item metrics.

Python API::

    from rsft.eval import Store, load_suite, run_sweep, discover_checkpoints, model_target
    from rsft.analysis.summary import summarize
    suite = load_suite("toy", ["generation.max_new_tokens=64"])
    targets, _ = discover_checkpoints("runs/r1")
    report = run_sweep(suite, Store("store"), targets=targets)
    table = summarize(Store.open("store").frame())
"""

from rsft.eval.config import SuiteConfig, load_suite
from rsft.eval.metrics import pass_at_k
from rsft.eval.plan import Target, discover_checkpoints, model_target, parse_steps
from rsft.eval.runner import Plan, SweepReport, build_backend, run_sweep, watch_run
from rsft.eval.store import Store

__all__ = [
    "Plan",
    "Store",
    "SuiteConfig",
    "SweepReport",
    "Target",
    "build_backend",
    "discover_checkpoints",
    "load_suite",
    "model_target",
    "parse_steps",
    "pass_at_k",
    "run_sweep",
    "watch_run",
]
