"""Per-read methylation calls from BAM/CRAM files with Bismark ``XM`` tags.

Reproduces the counting rules of Bismark's ``bismark_methylation_extractor``
(Krueger & Andrews, Bioinformatics 2011; v0.25.1 behaviour, checked against
its outputs in ``tests/data/methylation``):

* the ``XM`` string is in reference orientation; ``Z/z`` = CpG, ``X/x`` = CHG,
  ``H/h`` = CHH (upper case = methylated); ``U/u`` and ``.`` are not counted;
* ``ignore`` / ``ignore_3prime`` drop calls within that many bases of the
  read's 5' / 3' end (read orientation), separately for read 2
  (``ignore_r2`` / ``ignore_3prime_r2``) — M-bias trimming;
* paired-end overlap (``no_overlap=True``, Bismark's default for paired-end
  data): read 1 is counted in full; read 2 only where it lies beyond read 1's
  (trimmed) aligned span — for a pair with read 1 on the forward strand, read
  2 calls at positions greater than read 1's last aligned base; for read 1 on
  the reverse strand, read 2 calls at positions less than read 1's first
  aligned base;
* the cytosine strand is taken from the ``XG`` tag (``CT`` → top, ``GA`` →
  bottom); read orientation for trimming from ``XR``/``XG`` as Bismark does;
* a paired read whose mate never appears (e.g. a truncated or subset file)
  is not counted, as in Bismark (``count_orphans=True`` counts it alone).

Unlike the Perl extractor it also filters on mapping quality, skips reads
flagged as duplicates, secondary, supplementary, QC-failed or unmapped, and
accepts name- or coordinate-sorted input (mates are paired by name).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from decidua.assays.methylation.calls import (
    CTX_CG,
    CTX_CHG,
    CTX_CHH,
    TRI_UNKNOWN,
    MethylationCalls,
)
from decidua.assays.methylation.contexts import fasta_for_htslib
from decidua.errors import InputError

if TYPE_CHECKING:  # imported where used: a text-file summary needs neither
    import pandas as pd
    import pysam

# XM byte → context code (255 = not a counted call) and methylated flag
_XM_CTX = np.full(256, 255, dtype=np.uint8)
_XM_METH = np.zeros(256, dtype=bool)
for _ch, _code in (("z", CTX_CG), ("x", CTX_CHG), ("h", CTX_CHH)):
    _XM_CTX[ord(_ch)] = _code
    _XM_CTX[ord(_ch.upper())] = _code
    _XM_METH[ord(_ch.upper())] = True

_SKIP_FLAGS = 0x4 | 0x100 | 0x200 | 0x800  # unmapped, secondary, QC fail, supplementary
_FLAG_DUP = 0x400
_BATCH_READS = 20_000


@dataclass(frozen=True)
class ExtractionOptions:
    """Read filters and trimming used by :func:`extract_bam`."""

    min_mapq: int = 0
    skip_duplicates: bool = True
    no_overlap: bool = True
    ignore: int = 0
    ignore_r2: int = 0
    ignore_3prime: int = 0
    ignore_3prime_r2: int = 0
    count_orphans: bool = False


@dataclass(frozen=True)
class ExtractionStats:
    """What :func:`extract_bam` read and counted."""

    reads_seen: int
    reads_used: int
    reads_filtered: int
    pairs: int
    orphans: int
    calls: int

    def to_dict(self) -> dict[str, int]:
        """Plain dict for export."""
        return {
            "reads_seen": self.reads_seen,
            "reads_used": self.reads_used,
            "reads_filtered": self.reads_filtered,
            "pairs": self.pairs,
            "orphans": self.orphans,
            "calls": self.calls,
        }


#: Context names of the M-bias table, in Bismark's order (codes CG, CHG, CHH).
MBIAS_CONTEXTS = ("CpG", "CHG", "CHH")


class MBias:
    """Methylation by position in the read (M-bias), per read (R1/R2) and context.

    Counts the calls that the extraction counts (after filters, overlap
    removal and trimming), by 1-based position from the read's 5' end in
    sequencing orientation (position in the ``XM`` string read 5'→3'; inserted
    bases count, deletions do not) — the table of Bismark's
    ``*.M-bias.txt``. Positions are those of the untrimmed read; Bismark
    numbers them from the first base left after ``--ignore`` /
    ``--ignore_r2`` trimming (its position ``p`` is position ``p + ignore``
    here), so with 5' trimming the two tables are shifted.
    """

    def __init__(self) -> None:
        # read (R1, R2) × context × (methylated, unmethylated) × 0-based position
        self.counts = np.zeros((2, 3, 2, 0), dtype=np.int64)

    def add(self, is_r2: np.ndarray, ctx: np.ndarray, pos0: np.ndarray,
            methylated: np.ndarray) -> None:
        """Add calls: read-2 flags, context codes (0-2), 0-based 5' positions, call states."""
        if len(pos0) == 0:
            return
        n_pos = max(int(pos0.max()) + 1, self.counts.shape[3])
        if n_pos > self.counts.shape[3]:
            grown = np.zeros((2, 3, 2, n_pos), dtype=np.int64)
            grown[..., : self.counts.shape[3]] = self.counts
            self.counts = grown
        cell = ((is_r2.astype(np.int64) * 3 + ctx) * 2 + (~methylated).astype(np.int64))
        flat = np.bincount(cell * n_pos + pos0, minlength=12 * n_pos)
        self.counts += flat.reshape(2, 3, 2, n_pos)

    @property
    def paired(self) -> bool:
        """True if any read-2 call was counted."""
        return bool(self.counts[1].any())

    def to_frame(self) -> pd.DataFrame:
        """Long table: read, context, position, methylated, unmethylated, coverage, percent.

        One row per position from 1 to the longest read with a call, per read
        and context (Bismark's layout; no R2 rows without read-2 calls);
        ``percent`` is NaN at zero coverage.
        """
        import pandas as pd

        frames = []
        for r, read in enumerate(("R1", "R2")):
            length = _last_used(self.counts[r])
            if length == 0:
                continue
            for c, context in enumerate(MBIAS_CONTEXTS):
                meth = self.counts[r, c, 0, :length]
                unmeth = self.counts[r, c, 1, :length]
                cov = meth + unmeth
                with np.errstate(invalid="ignore", divide="ignore"):
                    pct = np.where(cov > 0, 100.0 * meth / np.maximum(cov, 1), np.nan)
                frames.append(pd.DataFrame({
                    "read": read, "context": context, "position": np.arange(1, length + 1),
                    "methylated": meth, "unmethylated": unmeth, "coverage": cov,
                    "percent": pct,
                }))
        if not frames:
            return pd.DataFrame(columns=["read", "context", "position", "methylated",
                                         "unmethylated", "coverage", "percent"])
        return pd.concat(frames, ignore_index=True)

    def write_report(self, path: str | Path, paired: bool | None = None) -> None:
        """Write Bismark's ``M-bias.txt`` text layout (same sections, columns, rounding).

        Parameters
        ----------
        path
            Output file.
        paired
            Paired-end layout (R1 and R2 sections); default: if any read-2
            call was counted.
        """
        df = self.to_frame()
        paired = self.paired if paired is None else paired
        lines: list[str] = []
        for read in ("R1", "R2") if paired else ("R1",):
            for context in MBIAS_CONTEXTS:
                part = df[(df["read"] == read) & (df["context"] == context)]
                if paired:
                    lines += [f"{context} context ({read})", "=" * 16]
                else:
                    lines += [f"{context} context", "=" * 11]
                lines.append("position\tcount methylated\tcount unmethylated\t% methylation\t"
                             "coverage")
                for row in part.itertuples(index=False):
                    pct = "" if row.coverage == 0 else f"{row.percent:.2f}"
                    lines.append(f"{row.position}\t{row.methylated}\t{row.unmethylated}\t"
                                 f"{pct}\t{row.coverage}")
                lines.append("")
        Path(path).write_text("\n".join(lines) + "\n")


