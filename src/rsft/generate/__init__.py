"""Generation backends behind one interface: ``generate(requests, config) -> completions``.

Ids are prefixed (``hf/``, ``openai/``, ``vllm/``) and built with :func:`make_backend`; heavy imports are deferred.
"""

from rsft.generate.base import Backend, Completion, GenerateConfig, Request, sample_seed
from rsft.generate.registry import BACKENDS, make_backend, split_backend_id

__all__ = [
    "BACKENDS",
    "Backend",
    "Completion",
    "GenerateConfig",
    "Request",
    "make_backend",
    "sample_seed",
    "split_backend_id",
]
