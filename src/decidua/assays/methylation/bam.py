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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from decidua.assays.methylation.calls import (
    CTX_CG,
    CTX_CHG,
    CTX_CHH,
    TRI_UNKNOWN,
    MethylationCalls,
)
from decidua.errors import InputError

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


def _process(batch: _Batch, opts: ExtractionOptions, sink: list[tuple[np.ndarray, ...]]) -> int:
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
    sink.append((key, _XM_METH[xm[idx]].astype(np.int64), np.ones(len(idx), np.int64),
                 ctx[idx]))
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
_COMPACT_CALLS = 4_000_000


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
    per vectorised batch; also how often sorted output is flushed).
    """

    def __init__(self, path: str | Path, options: ExtractionOptions | None = None, *,
                 reference: str | Path | None = None,
                 progress: Callable[[int], None] | None = None,
                 batch_reads: int = _BATCH_READS) -> None:
        self.path = Path(path)
        self.batch_reads = batch_reads
        self.options = options or ExtractionOptions()
        self.reference = reference
        self.progress = progress
        self.stats: ExtractionStats | None = None
        if not self.path.exists():
            raise InputError("file not found", file=str(self.path))

    def _open(self) -> pysam.AlignmentFile:
        try:
            mode = {".sam": "r", ".cram": "rc"}.get(self.path.suffix.lower(), "rb")
            return pysam.AlignmentFile(
                str(self.path), mode, check_sq=False,
                reference_filename=str(self.reference) if self.reference else None)
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot open as BAM/CRAM/SAM: {exc}",
                             file=str(self.path)) from None

    def __iter__(self) -> Iterator[MethylationCalls]:
        opts = self.options
        path = self.path
        fh = self._open()
        names = tuple(fh.references)
        sorted_input = fh.header.to_dict().get("HD", {}).get("SO") == "coordinate"
        sink: list[tuple[np.ndarray, ...]] = []
        pending_calls = 0
        batch = _Batch()
        waiting: dict[str, pysam.AlignedSegment] = {}
        seen = used = filtered = pairs = calls = 0
        last = (-1, -1)

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
                        n = _process(batch, opts, sink)
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
                        elif pending_calls > _COMPACT_CALLS:
                            sink = [_compact(sink)]
                            pending_calls = len(sink[0][0])
        except OSError as exc:
            raise InputError(f"cannot read (truncated or corrupt?): {exc}", file=str(path),
                             row=seen + 1) from None
        orphans = len(waiting)
        if opts.count_orphans:
            for read in waiting.values():  # mate filtered out or missing: count alone
                add_single(read)
        calls += _process(batch, opts, sink)
        if self.progress is not None:
            self.progress(seen)
        site = _compact(sink)
        if len(site[0]):
            yield _to_calls(site, names)
        self.stats = ExtractionStats(seen, used, filtered, pairs, orphans, calls)


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


__all__ = ["BamExtractor", "ExtractionOptions", "ExtractionStats", "extract_bam"]
