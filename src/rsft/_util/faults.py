"""Fault injection for crash-safety tests: ``RSFT_FAULT=NAME`` kills the process at the point named NAME.

Production code calls :func:`fault_point` at a few places where a crash is the hardest to survive (between writing
a result and publishing it). Unset, it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    if os.environ.get("RSFT_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
