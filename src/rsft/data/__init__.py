"""SFT data: the row schema, readers and writers with clear errors, variants, verification and statistics."""

from rsft.data.io import read_card, read_sft, write_sft
from rsft.data.markers import MARKER_LEXICON, count_markers
from rsft.data.schemas import SFTRow
from rsft.data.stats import data_stats
from rsft.data.variants import make_variant
from rsft.data.verify import verify_rows

__all__ = [
    "MARKER_LEXICON",
    "SFTRow",
    "count_markers",
    "data_stats",
    "make_variant",
    "read_card",
    "read_sft",
    "verify_rows",
    "write_sft",
]
