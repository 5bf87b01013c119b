"""`rsft demo` — not implemented yet."""

from __future__ import annotations

from rsft._util.errors import NotImplementedStageError


def demo(quick: bool = False) -> None:
    """Run the whole miniature study on CPU (not implemented yet)."""
    raise NotImplementedStageError("`rsft demo` is not implemented yet in this version of rsft")
