"""Seeding helpers: same config + seed -> same results on the same hardware."""

from __future__ import annotations

import random


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (never Python's randomized ``hash``)."""
    import hashlib

    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1
