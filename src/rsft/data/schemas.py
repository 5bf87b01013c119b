"""The SFT row schema (defined in :mod:`rsft.core`, shared with ``tasks``; see there for the columns)."""

from rsft.core import ROLES, SFTRow

__all__ = ["ROLES", "SFTRow"]
