"""How stage code reports progress without owning the terminal: a ``say`` callback and a ``progress`` callback.

Only ``rsft.cli`` prints. Everything below it (train, eval, rollouts, study, ...) takes these two callbacks from its
caller and is silent without them, so the library can run inside a notebook, a test or another program:

* ``say(text)``: one line of news ("resuming from step 40"), plain text: the CLI prints it as written (``[`` is
  never read as markup, so intervals and paths survive).
* ``progress(label, done, total, info)``: ``done`` of ``total`` units of the task named ``label`` are finished;
  ``info`` is a short status text (loss, tokens/s). The same label updates the same bar.

The CLI builds both (``rsft.cli._common.console.print`` and ``rsft.cli._common.progress_bars``). A library call
that has notes a user must not miss (``rsft.train.train``: rows truncated or skipped, updates skipped) defaults its
``say`` to :func:`to_stderr`; pass ``say=quiet`` to silence it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

Say = Callable[[str], None]


class Progress(Protocol):
    """A progress sink: ``done`` of ``total`` units of the task ``label`` are finished."""

    def __call__(self, label: str, done: int, total: int, info: str = "") -> None: ...


def quiet(text: str) -> None:
    """A ``say`` that drops the text (the default below the CLI)."""


def to_stderr(text: str) -> None:
    """A ``say`` that writes the line to stderr, rich markup rendered (or stripped when stderr is not a terminal)."""
    _stderr_console().print(text)


@functools.lru_cache(maxsize=1)
def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


class Counter:
    """Counts units done for one label and forwards every change to a progress sink (a no-op without one)."""

    def __init__(self, progress: Progress | None, label: str, total: int, done: int = 0) -> None:
        self.progress, self.label, self.total, self.done = progress or None, label, total, done
        self.advance(0)

    def advance(self, n: int, info: str = "") -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.label, self.done, self.total, info)