def _last_used(counts: np.ndarray) -> int:
    """1 + the last position with any count in a (context, state, position) array."""
    used = np.flatnonzero(counts.sum(axis=(0, 1)))
    return int(used[-1]) + 1 if len(used) else 0


class _Batch:
    """Reads collected for vectorised call extraction."""

    def __init__(self) -> None:
        self.xm: list[bytes] = []
        self.ref: list[int] = []
        self.start: list[int] = []
        self.reverse: list[bool] = []
        self.is_r2: list[bool] = []
        self.mate: list[int] = []  # index of read 1 in this batch for a read 2, else -1
        self.pair_reverse: list[bool] = []  # read 1 of the pair is on the reverse strand
        self.bottom: list[bool] = []  # XG:GA
        self.refpos: dict[int, np.ndarray] = {}  # reads with non-trivial CIGARs

    def __len__(self) -> int:
        return len(self.xm)

    def add(self, read: pysam.AlignedSegment, xm: str, is_r2: bool, mate: int,
            pair_reverse: bool, reverse: bool) -> int:
        k = len(self.xm)
        self.xm.append(xm.encode("ascii"))
        self.ref.append(read.reference_id)
        self.start.append(read.reference_start)
        self.reverse.append(reverse)
        self.is_r2.append(is_r2)
        self.mate.append(mate)
        self.pair_reverse.append(pair_reverse)
        xg = read.get_tag("XG") if read.has_tag("XG") else None
        self.bottom.append(xg == "GA" if xg is not None else read.is_reverse)
        cig = read.cigartuples
        if cig is None or len(cig) != 1 or cig[0][0] not in (0, 7, 8):
            self.refpos[k] = _reference_positions(cig or [], read.reference_start, len(xm))
        return k


