"""The Backend protocol is complete: every registered backend class has every member the runner calls."""

from __future__ import annotations

import inspect

import pytest

from rsft.generate.base import Backend
from rsft.generate.registry import BACKENDS, backend_class

METHODS = ["load", "render", "count_tokens", "generate", "close"]


def test_the_protocol_lists_what_the_runner_calls():
    import ast
    from pathlib import Path

    import rsft.eval.runner as runner

    tree = ast.parse(Path(runner.__file__).read_text())
    called = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "backend"
    }
    members = set(METHODS) | set(Backend.__annotations__)
    assert called and called <= members, f"the runner calls {sorted(called - members)} outside the protocol"


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_every_backend_implements_it(kind):
    cls = backend_class(kind)
    assert cls.name == kind
    for method in METHODS:
        assert callable(getattr(cls, method, None)), f"{kind} has no {method}()"
        want = list(inspect.signature(getattr(Backend, method)).parameters)
        got = list(inspect.signature(getattr(cls, method)).parameters)
        assert got[: len(want)] == want, f"{kind}.{method}{got} does not take {want}"
    assert "batch_size" in inspect.signature(cls).parameters  # set on every instance
