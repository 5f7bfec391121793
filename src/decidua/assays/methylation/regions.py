"""Region sets: BED files, fixed bins, telomere-proximal bins, motif sites, gene bodies.

All regions are 0-based half-open ``[start, end)`` intervals (BED convention);
a cytosine at 1-based position ``p`` lies in a region if
``start < p <= end``. Regions may overlap.

Built-in sets follow Lucas et al., Stem Cells 2016;34:346–356 ("Loss of
endometrial plasticity in recurrent pregnancy loss"), which reported loss of
non-CpG methylation at CA-rich motifs enriched near telomeres, and intragenic
CpG hypomethylation of HMGB2, in stromal cells from women with RPL. The paper
(MeDIP-seq) does not give coordinates we could reuse for bisulfite data, so the
defaults below are *our* documented choices, all configurable:

* :data:`DEFAULT_TELOMERE_DISTANCE_BP` / :data:`DEFAULT_TELOMERE_BIN_BP`;
* :data:`DEFAULT_CA_MOTIF` — CA dinucleotide repeats on either strand;
* :data:`DEFAULT_GENES` — HMGB2.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from decidua.errors import InputError

if TYPE_CHECKING:  # pandas is imported where a table is made (start-up)
    import pandas as pd

#: Telomere-proximal region: distance from each chromosome end (our default;
#: Lucas et al. 2016 report enrichment "near telomeres" without a cut-off).
DEFAULT_TELOMERE_DISTANCE_BP = 5_000_000
#: Width of telomere-proximal bins (our default).
DEFAULT_TELOMERE_BIN_BP = 1_000_000
#: CA-rich motif: ≥ 6 CA repeats, or the reverse complement (TG)n (our default;
#: Lucas et al. 2016 describe "defined CA-rich motifs" without publishing them).
DEFAULT_CA_MOTIF = r"(?:CA){6,}|(?:TG){6,}"
#: Gene bodies summarised by default (Lucas et al. 2016: HMGB2 intragenic CpG
#: hypomethylation in RPL stromal cells).
DEFAULT_GENES: tuple[str, ...] = ("HMGB2",)


@dataclass(frozen=True)
class RegionSet:
    """Named genomic intervals (0-based, half-open)."""

    chrom: np.ndarray  # object array of str
    start: np.ndarray  # int64
    end: np.ndarray  # int64
    name: np.ndarray  # object array of str
    label: str = "regions"

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @classmethod
    def from_records(cls, records: Iterable[tuple[str, int, int, str]],
                     label: str = "regions") -> RegionSet:
        """Build from ``(chrom, start, end, name)`` tuples."""
        rows = list(records)
        if not rows:
            return cls(np.array([], dtype=object), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.array([], dtype=object), label)
        chrom, start, end, name = zip(*rows, strict=True)
        return cls(np.array(chrom, dtype=object), np.array(start, dtype=np.int64),
                   np.array(end, dtype=np.int64), np.array(name, dtype=object), label)

    def to_frame(self) -> pd.DataFrame:
        """Regions as a DataFrame (chrom, start, end, name)."""
        import pandas as pd

        return pd.DataFrame({"chrom": self.chrom, "start": self.start, "end": self.end,
                             "name": self.name})


def _open(path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path)  # noqa: SIM115


def read_bed(path: str | Path) -> RegionSet:
    """Read a BED file (≥ 3 columns; 4th column = name, else ``chrom:start-end``).

    Blank lines, ``#`` comments, ``track`` and ``browser`` lines are skipped,
    and so is a column-name header as the first data line (e.g.
    ``chrom<TAB>start<TAB>end``: both coordinates are words). Any other
    non-integer coordinate is an error naming the line.

    Parameters
    ----------
    path
        BED file, plain or gzip-compressed (0-based, half-open intervals).

    Returns
    -------
    RegionSet
        Possibly empty (a file with no intervals).

    Raises
    ------
    InputError
        Missing file, fewer than 3 columns, non-integer or inverted coordinates.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    rows: list[tuple[str, int, int, str]] = []
    first = True
    with _open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\r\n").split("\t")
            if first and len(f) >= 3 and all(x.strip().replace("_", "").isalpha()
                                              for x in f[1:3]):
                first = False
                continue  # column-name header
            first = False
            if len(f) < 3:
                raise InputError(f"BED needs at least 3 tab-separated columns, found {len(f)}",
                                 file=str(path), row=lineno, value=line.strip())
            try:
                s, e = int(f[1]), int(f[2])
            except ValueError:
                raise InputError("BED start/end must be integers", file=str(path), row=lineno,
                                 value=line.strip()) from None
            if s < 0 or e < s:
                raise InputError("BED interval must have 0 <= start <= end", file=str(path),
                                 row=lineno, value=line.strip())
            name = f[3] if len(f) > 3 and f[3] else f"{f[0]}:{s}-{e}"
            rows.append((f[0], s, e, name))
    return RegionSet.from_records(rows, label=path.stem)


