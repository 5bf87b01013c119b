"""Teacher rollouts and curation: the raw pool (with per-token log-probabilities) and the SFT variants built from it.

* :func:`run_rollouts` — N samples per query through any backend, sharded, resumable, streamed to Parquet.
* :func:`curate` — verify, select, cut to a target size, and emit long-CoT / no-CoT / low-quality variants.
* :func:`score_responses` — teacher-forced per-token log-probabilities of existing responses under any model.
* :func:`iter_pool` — stream a pool as record batches.

Heavy imports (torch, transformers, backends) are deferred to the functions that need them.
"""

from __future__ import annotations

from typing import Any

from rsft.rollouts.schema import POOL_SCHEMA, POOL_SCHEMA_VERSION
from rsft.rollouts.store import ShardWriter, iter_pool, pool_files, pool_num_rows

_LAZY = {
    "RolloutsConfig": "rsft.rollouts.run",
    "run_rollouts": "rsft.rollouts.run",
    "CurateConfig": "rsft.rollouts.curate",
    "curate": "rsft.rollouts.curate",
    "ScoreConfig": "rsft.rollouts.score",
    "score_responses": "rsft.rollouts.score",
    "load_queries": "rsft.rollouts.queries",
    "get_verifier": "rsft.rollouts.verify",
}

__all__ = [
    "POOL_SCHEMA",
    "POOL_SCHEMA_VERSION",
    "ShardWriter",
    "iter_pool",
    "pool_files",
    "pool_num_rows",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
