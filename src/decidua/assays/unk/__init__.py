"""uNK density: % CD56+ of stromal cells from per-field counts (see :mod:`.stats`)."""

from decidua.assays.unk.stats import UnkEstimate, unk_percent

__all__ = ["UnkEstimate", "unk_percent"]