def read_chrom_sizes(path: str | Path) -> dict[str, int]:
    """Chromosome lengths from a ``.fai`` index or a two-column sizes file."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    sizes: dict[str, int] = {}
    with _open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            f = line.split("\t")
            try:
                sizes[f[0]] = int(f[1])
            except (IndexError, ValueError):
                raise InputError("expected 'name<TAB>length'", file=str(path), row=lineno,
                                 value=line.strip()) from None
    return sizes


def fixed_bins(chrom_sizes: Mapping[str, int], width: int) -> RegionSet:
    """Tile every chromosome with bins of ``width`` bp (the last bin may be shorter)."""
    if width <= 0:
        raise InputError("bin width must be positive", value=width)
    rows = []
    for chrom, size in chrom_sizes.items():
        for s in range(0, size, width):
            e = min(s + width, size)
            rows.append((chrom, s, e, f"{chrom}:{s}-{e}"))
    return RegionSet.from_records(rows, label=f"bins_{width}")


def telomere_bins(
    chrom_sizes: Mapping[str, int],
    distance: int = DEFAULT_TELOMERE_DISTANCE_BP,
    width: int = DEFAULT_TELOMERE_BIN_BP,
) -> RegionSet:
    """Bins at increasing distance from both ends of every chromosome.

    Region names are ``{chrom}:p{k}`` (k-th bin from the start) and
    ``{chrom}:q{k}`` (k-th bin from the end), ``k = 0`` touching the end. On
    chromosomes shorter than ``2 * distance`` the two sets overlap.
    """
    if width <= 0 or distance <= 0:
        raise InputError("telomere distance and bin width must be positive")
    rows = []
    for chrom, size in chrom_sizes.items():
        limit = min(distance, size)
        for k, s in enumerate(range(0, limit, width)):
            rows.append((chrom, s, min(s + width, limit), f"{chrom}:p{k}"))
        for k, e in enumerate(range(size, size - limit, -width)):
            rows.append((chrom, max(e - width, size - limit), e, f"{chrom}:q{k}"))
    return RegionSet.from_records(rows, label="telomere_bins")


def motif_sites(
    fasta_path: str | Path,
    pattern: str = DEFAULT_CA_MOTIF,
    *,
    chromosomes: Sequence[str] | None = None,
    flank: int = 0,
) -> RegionSet:
    """Regions matching a regular expression in a reference FASTA (case-insensitive).

    Parameters
    ----------
    fasta_path
        Reference FASTA (plain, bgzip or plain gzip; see
        :func:`~decidua.assays.methylation.contexts.fasta_for_htslib`).
    pattern
        Python regular expression over ``ACGTN``; the default finds CA repeats
        on either strand.
    chromosomes
        Restrict to these sequences.
    flank
        Extend every match by this many bp on both sides.
    """
    from decidua.assays.methylation.contexts import open_fasta

    regex = re.compile(pattern, re.IGNORECASE)
    rows = []
    fasta = open_fasta(fasta_path)
    with fasta:
        for chrom in chromosomes or fasta.references:
            seq = fasta.fetch(chrom)
            n = len(seq)
            for k, m in enumerate(regex.finditer(seq)):
                s, e = max(m.start() - flank, 0), min(m.end() + flank, n)
                rows.append((chrom, s, e, f"{chrom}:motif{k}:{s}-{e}"))
    return RegionSet.from_records(rows, label="motif_sites")


_ATTR = re.compile(r'(\S+)\s+"([^"]*)"')


def gene_bodies(
    gtf_path: str | Path,
    genes: Sequence[str] = DEFAULT_GENES,
    *,
    feature: str = "gene",
) -> RegionSet:
    """Gene bodies (GTF ``gene`` records) of the named genes.

    Genes are matched on ``gene_name`` or ``gene_id``. A gene that is not found
    raises :class:`InputError`.
    """
    path = Path(gtf_path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    wanted = set(genes)
    rows = []
    found: set[str] = set()
    with _open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            f = line.rstrip("\r\n").split("\t")
            if len(f) != 9:
                raise InputError(f"GTF needs 9 tab-separated columns, found {len(f)}",
                                 file=str(path), row=lineno)
            if f[2] != feature:
                continue
            attrs = dict(_ATTR.findall(f[8]))
            name = attrs.get("gene_name") or attrs.get("gene_id", "")
            hit = name if name in wanted else (attrs.get("gene_id") if attrs.get("gene_id")
                                               in wanted else None)
            if hit is None:
                continue
            found.add(hit)
            rows.append((f[0], int(f[3]) - 1, int(f[4]), hit))
    missing = wanted - found
    if missing:
        raise InputError(f"gene(s) not found in the GTF: {', '.join(sorted(missing))}",
                         file=str(path))
    return RegionSet.from_records(rows, label="gene_bodies")


__all__ = [
    "DEFAULT_CA_MOTIF",
    "DEFAULT_GENES",
    "DEFAULT_TELOMERE_BIN_BP",
    "DEFAULT_TELOMERE_DISTANCE_BP",
    "RegionSet",
    "fixed_bins",
    "gene_bodies",
    "motif_sites",
    "read_bed",
    "read_chrom_sizes",
    "telomere_bins",
]
