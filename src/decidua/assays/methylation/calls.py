"""One in-memory representation for per-cytosine methylation calls.

Every reader (Bismark coverage / cytosine reports, MethylDackel, methylKit,
BAM with Bismark ``XM`` tags) produces :class:`MethylationCalls`: a small
frozen bundle of numpy columns, one row per cytosine. Streaming readers yield
many of them (chunks); in-memory helpers concatenate them.

Columns
-------
chrom
    ``int32`` index into ``chrom_names``.
pos
    ``int64`` 1-based position of the cytosine (of the C on the strand it is
    on, as in Bismark's cytosine report).
strand
    ``int8``: ``+1`` (C on the top strand), ``-1`` (C on the bottom strand),
    ``0`` unknown (e.g. a Bismark coverage file before a genome is attached).
context
    ``uint8`` code into :data:`CONTEXTS` (CG, CHG, CHH, or N = unknown).
trinucleotide
    ``uint8`` code of the two bases following the C, read 5'→3' on the C's
    strand: ``5 * base2 + base3`` with bases coded ``A C G T N`` = 0..4, or
    :data:`TRI_UNKNOWN`. The dinucleotide (CpA / CpC / CpG / CpT) is
    ``base2`` = ``trinucleotide // 5``.
methylated, unmethylated
    ``int64`` read counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a table is made (start-up)
    import pandas as pd

#: Cytosine contexts, in code order; ``N`` = unknown.
CONTEXTS: tuple[str, ...] = ("CG", "CHG", "CHH", "N")
CTX_CG, CTX_CHG, CTX_CHH, CTX_UNKNOWN = 0, 1, 2, 3

#: Base codes used in the trinucleotide column.
BASES = "ACGTN"
#: Trinucleotide code meaning "not known".
TRI_UNKNOWN = 255

#: Dinucleotide names by second-base code (A, C, G, T, N).
DINUCLEOTIDES: tuple[str, ...] = ("CA", "CC", "CG", "CT", "CN")


def _base_lut() -> np.ndarray:
    lut = np.full(256, 4, dtype=np.uint8)
    for i, b in enumerate("ACGT"):
        lut[ord(b)] = i
        lut[ord(b.lower())] = i
    return lut


#: Byte → base code (A C G T = 0..3, anything else 4 = N).
BASE_LUT = _base_lut()


def trinucleotide_code(text: str) -> int:
    """Code a trinucleotide such as ``"CAG"`` (first base is the C itself)."""
    if len(text) < 3:
        return TRI_UNKNOWN
    return int(BASE_LUT[ord(text[1])]) * 5 + int(BASE_LUT[ord(text[2])])


def trinucleotide_text(code: int) -> str:
    """Inverse of :func:`trinucleotide_code` (``"C??"`` if unknown)."""
    if code >= 25:
        return "C??"
    return "C" + BASES[code // 5] + BASES[code % 5]


def context_from_trinucleotide(tri: np.ndarray) -> np.ndarray:
    """Derive CG / CHG / CHH codes from trinucleotide codes (vectorised)."""
    tri = np.asarray(tri, dtype=np.uint8)
    b2 = tri // 5
    b3 = tri % 5
    out = np.full(tri.shape, CTX_CHH, dtype=np.uint8)
    out[b3 == 2] = CTX_CHG
    out[(b3 == 4) | (b2 == 4)] = CTX_UNKNOWN
    out[b2 == 2] = CTX_CG
    out[tri == TRI_UNKNOWN] = CTX_UNKNOWN
    return out


@dataclass(frozen=True)
class MethylationCalls:
    """Per-cytosine methylated / unmethylated counts (see module docstring)."""

    chrom_names: tuple[str, ...]
    chrom: np.ndarray
    pos: np.ndarray
    strand: np.ndarray
    context: np.ndarray
    trinucleotide: np.ndarray
    methylated: np.ndarray
    unmethylated: np.ndarray

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.pos.shape[0])

    @property
    def coverage(self) -> np.ndarray:
        """Methylated + unmethylated counts per site."""
        return self.methylated + self.unmethylated

    @property
    def dinucleotide(self) -> np.ndarray:
        """Second-base code (0 A, 1 C, 2 G, 3 T, 4 N) per site."""
        tri = self.trinucleotide
        return np.where(tri == TRI_UNKNOWN, 4, tri // 5).astype(np.uint8)

    @classmethod
    def empty(cls, chrom_names: Sequence[str] = ()) -> MethylationCalls:
        """A call set with no rows."""
        return cls(
            tuple(chrom_names),
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int8),
            np.zeros(0, np.uint8),
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )

    def take(self, index: np.ndarray) -> MethylationCalls:
        """Rows selected by a boolean mask or an index array."""
        return MethylationCalls(
            self.chrom_names,
            self.chrom[index],
            self.pos[index],
            self.strand[index],
            self.context[index],
            self.trinucleotide[index],
            self.methylated[index],
            self.unmethylated[index],
        )

    def with_names(self, chrom_names: Sequence[str]) -> MethylationCalls:
        """Re-code ``chrom`` onto another name list (which must contain ours)."""
        names = tuple(chrom_names)
        if names == self.chrom_names:
            return self
        index = {n: i for i, n in enumerate(names)}
        lut = np.array([index[n] for n in self.chrom_names], dtype=np.int32)
        chrom = lut[self.chrom] if len(self) else self.chrom
        return MethylationCalls(
            names,
            chrom,
            self.pos,
            self.strand,
            self.context,
            self.trinucleotide,
            self.methylated,
            self.unmethylated,
        )

    @staticmethod
    def concat(parts: Iterable[MethylationCalls]) -> MethylationCalls:
        """Stack call sets (chromosome names are merged in first-seen order)."""
        parts = list(parts)
        if not parts:
            return MethylationCalls.empty()
        names: list[str] = []
        seen: set[str] = set()
        for p in parts:
            for n in p.chrom_names:
                if n not in seen:
                    seen.add(n)
                    names.append(n)
        parts = [p.with_names(names) for p in parts]
        return MethylationCalls(
            tuple(names),
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in (
                    "chrom",
                    "pos",
                    "strand",
                    "context",
                    "trinucleotide",
                    "methylated",
                    "unmethylated",
                )
            ),
        )

    def sorted(self) -> MethylationCalls:
        """Rows ordered by chromosome name order, position, strand."""
        order = np.lexsort((self.strand, self.pos, self.chrom))
        return self.take(order)

    def filter_coverage(self, min_coverage: int = 1) -> MethylationCalls:
        """Keep sites with at least ``min_coverage`` reads."""
        return self.take(self.coverage >= min_coverage)

    def collapse_cpg_strands(self) -> MethylationCalls:
        """Merge the two cytosines of each CpG onto the top-strand position.

        The C on the bottom strand of a CpG at top-strand position ``p`` sits
        at ``p + 1``; its counts are added to ``p`` and the merged site gets
        strand 0 (``*``), as bsseq's ``strandCollapse`` does (Hansen et al.,
        Genome Biol 2012). Non-CpG rows and unpaired CpG rows are kept as they
        are, except that unpaired bottom-strand CpGs move to ``p - 1``.
        """
        cg = self.context == CTX_CG
        rest = self.take(~cg)
        cgc = self.take(cg)
        pos = cgc.pos - (cgc.strand == -1).astype(np.int64)
        key_chrom = cgc.chrom.astype(np.int64)
        order = np.lexsort((pos, key_chrom))
        kc = key_chrom[order]
        kp = pos[order]
        if len(order):
            new = np.ones(len(order), dtype=bool)
            new[1:] = (kc[1:] != kc[:-1]) | (kp[1:] != kp[:-1])
            group = np.cumsum(new) - 1
            first = np.flatnonzero(new)
            meth = np.bincount(group, weights=cgc.methylated[order]).astype(np.int64)
            unmeth = np.bincount(group, weights=cgc.unmethylated[order]).astype(np.int64)
            tri = cgc.trinucleotide[order][first]
            merged = MethylationCalls(
                self.chrom_names,
                kc[first].astype(np.int32),
                kp[first],
                np.zeros(len(first), np.int8),
                np.full(len(first), CTX_CG, np.uint8),
                tri,
                meth,
                unmeth,
            )
        else:
            merged = cgc
        return MethylationCalls.concat([merged, rest]).sorted()

    # ----------------------------------------------------------------- export
    def to_frame(self) -> pd.DataFrame:
        """Return a pandas DataFrame with readable columns.

        Columns: chrom, pos (1-based), strand (``+``/``-``/``*``), context,
        trinucleotide, methylated, unmethylated.
        """
        import pandas as pd

        names = np.array(self.chrom_names if self.chrom_names else [""], dtype=object)
        strand_text = np.array(["*", "+", "-"], dtype=object)
        tri_text = np.array([trinucleotide_text(i) for i in range(256)], dtype=object)
        return pd.DataFrame(
            {
                "chrom": names[self.chrom] if len(self) else np.array([], dtype=object),
                "pos": self.pos,
                "strand": strand_text[self.strand.astype(np.int64) % 3],
                "context": np.array(CONTEXTS, dtype=object)[self.context],
                "trinucleotide": tri_text[self.trinucleotide],
                "methylated": self.methylated,
                "unmethylated": self.unmethylated,
            }
        )


@dataclass(frozen=True)
class ContextTally:
    """The per-context sums of a chunk of calls, without its rows.

    What :class:`~decidua.assays.methylation.summaries.SummaryAccumulator`
    keeps of a chunk when no region is summarised: read straight from the
    text by :func:`~decidua.assays.methylation.readers.iter_tallies`, so the
    rows are never stored.

    Attributes
    ----------
    table
        ``4 × 6 × 4`` float64: context (CG, CHG, CHH, N) × second base (A, C,
        G, T, N, no trinucleotide) × (n_sites, methylated, unmethylated, sum
        of per-site fractions) over sites with coverage ≥ ``min_coverage``
        (:func:`~decidua.assays.methylation._fastparse.context_table`).
    rows
        Rows of the chunk (covered or not).
    chromosomes
        Chromosomes of the chunk, in order of first appearance in the file.
    min_coverage
        Coverage threshold the table was summed with.
    """

    table: np.ndarray
    rows: int
    chromosomes: tuple[str, ...]
    min_coverage: int

    def __len__(self) -> int:
        return self.rows


__all__ = [
    "BASES",
    "BASE_LUT",
    "CONTEXTS",
    "CTX_CG",
    "CTX_CHG",
    "CTX_CHH",
    "CTX_UNKNOWN",
    "ContextTally",
    "DINUCLEOTIDES",
    "MethylationCalls",
    "TRI_UNKNOWN",
    "context_from_trinucleotide",
    "trinucleotide_code",
    "trinucleotide_text",
]
