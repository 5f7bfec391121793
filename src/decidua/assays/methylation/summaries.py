"""Streaming methylation summaries: global per context and per region.

Two summaries per context and region:

``weighted``
    Σ methylated / Σ (methylated + unmethylated) over sites — the pooled
    ("weighted") methylation level of Schultz et al., Trends Genet 2012.
``mean_of_sites``
    Mean over sites of methylated / coverage (each site counts once).

Only sites with coverage ≥ ``min_coverage`` enter either number. Summaries
are accumulated chunk by chunk, so memory depends on the number of regions,
not on the size of the input.

Unknown contexts
----------------
A site whose context is unknown (a Bismark coverage file, methylKit table or
BAM read without ``--genome``; a reference ``N``) cannot be assigned to
``CG``/``CHG``/``CHH``/``CH``, and one without a trinucleotide cannot be
assigned to ``CA``/``CC``/``CT`` (a CpG is known not to be CpA). Such sites
are never counted in those selectors, but they are not silently dropped
either: their number is kept per selector in
:attr:`MethylationSummary.unknown_sites`, and when *no* covered site of the
input could be assigned (the input carries no context at all) the summary
raises :class:`~decidua.errors.InputError` instead of reporting zero sites —
pass ``allow_unknown_context=True`` to get the zero counts anyway. ``ALL``
needs no context.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from decidua.assays.methylation.calls import (
    CTX_CG,
    CTX_CHG,
    CTX_CHH,
    CTX_UNKNOWN,
    ContextTally,
    MethylationCalls,
)
from decidua.assays.methylation.contexts import context_mask
from decidua.assays.methylation.regions import RegionSet
from decidua.errors import InputError

if TYPE_CHECKING:  # pandas is imported where a table is made (start-up)
    import pandas as pd

_FIELDS = ("n_sites", "methylated", "unmethylated", "sum_fraction")


def collapse_stream(chunks: Iterable[MethylationCalls]) -> Iterator[MethylationCalls]:
    """Merge CpG strands chunk by chunk (input must be sorted by chrom, pos).

    A top-strand CpG at the end of a chunk is held back until the next chunk,
    so pairs split across chunk boundaries are merged as in
    :meth:`MethylationCalls.collapse_cpg_strands`.
    """
    carry: MethylationCalls | None = None
    for chunk in chunks:
        if carry is not None and len(carry):
            chunk = MethylationCalls.concat([carry, chunk])
        if len(chunk) and chunk.context[-1] == CTX_CG and chunk.strand[-1] == 1:
            carry = chunk.take(slice(len(chunk) - 1, None))
            chunk = chunk.take(slice(0, len(chunk) - 1))
        else:
            carry = None
        if len(chunk):
            yield chunk.collapse_cpg_strands()
    if carry is not None and len(carry):
        yield carry.collapse_cpg_strands()


_DINUC_INDEX = {"CA": 0, "CC": 1, "CT": 3}

#: Selectors that need the context (CG / CHG / CHH) of each site.
CONTEXT_SELECTORS: tuple[str, ...] = ("CG", "CHG", "CHH", "CH")
#: Selectors that need the base after the C (a trinucleotide).
DINUCLEOTIDE_SELECTORS: tuple[str, ...] = ("CA", "CC", "CT")


def _unknown(table: np.ndarray, selector: str) -> float:
    """Covered sites of a context table whose membership in ``selector`` is unknown."""
    if selector in CONTEXT_SELECTORS:
        return float(table[CTX_UNKNOWN, :, 0].sum())
    if selector in DINUCLEOTIDE_SELECTORS:
        # second base N (4) or no trinucleotide (5); CpGs are known not to be CA/CC/CT
        return float(table[[CTX_CHG, CTX_CHH, CTX_UNKNOWN]][:, 4:6, 0].sum())
    return 0.0


def _select(table: np.ndarray, selector: str) -> np.ndarray:
    """Sum the (context × dinucleotide) cells of one selector."""
    if selector == "ALL":
        return table.sum(axis=(0, 1))
    if selector == "CG":
        return table[CTX_CG].sum(axis=0)
    if selector == "CHG":
        return table[CTX_CHG].sum(axis=0)
    if selector == "CHH":
        return table[CTX_CHH].sum(axis=0)
    if selector == "CH":
        return table[CTX_CHG].sum(axis=0) + table[CTX_CHH].sum(axis=0)
    d = _DINUC_INDEX.get(selector)
    if d is None:
        raise InputError(f"unknown context {selector!r}", column="context", value=selector)
    return table[:, d].sum(axis=0)


@dataclass
class _RegionIndex:
    """Elementary segments of the regions on one chromosome."""

    bounds: np.ndarray  # sorted unique boundaries (0-based)
    region_ids: np.ndarray  # region indices on this chromosome
    lo: np.ndarray  # segment index of region start
    hi: np.ndarray  # segment index of region end


class SummaryAccumulator:
    """Accumulates global and per-region sums over chunks of calls.

    Parameters
    ----------
    contexts
        Context selectors (see :func:`~decidua.assays.methylation.contexts.
        context_mask`).
    regions
        Optional region set.
    min_coverage
        Minimum reads per site.
    allow_unknown_context
        If ``False`` (default), :meth:`result` raises :class:`InputError` when
        a requested selector could not be decided for any covered site (see
        the module docstring); if ``True`` it reports zero sites.
    """

    def __init__(self, contexts: Sequence[str], regions: RegionSet | None = None,
                 min_coverage: int = 1, *, allow_unknown_context: bool = False) -> None:
        if min_coverage < 1:
            raise InputError("min_coverage must be at least 1", value=min_coverage)
        self.contexts = tuple(contexts)
        self.allow_unknown_context = allow_unknown_context
        self.covered = 0.0
        self.unknown = {c: 0.0 for c in self.contexts}
        self.chromosomes: dict[str, None] = {}
        self.regions = regions
        self.min_coverage = min_coverage
        self.global_sums = {c: np.zeros(4, dtype=np.float64) for c in self.contexts}
        self._index: dict[str, _RegionIndex] = {}
        self._seg: dict[tuple[str, str], np.ndarray] = {}
        if regions is not None:
            for chrom in dict.fromkeys(regions.chrom.tolist()):  # order of appearance
                ids = np.flatnonzero(regions.chrom == chrom)
                bounds = np.unique(np.concatenate([regions.start[ids], regions.end[ids]]))
                self._index[chrom] = _RegionIndex(
                    bounds, ids,
                    np.searchsorted(bounds, regions.start[ids]),
                    np.searchsorted(bounds, regions.end[ids]),
                )
        self.rows = 0

    def _add_table(self, table: np.ndarray, rows: int, chromosomes: Sequence[str]) -> None:
        """The global sums of one chunk (its :class:`ContextTally` table)."""
        self.rows += rows
        self.covered += float(table[:, :, 0].sum())
        for c in self.contexts:
            self.global_sums[c] += _select(table, c)
            self.unknown[c] += _unknown(table, c)
        for name in chromosomes:
            self.chromosomes.setdefault(name, None)

    def add(self, calls: MethylationCalls | ContextTally) -> None:
        """Add one chunk: its calls, or (for a summary without regions) its tally."""
        if isinstance(calls, ContextTally):
            if self._index:
                raise InputError("regions are summarised from calls, not from context tallies")
            if calls.min_coverage != self.min_coverage:
                raise InputError(f"tally summed with min_coverage {calls.min_coverage}, "
                                 f"summary asks {self.min_coverage}", value=calls.min_coverage)
            self._add_table(calls.table, calls.rows, calls.chromosomes)
            return
        if len(calls) == 0:
            return
        from decidua.assays.methylation import _fastparse as fp

        table = fp.context_table(calls.context, calls.trinucleotide, calls.methylated,
                                 calls.unmethylated, self.min_coverage)
        present = np.bincount(calls.chrom, minlength=len(calls.chrom_names))  # O(n), no sort
        self._add_table(table, len(calls),
                        tuple(calls.chrom_names[code] for code in np.flatnonzero(present)))
        if not self._index:
            return
        cov = calls.coverage
        ok = cov >= self.min_coverage
        if not ok.all():
            calls = calls.take(ok)
            cov = cov[ok]
        if len(calls) == 0:
            return
        frac = calls.methylated / cov
        masks = {c: context_mask(calls, c) for c in self.contexts}
        for code in np.unique(calls.chrom):
            name = calls.chrom_names[code]
            idx = self._index.get(name)
            if idx is None:
                continue
            on = calls.chrom == code
            x0 = calls.pos[on] - 1  # 0-based
            seg = np.searchsorted(idx.bounds, x0, side="right") - 1
            nseg = len(idx.bounds)
            valid = seg >= 0
            seg = np.where(valid, seg, 0)
            for c, m in masks.items():
                mm = m[on] & valid
                key = (name, c)
                acc = self._seg.get(key)
                if acc is None:
                    acc = np.zeros((4, nseg), dtype=np.float64)
                    self._seg[key] = acc
                s = seg[mm]
                acc[0] += np.bincount(s, minlength=nseg)
                acc[1] += np.bincount(s, weights=calls.methylated[on][mm], minlength=nseg)
                acc[2] += np.bincount(s, weights=calls.unmethylated[on][mm], minlength=nseg)
                acc[3] += np.bincount(s, weights=frac[on][mm], minlength=nseg)

    def result(self) -> MethylationSummary:
        """Finish: global and per-region summaries.

        Raises
        ------
        InputError
            A requested selector could not be decided for any covered site
            (unless ``allow_unknown_context``).
        """
        blind = [c for c in self.contexts if self.covered > 0 and self.unknown[c] >= self.covered]
        if blind and not self.allow_unknown_context:
            what = ("cytosine context (CG/CHG/CHH)" if blind[0] in CONTEXT_SELECTORS
                    else "base after the C (trinucleotide)")
            raise InputError(
                f"none of the {int(self.covered):,} covered sites has a known {what}, so "
                f"{', '.join(blind)} cannot be summarised (it would report 0 sites); the input "
                "carries no context (e.g. a Bismark coverage file): assign contexts from the "
                "reference (annotate_from_fasta / --genome FASTA) or declare the context of a "
                "single-context file (iter_calls(context='CG') / --assume-context CG)",
                column="context", value=",".join(blind))
        glob = {c: tuple(float(v) for v in self.global_sums[c]) for c in self.contexts}
        region_sums: dict[str, np.ndarray] = {}
        if self.regions is not None:
            n = len(self.regions)
            for c in self.contexts:
                out = np.zeros((4, n), dtype=np.float64)
                for chrom, idx in self._index.items():
                    acc = self._seg.get((chrom, c))
                    if acc is None:
                        continue
                    cs = np.zeros((4, acc.shape[1] + 1))
                    np.cumsum(acc, axis=1, out=cs[:, 1:])
                    out[:, idx.region_ids] = cs[:, idx.hi] - cs[:, idx.lo]
                region_sums[c] = out
        return MethylationSummary(
            contexts=self.contexts,
            min_coverage=self.min_coverage,
            rows_read=self.rows,
            global_sums=glob,
            regions=self.regions,
            region_sums=region_sums,
            unknown_sites={c: int(self.unknown[c]) for c in self.contexts},
            covered_sites=int(self.covered),
            chromosomes=tuple(self.chromosomes),
        )


def _ratio(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


@dataclass(frozen=True)
class MethylationSummary:
    """Global and per-region methylation of one sample.

    ``global_sums[context]`` is ``(n_sites, methylated, unmethylated,
    sum_fraction)``; ``region_sums[context]`` is a ``4 × n_regions`` array of the
    same quantities. ``unknown_sites[context]`` counts covered sites that could
    not be assigned to (or excluded from) that context and so are in neither
    number; ``covered_sites`` counts all sites with coverage ≥ ``min_coverage``;
    ``chromosomes`` lists the input's chromosomes (in order of appearance).
    """

    contexts: tuple[str, ...]
    min_coverage: int
    rows_read: int
    global_sums: Mapping[str, tuple[float, float, float, float]]
    regions: RegionSet | None = None
    region_sums: Mapping[str, np.ndarray] = field(default_factory=dict)
    unknown_sites: Mapping[str, int] = field(default_factory=dict)
    covered_sites: int = 0
    chromosomes: tuple[str, ...] = ()

    def global_rows(self) -> list[dict[str, str | int | float]]:
        """One dict per context: context, n_sites, methylated, unmethylated, weighted,
        mean_of_sites (no pandas; the rows of :meth:`global_frame`).

        Examples
        --------
        >>> s = MethylationSummary(("CG",), 1, 2, {"CG": (2.0, 3.0, 1.0, 1.5)})
        >>> s.global_rows()
        [{'context': 'CG', 'n_sites': 2, 'methylated': 3, 'unmethylated': 1, \
'weighted': 0.75, 'mean_of_sites': 0.75}]
        """
        rows = []
        for c in self.contexts:
            n, m, u, f = self.global_sums[c]
            rows.append({
                "context": c,
                "n_sites": int(n),
                "methylated": int(m),
                "unmethylated": int(u),
                "weighted": float(_ratio(m, m + u)),
                "mean_of_sites": float(_ratio(f, n)),
            })
        return rows

    def global_frame(self) -> pd.DataFrame:
        """One row per context: n_sites, methylated, unmethylated, weighted, mean_of_sites."""
        import pandas as pd

        return pd.DataFrame(self.global_rows())

    def region_frame(self) -> pd.DataFrame:
        """One row per region × context (empty without regions).

        ``start``/``end`` are BED coordinates (0-based, half-open) of the
        nullable integer dtype ``Int64``.
        """
        import pandas as pd

        if self.regions is None or len(self.regions) == 0:
            return pd.DataFrame({
                "region": pd.Series(dtype=object), "chrom": pd.Series(dtype=object),
                "start": pd.Series(dtype="Int64"), "end": pd.Series(dtype="Int64"),
                "context": pd.Series(dtype=object), "n_sites": pd.Series(dtype=np.int64),
                "methylated": pd.Series(dtype=np.int64),
                "unmethylated": pd.Series(dtype=np.int64),
                "weighted": pd.Series(dtype=np.float64),
                "mean_of_sites": pd.Series(dtype=np.float64)})
        frames = []
        r = self.regions
        for c in self.contexts:
            s = self.region_sums[c]
            frames.append(pd.DataFrame({
                "region": r.name,
                "chrom": r.chrom,
                "start": pd.array(r.start, dtype="Int64"),
                "end": pd.array(r.end, dtype="Int64"),
                "context": c,
                "n_sites": s[0].astype(np.int64),
                "methylated": s[1].astype(np.int64),
                "unmethylated": s[2].astype(np.int64),
                "weighted": _ratio(s[1], s[1] + s[2]),
                "mean_of_sites": _ratio(s[3], s[0]),
            }))
        return pd.concat(frames, ignore_index=True)

    def to_frame(self) -> pd.DataFrame:
        """Global rows (region ``"genome"``) followed by region rows.

        Columns: region, chrom, start, end, context, n_sites, methylated,
        unmethylated, weighted, mean_of_sites. ``start``/``end`` are integers
        (``Int64``), missing (``<NA>``) with an empty ``chrom`` on the genome
        rows.
        """
        import pandas as pd

        g = self.global_frame()
        g.insert(0, "region", "genome")
        g.insert(1, "chrom", pd.Series([pd.NA] * len(g), dtype=object))
        g.insert(2, "start", pd.array([pd.NA] * len(g), dtype="Int64"))
        g.insert(3, "end", pd.array([pd.NA] * len(g), dtype="Int64"))
        regions = self.region_frame()
        if regions.empty:
            return g
        out = pd.concat([g, regions], ignore_index=True)
        for col in ("start", "end"):
            out[col] = out[col].astype("Int64")
        return out


def summarize(
    chunks: Iterable[MethylationCalls | ContextTally] | MethylationCalls,
    contexts: Sequence[str] = ("CG", "CHG", "CHH"),
    regions: RegionSet | None = None,
    *,
    min_coverage: int = 1,
    collapse_strands: bool = False,
    allow_unknown_context: bool = False,
) -> MethylationSummary:
    """Summarise methylation globally and per region, streaming over chunks.

    Parameters
    ----------
    chunks
        Calls, or an iterable of chunks (e.g. from
        :func:`~decidua.assays.methylation.readers.iter_calls`); without
        regions or strand merging, also the per-context tallies of
        :func:`~decidua.assays.methylation.readers.iter_tallies` (same
        result, less work).
    contexts
        Context selectors (``CG``, ``CHG``, ``CHH``, ``CH``, ``CA``, ``CC``,
        ``CT``, ``ALL``).
    regions
        Optional :class:`RegionSet`.
    min_coverage
        Minimum reads per site (after strand merging).
    collapse_strands
        Merge the two strands of each CpG first (input must be sorted).
    allow_unknown_context
        Report zero sites instead of raising when the input has no context
        for a requested selector (see the module docstring).

    Returns
    -------
    MethylationSummary
        Includes ``unknown_sites`` per context (sites that could not be
        assigned) and the input's ``chromosomes``.

    Raises
    ------
    InputError
        A requested selector other than ``ALL`` could not be decided for any
        covered site: e.g. ``CG`` on a Bismark coverage file read without a
        ``context`` and not annotated from a reference.
    """
    if isinstance(chunks, MethylationCalls):
        chunks = [chunks]
    if collapse_strands:
        chunks = collapse_stream(chunks)
    acc = SummaryAccumulator(contexts, regions, min_coverage,
                             allow_unknown_context=allow_unknown_context)
    for chunk in chunks:
        acc.add(chunk)
    return acc.result()


def region_matrix(
    summaries: Mapping[str, MethylationSummary],
    context: str,
    value: str = "weighted",
    *,
    min_sites: int = 1,
) -> pd.DataFrame:
    """Sample × region matrix of one summary value for one context.

    Regions with fewer than ``min_sites`` covered sites in a sample are NaN for
    that sample.
    """
    import pandas as pd

    if value not in ("weighted", "mean_of_sites", "methylated", "unmethylated", "n_sites"):
        raise InputError(f"unknown value {value!r}", column="value", value=value)
    rows = {}
    for sample, summary in summaries.items():
        df = summary.region_frame()
        df = df[df["context"] == context]
        if df.empty:
            raise InputError(f"sample {sample!r} has no {context} region summary")
        v = df[value].to_numpy(dtype=np.float64)
        v = np.where(df["n_sites"].to_numpy() >= min_sites, v, np.nan)
        rows[sample] = pd.Series(v, index=df["region"].to_numpy())
    return pd.DataFrame(rows).T


__all__ = [
    "CONTEXT_SELECTORS",
    "DINUCLEOTIDE_SELECTORS",
    "MethylationSummary",
    "SummaryAccumulator",
    "collapse_stream",
    "region_matrix",
    "summarize",
]
