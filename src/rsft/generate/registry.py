"""Backend registry: prefixed ids ``hf/PATH_OR_ID``, ``openai/MODEL@URL``, ``vllm/PATH``; imports deferred.

``import rsft.generate`` imports neither torch nor vLLM: a backend's module is imported when it is first built.
"""

from __future__ import annotations

import importlib
from typing import Any

from rsft._util.errors import RsftError

# The one list of backend kinds: suites (backend.kind), `rsft eval --backend` and backend ids all read it.
BACKENDS: dict[str, str] = {
    "hf": "rsft.generate.hf:HFBackend",
    "openai": "rsft.generate.openai:OpenAIBackend",
    "vllm": "rsft.generate.vllm:VLLMBackend",
}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def backend_class(kind: str) -> type:
    """The class registered for ``kind`` (its module is imported now).

    Raises:
        RsftError: unknown kind.
    """
    split_backend_id(kind)
    module, attr = BACKENDS[kind].split(":")
    return getattr(importlib.import_module(module), attr)


def split_backend_id(spec: str) -> tuple[str, str | None]:
    """``"hf/models/x"`` -> ``("hf", "models/x")``; a bare kind (``"hf"``) -> ``("hf", None)``."""
    kind, _, model = spec.partition("/")
    if kind not in BACKENDS:
        from rsft.config import did_you_mean

        raise RsftError(
            f"unknown backend '{kind}' in '{spec}'{did_you_mean(kind, backend_names())}",
            field="backend",
            fix=f"use an id prefixed with one of: {', '.join(f'{b}/' for b in backend_names())}",
        )
    return kind, model or None


def make_backend(spec: str, **options: Any) -> Any:
    """Build a backend from an id such as ``hf/PATH``, ``openai/MODEL@http://host:8000/v1`` or ``vllm/PATH``.

    Args:
        spec: backend id, or a bare kind ("hf", "openai", "vllm") to load a model later with ``load``.
        **options: keyword arguments of the backend class (batch_size, device, concurrency ...).

    Raises:
        RsftError: unknown kind. MissingDependencyError: the backend's optional package is absent.
    """
    kind, model = split_backend_id(spec)
    cls = backend_class(kind)
    if kind == "openai" and model and "@" in model:
        model, base_url = model.rsplit("@", 1)
        options.setdefault("base_url", base_url)
    return cls(model, **options)