def _is_reverse(read: pysam.AlignedSegment) -> bool:
    """Read orientation as Bismark's extractor sees it.

    Bismark derives it from the conversion tags: ``XR == XG`` (OT, CTOB) reads
    run 5'→3' along the top strand, ``XR != XG`` (CTOT, OB) along the bottom
    strand. Without the tags the BAM reverse flag is used.
    """
    if read.has_tag("XR") and read.has_tag("XG"):
        return read.get_tag("XR") != read.get_tag("XG")
    return read.is_reverse


def _reference_positions(cigar: list[tuple[int, int]], start: int, qlen: int) -> np.ndarray:
    """0-based reference position of each query base (-1 for insertions / soft clips)."""
    out = np.full(qlen, -1, dtype=np.int64)
    q = 0
    r = start
    for op, length in cigar:
        if op in (0, 7, 8):  # M, =, X
            out[q : q + length] = np.arange(r, r + length)
            q += length
            r += length
        elif op in (1, 4):  # I, S
            q += length
        elif op in (2, 3):  # D, N
            r += length
    return out


def _process(batch: _Batch, opts: ExtractionOptions, sink: list[tuple[np.ndarray, ...]],
             mbias: MBias | None = None) -> int:
    """Turn a batch of reads into (key, methylated, context) arrays; return #calls."""
    n_reads = len(batch)
    if n_reads == 0:
        return 0
    lengths = np.fromiter((len(x) for x in batch.xm), dtype=np.int64, count=n_reads)
    xm = np.frombuffer(b"".join(batch.xm), dtype=np.uint8)
    offsets = np.zeros(n_reads + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    read_of = np.repeat(np.arange(n_reads), lengths)
    q = np.arange(len(xm), dtype=np.int64) - offsets[read_of]
    start = np.asarray(batch.start, dtype=np.int64)
    refpos = start[read_of] + q
    for k, rp in batch.refpos.items():
        refpos[offsets[k] : offsets[k + 1]] = rp
    reverse = np.asarray(batch.reverse, dtype=bool)
    is_r2 = np.asarray(batch.is_r2, dtype=bool)
    i5 = np.where(reverse[read_of], lengths[read_of] - 1 - q, q)
    i3 = lengths[read_of] - 1 - i5
    ign5 = np.where(is_r2, opts.ignore_r2, opts.ignore)
    ign3 = np.where(is_r2, opts.ignore_3prime_r2, opts.ignore_3prime)
    keep = (refpos >= 0) & (i5 >= ign5[read_of]) & (i3 >= ign3[read_of])
    mate = np.asarray(batch.mate, dtype=np.int64)
    if opts.no_overlap and (mate >= 0).any():
        big = np.iinfo(np.int64).max
        hi = np.maximum.reduceat(np.where(keep, refpos, -1), offsets[:-1])
        lo = np.minimum.reduceat(np.where(keep, refpos, big), offsets[:-1])
        pair_rev = np.asarray(batch.pair_reverse, dtype=bool)
        has_mate = mate >= 0
        m = np.where(has_mate, mate, 0)
        # read 1 forward: keep read-2 calls beyond read 1's last base; reverse: before its first
        limit_hi = np.where(has_mate & ~pair_rev, hi[m], -1)
        limit_lo = np.where(has_mate & pair_rev, lo[m], big)
        keep &= (refpos > limit_hi[read_of]) & (refpos < limit_lo[read_of])
    ctx = _XM_CTX[xm]
    keep &= ctx != 255
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return 0
    r = read_of[idx]
    ref = np.asarray(batch.ref, dtype=np.int64)[r]
    bottom = np.asarray(batch.bottom, dtype=bool)[r]
    pos1 = refpos[idx] + 1
    key = (ref << 33) | (pos1 << 1) | bottom.astype(np.int64)
    methylated = _XM_METH[xm[idx]]
    sink.append((key, methylated.astype(np.int64), np.ones(len(idx), np.int64), ctx[idx]))
    if mbias is not None:
        mbias.add(is_r2[r], ctx[idx], i5[idx], methylated)
    return len(idx)


def _compact(sink: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """Sum sink entries per site key: (key, methylated, total, context), keys sorted."""
    if not sink:
        z = np.zeros(0, np.int64)
        return z, z, z, np.zeros(0, np.uint8)
    key = np.concatenate([s[0] for s in sink])
    meth = np.concatenate([s[1] for s in sink])
    total = np.concatenate([s[2] for s in sink])
    ctx = np.concatenate([s[3] for s in sink])
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    n_meth = np.bincount(inverse, weights=meth, minlength=len(uniq)).astype(np.int64)
    n_all = np.bincount(inverse, weights=total, minlength=len(uniq)).astype(np.int64)
    return uniq, n_meth, n_all, ctx[first].astype(np.uint8)


def _to_calls(site: tuple[np.ndarray, ...], names: tuple[str, ...]) -> MethylationCalls:
    uniq, n_meth, n_all, ctx = site
    return MethylationCalls(
        names,
        (uniq >> 33).astype(np.int32),
        (uniq >> 1) & ((1 << 32) - 1),
        np.where(uniq & 1, -1, 1).astype(np.int8),
        ctx,
        np.full(len(uniq), TRI_UNKNOWN, np.uint8),
        n_meth,
        n_all - n_meth,
    )


#: Compact the pending calls when they exceed this many entries.
_COMPACT_CALLS = 2_000_000
#: Unsorted input: write compacted sites to a sorted run on disk beyond this many.
_SPILL_SITES = 4_000_000


class _SpilledRuns:
    """Sorted runs of per-site counts on disk, merged back in key order (external sort).

    Each run is four raw files (key, methylated, total, context). Every
    ``sample``-th key of each run is kept in memory; the merge walks key
    windows holding about ``window`` entries and reads each run's slice of a
    window with positioned reads (no memory maps, so resident memory does not
    grow with the runs' size).
    """

    _DTYPES = (np.dtype(np.int64), np.dtype(np.int64), np.dtype(np.int64), np.dtype(np.uint8))

    def __init__(self, tmp_dir: str | Path | None, spill_sites: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="decidua-bam-", dir=tmp_dir))
        self.sample = max(1, min(1024, spill_sites // 64))
        self.lengths: list[int] = []
        self.samples: list[np.ndarray] = []  # every sample-th key of each run

    @property
    def n_runs(self) -> int:
        """Runs written so far."""
        return len(self.lengths)

    def _file(self, run: int, col: int) -> Path:
        return self.dir / f"run{run}_{col}.bin"

    def write(self, site: tuple[np.ndarray, ...]) -> None:
        run = self.n_runs
        for col, (arr, dtype) in enumerate(zip(site, self._DTYPES, strict=True)):
            np.ascontiguousarray(arr, dtype=dtype).tofile(self._file(run, col))
        self.lengths.append(len(site[0]))
        self.samples.append(np.asarray(site[0][:: self.sample]).copy())

    def _read(self, run: int, col: int, start: int, stop: int) -> np.ndarray:
        dtype = self._DTYPES[col]
        return np.fromfile(self._file(run, col), dtype=dtype, count=stop - start,
                           offset=start * dtype.itemsize)

    def _index(self, run: int, hi: int) -> int:
        """First entry of ``run`` whose key is >= ``hi``."""
        j = int(np.searchsorted(self.samples[run], hi))  # answer in ((j-1)·S, j·S]
        if j == 0:
            return 0
        lo = (j - 1) * self.sample
        keys = self._read(run, 0, lo, min(j * self.sample, self.lengths[run]))
        return lo + int(np.searchsorted(keys, hi))

    def merged(self, window: int) -> Iterator[tuple[np.ndarray, ...]]:
        """Per-site counts of all runs, in key order, about ``window`` entries at a time."""
        if not self.lengths:
            return
        last = [self._read(r, 0, n - 1, n) for r, n in enumerate(self.lengths) if n]
        cuts = np.unique(np.concatenate(self.samples + last))
        step = max(1, window // self.sample - self.n_runs)
        bounds = np.append(cuts[step::step], cuts[-1] + 1)
        cursor = [0] * self.n_runs
        for hi in bounds:
            parts = []
            for run in range(self.n_runs):
                a = cursor[run]
                b = self._index(run, int(hi))
                if b > a:
                    parts.append(tuple(self._read(run, col, a, b) for col in range(4)))
                cursor[run] = b
            if parts:
                yield _compact(parts)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class BamExtractor:
    """Stream per-cytosine counts from a Bismark BAM/CRAM as sorted chunks.

    Iterating yields :class:`MethylationCalls` chunks in (chromosome, position,
    strand) order. For a coordinate-sorted file, sites are emitted as soon as
    no later read can reach them, so memory stays bounded by the reads in
    flight; for name-sorted / unsorted files (Bismark's own output order) the
    pending calls are compacted to per-site counts as they grow and emitted at
    the end, so memory grows with the number of covered sites. After
    iteration, :attr:`stats` holds an :class:`ExtractionStats`.

    Parameters are those of :func:`extract_bam`, plus ``batch_reads`` (reads
    per vectorised batch; also how often sorted output is flushed),
    ``spill_sites`` (unsorted input: once the compacted sites pending exceed
    half of this, they are written as a sorted run to a temporary folder under ``tmp_dir``
    and merged back at the end, so memory stays bounded for name-sorted
    whole-genome BAMs too) and ``tmp_dir``.
    """

    def __init__(self, path: str | Path, options: ExtractionOptions | None = None, *,
                 reference: str | Path | None = None,
                 progress: Callable[[int], None] | None = None,
                 batch_reads: int = _BATCH_READS,
                 spill_sites: int = _SPILL_SITES,
                 tmp_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.batch_reads = batch_reads
        self.spill_sites = spill_sites
        self.tmp_dir = tmp_dir
        #: Number of sorted runs written to disk by the last iteration.
        self.spilled_runs = 0
        self.options = options or ExtractionOptions()
        self.reference = reference
        self.progress = progress
        self.stats: ExtractionStats | None = None
        #: M-bias of the last iteration (:class:`MBias`).
        self.mbias = MBias()
        if not self.path.exists():
            raise InputError("file not found", file=str(self.path))

    def _open(self) -> pysam.AlignmentFile:
        import pysam

        try:
            mode = {".sam": "r", ".cram": "rc"}.get(self.path.suffix.lower(), "rb")
            reference = None
            if self.reference:
                reference = (fasta_for_htslib(self.reference) if mode == "rc"
                             else str(self.reference))
            return pysam.AlignmentFile(str(self.path), mode, check_sq=False,
                                       reference_filename=reference)
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot open as BAM/CRAM/SAM: {exc}",
                             file=str(self.path)) from None

    def __iter__(self) -> Iterator[MethylationCalls]:
        opts = self.options
        path = self.path
        self.mbias = MBias()
        fh = self._open()
        names = tuple(fh.references)
        sorted_input = fh.header.to_dict().get("HD", {}).get("SO") == "coordinate"
        sink: list[tuple[np.ndarray, ...]] = []
        pending_calls = 0
        batch = _Batch()
        waiting: dict[str, pysam.AlignedSegment] = {}
        seen = used = filtered = pairs = calls = 0
        last = (-1, -1)
        spill: _SpilledRuns | None = None
        self.spilled_runs = 0

        def add_single(read: pysam.AlignedSegment) -> None:
            xm = read.get_tag("XM")
            if xm:
                batch.add(read, xm, read.is_read2, -1, False, _is_reverse(read))

        def add_pair(r1: pysam.AlignedSegment, r2: pysam.AlignedSegment) -> None:
            xm1, xm2 = r1.get_tag("XM"), r2.get_tag("XM")
            if not (xm1 and xm2):  # Bismark skips a pair unless both reads carry calls
                return
            rev = _is_reverse(r1)
            k1 = batch.add(r1, xm1, False, -1, rev, rev)
            batch.add(r2, xm2, True, k1, rev, not rev)

        try:
            try:
                with fh:
                    for read in fh.fetch(until_eof=True):
                        seen += 1
                        flag = read.flag
                        if flag & _SKIP_FLAGS or (opts.skip_duplicates and flag & _FLAG_DUP) or (
                            read.mapping_quality < opts.min_mapq
                        ):
                            filtered += 1
                            continue
                        if not read.has_tag("XM"):
                            raise InputError(
                                "aligned read has no XM methylation tag (is this a Bismark BAM? "
                                "other aligners need MethylDackel or similar)",
                                file=str(path),
                                row=seen,
                                value=read.query_name,
                            )
                        used += 1
                        here = (read.reference_id, read.reference_start)
                        if sorted_input and here < last:
                            raise InputError(
                                "BAM header says SO:coordinate but reads are not sorted",
                                file=str(path), row=seen, value=read.query_name)
                        last = here
                        if read.is_paired and not read.mate_is_unmapped:
                            mate = waiting.pop(read.query_name, None)
                            if mate is None:
                                waiting[read.query_name] = read
                                continue
                            r1, r2 = (mate, read) if mate.is_read1 else (read, mate)
                            add_pair(r1, r2)
                            pairs += 1
                        else:
                            add_single(read)
                        if len(batch) >= self.batch_reads:
                            n = _process(batch, opts, sink, self.mbias)
                            calls += n
                            pending_calls += n
                            batch = _Batch()
                            if self.progress is not None:
                                self.progress(seen)
                            if sorted_input:
                                oldest = min([here] + [(w.reference_id, w.reference_start)
                                                       for w in waiting.values()])
                                frontier = (oldest[0] << 33) | ((oldest[1] + 1) << 1)
                                site = _compact(sink)
                                done = site[0] < frontier
                                if done.any():
                                    yield _to_calls(tuple(a[done] for a in site), names)
                                sink = [tuple(a[~done] for a in site)]
                                pending_calls = len(sink[0][0])
                            elif pending_calls > min(_COMPACT_CALLS, self.spill_sites):
                                site = _compact(sink)
                                if len(site[0]) > min(_COMPACT_CALLS, self.spill_sites) // 2:
                                    if spill is None:
                                        spill = _SpilledRuns(self.tmp_dir, self.spill_sites)
                                    spill.write(site)
                                    sink, pending_calls = [], 0
                                else:
                                    sink, pending_calls = [site], len(site[0])
            except OSError as exc:
                hint = (" (a CRAM needs the reference it was written against: check --genome)"
                        if path.suffix.lower() == ".cram" else "")
                raise InputError(f"cannot read (truncated or corrupt?): {exc}{hint}",
                                 file=str(path), row=seen + 1) from None
            orphans = len(waiting)
            if opts.count_orphans:
                for read in waiting.values():  # mate filtered out or missing: count alone
                    add_single(read)
            calls += _process(batch, opts, sink, self.mbias)
            if self.progress is not None:
                self.progress(seen)
            site = _compact(sink)
            sink = []
            if spill is None:
                if len(site[0]):
                    yield _to_calls(site, names)
            else:
                if len(site[0]):
                    spill.write(site)
                del site
                self.spilled_runs = spill.n_runs
                for part in spill.merged(self.spill_sites // 4):
                    yield _to_calls(part, names)
            self.stats = ExtractionStats(seen, used, filtered, pairs, orphans, calls)
        finally:
            if spill is not None:
                spill.close()


def extract_bam(
    path: str | Path,
    options: ExtractionOptions | None = None,
    *,
    reference: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[MethylationCalls, ExtractionStats]:
    """Count methylated / unmethylated calls per cytosine from a Bismark BAM/CRAM.

    Parameters
    ----------
    path
        BAM, CRAM or SAM file written by Bismark (``XM``, ``XG`` tags).
    options
        Filters and M-bias trimming (:class:`ExtractionOptions`).
    reference
        Reference FASTA, needed to decode CRAM.
    progress
        Called with the number of reads read so far, every batch.

    Returns
    -------
    (MethylationCalls, ExtractionStats)
        Calls sorted by chromosome (header order), position, strand; the
        trinucleotide is unknown until :func:`~decidua.assays.methylation.
        contexts.annotate_from_fasta` is applied. For whole genomes prefer
        streaming with :class:`BamExtractor`.

    Raises
    ------
    InputError
        Unreadable file, or a mapped read without an ``XM`` tag (naming the
        record number and read name).
    """
    extractor = BamExtractor(path, options, reference=reference, progress=progress)
    chunks = list(extractor)
    if chunks:
        result = MethylationCalls.concat(chunks)
    else:
        with extractor._open() as fh:
            result = MethylationCalls.empty(fh.references)
    if extractor.stats is None:  # pragma: no cover - set when iteration finishes
        raise RuntimeError("BAM extraction did not finish")
    return result, extractor.stats


def extract_mbias(
    path: str | Path,
    options: ExtractionOptions | None = None,
    *,
    reference: str | Path | None = None,
) -> MBias:
    """M-bias (methylation by read position, per read and context) of a Bismark BAM/CRAM.

    Parameters
    ----------
    path
        BAM, CRAM or SAM file written by Bismark.
    options
        Filters, overlap handling and trimming (:class:`ExtractionOptions`);
        the table counts exactly the calls the extraction counts.
    reference
        Reference FASTA, needed to decode CRAM.

    Returns
    -------
    MBias
        Use :meth:`MBias.to_frame` or :meth:`MBias.write_report`.
    """
    extractor = BamExtractor(path, options, reference=reference)
    for _ in extractor:
        pass
    return extractor.mbias


__all__ = [
    "MBIAS_CONTEXTS",
    "BamExtractor",
    "ExtractionOptions",
    "ExtractionStats",
    "MBias",
    "extract_bam",
    "extract_mbias",
]
