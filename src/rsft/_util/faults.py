"""Fault injection for crash-safety tests: the one hook production code offers them, :func:`fault_point`.

Production code calls ``fault_point(NAME)`` at the few places a crash is the hardest to survive (between writing a
result and publishing it, at the end of a training step). Two environment variables act on a point:

* ``RSFT_FAULT=NAME`` kills the process (SIGKILL) when it reaches the point named NAME;
* ``RSFT_FAULT_DELAY=NAME=SECONDS[,NAME=SECONDS...]`` sleeps there, which widens the window a kill test aims at
  (``RSFT_TRAIN_SLEEP_PER_STEP=SECONDS`` is the older spelling of ``RSFT_FAULT_DELAY=train:step=SECONDS``).

Points: ``train:step`` (after each optimizer step, its checkpoint and resume state), ``study:analysis`` (after the
analysis is written, before it is published). Unset, a point costs two dictionary lookups.
"""

from __future__ import annotations

import os
import signal
import time

from rsft._util.errors import RsftError


def fault_point(name: str) -> None:
    """Die or pause here when a test asks for it (see the module docstring); otherwise do nothing."""
    if os.environ.get("RSFT_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    delay = fault_delays().get(name)
    if delay:
        time.sleep(delay)


def fault_delays() -> dict[str, float]:
    """Point name -> seconds, from ``RSFT_FAULT_DELAY`` (and the legacy ``RSFT_TRAIN_SLEEP_PER_STEP``).

    Raises:
        RsftError: a malformed entry.
    """
    out: dict[str, float] = {}
    legacy = os.environ.get("RSFT_TRAIN_SLEEP_PER_STEP")
    if legacy:
        out["train:step"] = _seconds(legacy, "RSFT_TRAIN_SLEEP_PER_STEP")
    for item in filter(None, (os.environ.get("RSFT_FAULT_DELAY") or "").split(",")):
        point, sep, seconds = item.rpartition("=")
        if not sep or not point:
            raise RsftError(f"bad RSFT_FAULT_DELAY entry '{item}'", fix="use NAME=SECONDS, e.g. train:step=0.2")
        out[point.strip()] = _seconds(seconds, "RSFT_FAULT_DELAY")
    return out


def _seconds(text: str, var: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RsftError(f"{var}: '{text}' is not a number of seconds", field=var) from None
