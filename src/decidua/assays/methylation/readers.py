"""Streaming, chunked, gzip-transparent readers for bisulfite methylation calls.

Supported text formats (detected from the first line, or named with ``fmt``):

``cytosine_report``
    Bismark ``coverage2cytosine`` / ``bismark_methylation_extractor
    --cytosine_report`` output, CpG or ``--CX`` (7 tab-separated columns:
    chrom, 1-based pos, strand, methylated, unmethylated, context,
    trinucleotide). MethylDackel ``--cytosine_report`` writes the same layout.
``bismark_cov``
    Bismark coverage file (``*.bismark.cov[.gz]``: chrom, start, end,
    percent, methylated, unmethylated; 1-based, start = end).
``bedgraph``
    MethylDackel bedGraph (``track`` header line naming the context, then
    chrom, 0-based start, end, percent, methylated, unmethylated).
``methylkit``
    methylKit text (``chrBase chr base strand coverage freqC freqT``, strand
    ``F``/``R``), also written by MethylDackel ``--methylKit``, and methylKit's
    generic layout (``chr start strand coverage freqC freqT``). Counts are
    recovered as ``round(coverage * freqC / 100)``.

Two engines read the text in blocks, so memory is bounded by the block size,
not by the file size:

``fast`` (default for cytosine reports, Bismark coverage and bedGraph)
    a reader thread reads the file, inflating gzip with ISA-L (``isal``; GIL
    released, several times faster than zlib; multi-member / bgzip files
    included), into fresh blocks of complete lines; two worker threads parse
    blocks with one compiled, GIL-free byte loop driven by a column layout
    (:mod:`._fastparse`); chromosome names are kept as runs, so a sorted file
    costs one dictionary lookup per chromosome change per block.
``arrow``
    Arrow's streaming CSV reader plus vectorised numpy (all text formats; the
    only engine for methylKit tables). Kept as an independent second parser:
    the tests check both engines give identical calls.
"""

from __future__ import annotations

import contextlib
import gzip
import queue
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from isal import isal_zlib

from decidua.assays.methylation.calls import (
    BASE_LUT,
    CONTEXTS,
    CTX_CG,
    CTX_CHG,
    CTX_CHH,
    CTX_UNKNOWN,
    TRI_UNKNOWN,
    ContextTally,
    MethylationCalls,
)
from decidua.errors import InputError

if TYPE_CHECKING:  # pyarrow and the numba parser are imported where used (start-up)
    import pyarrow as pa

#: Formats understood by :func:`iter_calls`.
TEXT_FORMATS = ("cytosine_report", "bismark_cov", "bedgraph", "methylkit")

#: Default Arrow block size (bytes of uncompressed text per chunk).
DEFAULT_BLOCK_SIZE = 8 << 20
#: Default block size of the fast engine: its per-block columns (about 7 MB per
#: 2 MB of text) stay in malloc's heap and are reused, where 8 MB blocks get
#: fresh pages from the kernel every block (a third of the run in page faults).
FAST_BLOCK_SIZE = 2 << 20

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class _Layout:
    names: tuple[str, ...]
    types: dict[str, str]  # column -> "int64", "string", "chrom" or "float64"
    header_lines: int

    def arrow_types(self) -> dict[str, pa.DataType]:
        import pyarrow as pa

        kinds = {"int64": pa.int64(), "string": pa.string(), "float64": pa.float64(),
                 "chrom": pa.dictionary(pa.int32(), pa.string())}
        return {name: kinds[kind] for name, kind in self.types.items()}


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _open_text(path: Path):  # type: ignore[no-untyped-def]
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _first_line(path: Path) -> str:
    try:
        with _open_text(path) as fh:
            for line in fh:
                if line.strip():
                    return line.rstrip("\r\n")
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path), row=1) from None
    return ""


def detect_format(path: str | Path) -> str:
    """Guess the format of a methylation call file from its name and first line.

    Returns one of :data:`TEXT_FORMATS` or ``"bam"``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    name = path.name.lower()
    if name.endswith((".bam", ".cram", ".sam")):
        return "bam"
    line = _first_line(path)
    if not line:
        raise InputError("file is empty", file=str(path))
    if line.startswith("track"):
        return "bedgraph"
    fields = line.split("\t")
    if fields[0] in ("chrBase", "chr") and "freqC" in fields:
        return "methylkit"
    if len(fields) == 7 and fields[2] in ("+", "-"):
        return "cytosine_report"
    if len(fields) == 6:
        return "bismark_cov"
    raise InputError(
        "unrecognised methylation call format (expected a Bismark coverage file or "
        "cytosine report, a MethylDackel bedGraph or a methylKit table)",
        file=str(path),
        row=1,
        value=line,
    )


def _layout(path: Path, fmt: str) -> _Layout:
    i64 = "int64"
    s = "string"
    chrom = "chrom"
    if fmt == "cytosine_report":
        names = ("chrom", "pos", "strand", "methylated", "unmethylated", "context", "tri")
        types = {"chrom": chrom, "pos": i64, "strand": s, "methylated": i64,
                 "unmethylated": i64, "context": s, "tri": s}
        return _Layout(names, types, 0)
    if fmt == "bismark_cov":
        names = ("chrom", "pos", "end", "pct", "methylated", "unmethylated")
        types = {"chrom": chrom, "pos": i64, "methylated": i64, "unmethylated": i64}
        return _Layout(names, types, 0)
    if fmt == "bedgraph":
        names = ("chrom", "pos", "end", "pct", "methylated", "unmethylated")
        types = {"chrom": chrom, "pos": i64, "methylated": i64, "unmethylated": i64}
        header = 1 if _first_line(path).startswith("track") else 0
        return _Layout(names, types, header)
    if fmt == "methylkit":
        first = _first_line(path).split("\t")
        if first[0] == "chrBase":
            names = ("chrbase", "chrom", "pos", "strand", "coverage", "freqC", "freqT")
        else:
            names = ("chrom", "pos", "strand", "coverage", "freqC", "freqT")
        types = {"chrom": chrom, "pos": i64, "strand": s, "coverage": i64,
                 "freqC": "float64"}
        return _Layout(names, types, 1)
    raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")


def _bedgraph_context(path: Path) -> int:
    line = _first_line(path)
    for code, name in ((CTX_CHG, "CHG"), (CTX_CHH, "CHH"), (CTX_CG, "CpG")):
        if name in line:
            return code
    return CTX_UNKNOWN


def _assumed_context(context: str) -> str:
    name = context.strip().upper().replace("P", "")
    if name not in CONTEXTS[:3]:
        raise InputError(f"unknown context {context!r}; expected CG, CHG or CHH",
                         column="context", value=context)
    return name


def known_annotation(path: str | Path, fmt: str | None = None,
                     context: str | None = None) -> tuple[bool, bool]:
    """Which annotation the rows of a call file carry, before any reference is attached.

    Parameters
    ----------
    path
        Call file (text formats or a BAM/CRAM/SAM).
    fmt
        Its format (detected if ``None``).
    context
        The context declared for every row (as passed to :func:`iter_calls`).

    Returns
    -------
    tuple of bool
        ``(context_known, dinucleotide_known)``: whether CG/CHG/CHH is known
        per site (cytosine reports, BAM ``XM`` tags, MethylDackel bedGraph
        headers, a declared ``context``) and whether the base after the C is
        known (cytosine reports; a CpG-only input, where it is G). Bismark
        coverage files and methylKit tables carry neither.
    """
    fmt = fmt or detect_format(path)
    if fmt == "cytosine_report":
        return True, True
    if fmt == "bam":
        return True, False
    ctx = CONTEXTS.index(_assumed_context(context)) if context is not None else CTX_UNKNOWN
    if ctx == CTX_UNKNOWN and fmt == "bedgraph":
        ctx = _bedgraph_context(Path(path))
    return ctx != CTX_UNKNOWN, ctx == CTX_CG


def _string_columns(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return (offsets, data bytes) of an Arrow string array (zero copy)."""
    bufs = arr.buffers()
    n = len(arr)
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    return offsets, data


def _char_at(arr: pa.Array, k: int) -> np.ndarray:
    """k-th byte of every string (0 where the string is shorter)."""
    offsets, data = _string_columns(arr)
    start = offsets[:-1]
    length = offsets[1:] - start
    out = np.zeros(len(start), dtype=np.uint8)
    ok = length > k
    if ok.all():
        return data[start + k]
    out[ok] = data[start[ok] + k]
    return out


_CTX_LUT = np.full(256, CTX_UNKNOWN, dtype=np.uint8)
_CTX_LUT[ord("G")] = CTX_CHG
_CTX_LUT[ord("H")] = CTX_CHH


class _ChromCoder:
    """Maps per-chunk Arrow dictionaries onto one growing list of names."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def codes(self, column: pa.Array) -> np.ndarray:
        import pyarrow as pa

        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        dictionary = column.dictionary.to_pylist()
        lut = np.empty(len(dictionary), dtype=np.int32)
        for i, name in enumerate(dictionary):
            code = self.index.get(name)
            if code is None:
                code = len(self.names)
                self.names.append(name)
                self.index[name] = code
            lut[i] = code
        idx = column.indices.to_numpy(zero_copy_only=False)
        return lut[idx] if len(lut) else idx.astype(np.int32)


def _locate_problem(path: Path, layout: _Layout, exc: Exception) -> InputError:
    """Re-scan a file line by line to name the first bad line (error path only)."""
    n_fields = len(layout.names)
    int_cols = [i for i, n in enumerate(layout.names) if layout.types.get(n) == "int64"]
    lineno = 0
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007
                if lineno <= layout.header_lines or not line.strip():
                    continue
                fields = line.rstrip("\r\n").split("\t")
                if len(fields) != n_fields:
                    return InputError(
                        f"expected {n_fields} tab-separated columns, found {len(fields)}",
                        file=str(path),
                        row=lineno,
                        value=line.rstrip("\r\n"),
                    )
                for i in int_cols:
                    try:
                        int(fields[i])
                    except ValueError:
                        return InputError(
                            "not an integer",
                            file=str(path),
                            row=lineno,
                            column=layout.names[i],
                            value=fields[i],
                        )
    except (EOFError, zlib.error, OSError) as err:
        return InputError(
            f"compressed stream is truncated or corrupt after line {lineno} ({err})",
            file=str(path),
            row=lineno + 1,
        )
    return InputError(f"cannot parse: {exc}", file=str(path))


def iter_calls(
    path: str | Path,
    fmt: str | None = None,
    *,
    context: str | None = None,
    block_size: int | None = None,
    require_sorted: bool = False,
    engine: str = "auto",
) -> Iterator[MethylationCalls]:
    """Stream a methylation call file as chunks of :class:`MethylationCalls`.

    Parameters
    ----------
    path
        Input file, plain or gzip-compressed (detected from the magic bytes).
    fmt
        One of :data:`TEXT_FORMATS`; detected from the first line if ``None``.
    context
        Context of every row for formats that do not carry it (``"CG"``,
        ``"CHG"``, ``"CHH"``; ``"CpG"`` spellings accepted), e.g. ``"CG"`` for
        a CpG-only Bismark coverage file (``bismark2bedGraph``'s default) or
        methylKit CpG table; it overrides a MethylDackel bedGraph header and is
        ignored for cytosine reports (which carry their own). Without it,
        Bismark coverage and methylKit rows have an unknown context until
        annotated from a reference (:func:`~decidua.assays.methylation.
        contexts.annotate_from_fasta`).
    block_size
        Bytes of text per chunk (bounds memory); default
        :data:`FAST_BLOCK_SIZE` for the fast engine, :data:`DEFAULT_BLOCK_SIZE`
        for Arrow.
    require_sorted
        Raise :class:`InputError` (naming the line) when positions decrease
        within a chromosome or a chromosome re-appears after another one.
    engine
        ``"fast"`` (compiled byte parser on a reader thread; cytosine reports,
        Bismark coverage and bedGraph only), ``"arrow"`` (Arrow CSV reader; all
        text formats) or ``"auto"`` (fast where available).

    Yields
    ------
    MethylationCalls
        One chunk per block; ``chrom_names`` grows as new chromosomes appear.

    Raises
    ------
    InputError
        Missing / truncated / malformed file, negative counts, unsorted input
        when ``require_sorted``.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "bam":
        raise InputError("BAM input is read with extract_bam()", file=str(path))
    layout = _layout(path, fmt)
    fixed_context = CTX_UNKNOWN
    if context is not None:
        fixed_context = CONTEXTS.index(_assumed_context(context))
    elif fmt == "bedgraph":
        fixed_context = _bedgraph_context(path)
    if engine not in ("auto", "fast", "arrow"):
        raise InputError(f"unknown engine {engine!r}; expected auto, fast or arrow")
    if engine != "arrow" and fmt in ("cytosine_report", "bismark_cov", "bedgraph"):
        yield from _iter_fast(path, fmt, layout.header_lines, fixed_context,
                              block_size or FAST_BLOCK_SIZE,
                              require_sorted)
        return
    if engine == "fast":
        raise InputError(f"the fast engine does not read {fmt!r} files; use engine='arrow'")
    import pyarrow as pa
    import pyarrow.csv as pacsv

    include = [n for n in layout.names if n in layout.types]
    read_opts = pacsv.ReadOptions(
        column_names=list(layout.names),
        skip_rows=layout.header_lines,
        block_size=block_size or DEFAULT_BLOCK_SIZE,
        use_threads=True,
    )
    parse_opts = pacsv.ParseOptions(delimiter="\t", quote_char=False)
    conv_opts = pacsv.ConvertOptions(column_types=layout.arrow_types(), include_columns=include)
    compression = "gzip" if _is_gzip(path) else None
    coder = _ChromCoder()
    rows_before = 0
    last_chrom = -1
    last_pos = -1
    finished: set[int] = set()
    try:
        stream = pa.input_stream(str(path), compression=compression)
        reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts,
                                convert_options=conv_opts)
        batches = iter(reader)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return
        raise _locate_problem(path, layout, exc) from None
    except (OSError, EOFError) as exc:
        raise _locate_problem(path, layout, exc) from None
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            raise _locate_problem(path, layout, exc) from None
        n = batch.num_rows
        if n == 0:
            continue
        chrom = coder.codes(batch.column("chrom"))
        pos = batch.column("pos").to_numpy(zero_copy_only=False)
        if fmt == "bedgraph":
            pos = pos + 1
        if fmt == "methylkit":
            cov = batch.column("coverage").to_numpy(zero_copy_only=False)
            freq = batch.column("freqC").to_numpy(zero_copy_only=False)
            meth = np.rint(cov * freq / 100.0).astype(np.int64)
            unmeth = cov - meth
            s = _char_at(batch.column("strand"), 0)
            strand = np.where((s == ord("F")) | (s == ord("+")), 1,
                              np.where((s == ord("R")) | (s == ord("-")), -1, 0)).astype(np.int8)
            bad_cov = np.flatnonzero(cov < 0)
            if len(bad_cov):
                i = int(bad_cov[0])
                raise InputError("negative coverage", file=str(path),
                                 row=layout.header_lines + rows_before + i + 1,
                                 column="coverage", value=int(cov[i]))
        else:
            meth = batch.column("methylated").to_numpy(zero_copy_only=False)
            unmeth = batch.column("unmethylated").to_numpy(zero_copy_only=False)
            if fmt == "cytosine_report":
                s = _char_at(batch.column("strand"), 0)
                strand = np.where(s == ord("+"), 1, -1).astype(np.int8)
            else:
                strand = np.zeros(n, np.int8)
        if null_count := _nulls(batch):
            raise _locate_problem(path, layout, ValueError(f"{null_count} empty fields"))
        neg = np.flatnonzero((meth < 0) | (unmeth < 0))
        if len(neg):
            i = int(neg[0])
            col = "methylated" if meth[i] < 0 else "unmethylated"
            raise InputError(
                "negative count",
                file=str(path),
                row=layout.header_lines + rows_before + i + 1,
                column=col,
                value=int(min(meth[i], unmeth[i])),
            )
        if fmt == "cytosine_report":
            tri_col = batch.column("tri")
            b2 = BASE_LUT[_char_at(tri_col, 1)]
            b3 = BASE_LUT[_char_at(tri_col, 2)]
            tri = (b2 * 5 + b3).astype(np.uint8)
            ctx_col = batch.column("context")
            c2 = _char_at(ctx_col, 1)
            ctx = np.where(c2 == ord("G"), CTX_CG, _CTX_LUT[_char_at(ctx_col, 2)]).astype(np.uint8)
        else:
            tri = np.full(n, TRI_UNKNOWN, np.uint8)
            ctx = np.full(n, fixed_context, np.uint8)
        if require_sorted:
            last_chrom, last_pos = _check_sorted(
                path, chrom, pos, last_chrom, last_pos, finished,
                layout.header_lines + rows_before, coder.names,
            )
        rows_before += n
        yield MethylationCalls(
            tuple(coder.names), chrom, pos.astype(np.int64, copy=False), strand, ctx, tri,
            meth.astype(np.int64, copy=False), unmeth.astype(np.int64, copy=False),
        )


def _err_text(code: int) -> str:
    from decidua.assays.methylation import _fastparse as fp

    return {
        fp.ERR_COLUMNS: "wrong number of tab-separated columns",
        fp.ERR_INTEGER: "not an integer",
        fp.ERR_NEGATIVE: "negative count",
        fp.ERR_STRAND: "strand must be '+' or '-'",
    }[code]


_END = object()
_NO_I8 = np.empty(0, np.int8)
_NO_U8 = np.empty(0, np.uint8)
_NO_I64 = np.empty(0, np.int64)
_NO_TABLE = np.empty((0, 6, 4), np.float64)
_DECOMPRESS_ERRORS = (EOFError, OSError, zlib.error, isal_zlib.error)

#: Blocks the reader thread may queue ahead of the parsers.
_QUEUE_BLOCKS = 4


class _Stopped(Exception):
    """The consumer went away; the reader thread ends."""


class _ExactInflater:
    """gzip stream inflated member by member with ``isal_zlib`` (error path).

    Handles multi-member files (bgzip). Unlike a buffered gzip reader it hands
    out every byte inflated before a truncation, so the error can name the
    first incomplete line.
    """

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115
        self._d = isal_zlib.decompressobj(wbits=31)
        self._fed = False
        self._input = b""
        self._left = b""  # inflated, not yet handed out
        self._at_end = False

    def _hand_out(self, view: memoryview) -> int:
        k = min(len(view), len(self._left))
        view[:k] = self._left[:k]
        self._left = self._left[k:]
        return k

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` with inflated bytes; 0 at the end of the last member."""
        if self._left:
            return self._hand_out(view)
        while not self._at_end:
            if not self._input:
                self._input = self._fh.read(1 << 20)
                if not self._input:
                    self._at_end = True
                    if self._fed and not self._d.eof:
                        self._left = self._d.flush()  # everything inflated before the cut
                    break
            if self._d.eof:  # next member
                self._d = isal_zlib.decompressobj(wbits=31)
                self._fed = False
            out = self._d.decompress(self._input, len(view))
            self._fed = True
            self._input = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            if out:
                view[: len(out)] = out
                return len(out)
        if self._left:
            return self._hand_out(view)
        if self._fed and not self._d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker")
        return 0

    def close(self) -> None:
        self._fh.close()


class _Inflater:
    """Readable gzip stream inflated with ISA-L, straight into the caller's buffer.

    Every member (one, several concatenated, or bgzip's BGZF blocks of at most
    64 KB) is inflated by ISA-L's C gzip reader (``isal_zlib._GzipReader``,
    the reader behind ``isal.igzip``: one C loop over the members with the GIL
    released, CRC-32 and length of each member checked). It drops the last
    bytes inflated before a truncation, so on any decompression error the
    file is inflated again by :class:`_ExactInflater` (error path only),
    skipping the bytes handed out already; the error then names the first
    incomplete line.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fh = open(path, "rb")  # noqa: SIM115
        self._reader = isal_zlib._GzipReader(self._fh, 1 << 20)
        self._given = 0
        self._exact: _ExactInflater | None = None

    def readinto(self, view: memoryview) -> int:
        """Fill (part of) ``view`` with inflated bytes; 0 at the end of the last member."""
        if self._exact is None:
            try:
                k = self._reader.readinto(view)
            except _DECOMPRESS_ERRORS:
                self._exact = _ExactInflater(self._path)
                scratch = memoryview(bytearray(1 << 20))
                left = self._given
                while left:  # the same bytes again: checked inflation, so they cannot differ
                    k = self._exact.readinto(scratch[: min(left, len(scratch))])
                    if not k:  # pragma: no cover - the file changed under us
                        raise EOFError("compressed file changed while being read") from None
                    left -= k
            else:
                self._given += k
                return k
        return self._exact.readinto(view)

    def __enter__(self) -> _Inflater:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._exact is not None:
            self._exact.close()
        self._fh.close()


def _open_binary(path: Path) -> BinaryIO | _Inflater:
    """Plain bytes, or a gzip stream inflated with ISA-L."""
    if _is_gzip(path):
        return _Inflater(path)
    return open(path, "rb", buffering=0)  # noqa: SIM115


def _new_buffer(free: queue.SimpleQueue | None, size: int) -> bytearray:
    """A recycled block buffer of at least ``size`` bytes, or a new one."""
    while free is not None:
        try:
            buf = free.get_nowait()
        except queue.Empty:
            break
        if len(buf) >= size:
            return buf
    return bytearray(size)


def _line_blocks(path: Path, block_size: int, header_lines: int,
                 free: queue.SimpleQueue | None = None) -> Iterator[memoryview]:
    """Yield blocks of complete lines (each ending with a newline), header lines removed.

    Each block is a buffer of about ``block_size`` bytes filled with
    ``readinto`` (no concatenation copies), taken from ``free`` when the
    consumer has handed one back (no fresh pages to fault in per block); only
    the incomplete last line is carried over. A truncated or corrupt gzip
    stream first yields the complete lines read so far, then raises
    (``EOFError`` / ``OSError``).
    """
    carry = b""
    skip = header_lines
    with _open_binary(path) as fh:
        eof = False
        while not eof:
            buf = _new_buffer(free, max(block_size, 2 * len(carry), 64))
            size = len(buf)
            view = memoryview(buf)
            filled = len(carry)
            view[:filled] = carry
            failure: BaseException | None = None
            try:
                while filled < size:
                    k = fh.readinto(view[filled:])
                    if not k:
                        eof = True
                        break
                    filled += k
            except _DECOMPRESS_ERRORS as exc:
                failure = exc
            cut = buf.rfind(b"\n", 0, filled) + 1
            start = 0
            while skip and start < cut:
                start = buf.find(b"\n", start, cut) + 1
                skip -= 1
            if cut > start:
                yield view[start:cut]
            carry = bytes(view[cut:filled]) if cut < filled else b""
            if failure is not None:
                raise failure
    if carry and not skip:
        yield memoryview(carry + b"\n")


def _produce(path: Path, block_size: int, header_lines: int, q: queue.Queue,
             stop: threading.Event, free: queue.SimpleQueue) -> None:
    """Reader thread: read / inflate blocks of complete lines and queue them."""

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    try:
        try:
            for block in _line_blocks(path, block_size, header_lines, free):
                put(("block", block))
        except _DECOMPRESS_ERRORS as exc:
            put(("truncated", str(exc) or type(exc).__name__))
            return
        put(_END)
    except _Stopped:
        return
    except BaseException as exc:  # pragma: no cover - handed to the consumer
        with contextlib.suppress(_Stopped):
            put(("error", exc))


def _parse_block(block: memoryview, report: bool, tally: int = 0) -> tuple:
    """Parse one block of complete lines (runs without the GIL in a worker thread).

    Returns ``(result, runs, payload)``: the kernel's result tuple, the
    chromosome runs (rows × start × end) and either the columns ``(pos,
    meth, unmeth, strand, ctx, tri)`` or, with ``tally`` ≥ 1 (a cytosine
    report summed with that minimum coverage), the ``4 × 6 × 4`` context
    table.
    """
    from decidua.assays.methylation import _fastparse as fp

    buf = np.frombuffer(block, dtype=np.uint8)
    cap = len(buf) // fp.MIN_LINE_BYTES + 1
    runs = np.empty((3, cap), np.int64)
    if tally:
        table = np.zeros((4, 6, 4), np.float64)
        res = fp.parse_report(buf, _NO_I64, _NO_I8, _NO_I64, _NO_I64, _NO_U8, _NO_U8,
                              runs[0], runs[1], runs[2], table, tally)
        del buf  # the block's buffer may be recycled once this returns
        return res, runs[:, : res[1]].copy(), table
    pos = np.empty(cap, np.int64)
    meth = np.empty(cap, np.int64)
    unmeth = np.empty(cap, np.int64)
    if report:
        strand = np.empty(cap, np.int8)
        ctx = np.empty(cap, np.uint8)
        tri = np.empty(cap, np.uint8)
        res = fp.parse_report(buf, pos, strand, meth, unmeth, ctx, tri,
                              runs[0], runs[1], runs[2], _NO_TABLE, 1)
    else:
        strand, ctx, tri = _NO_I8, _NO_U8, _NO_U8
        res = fp.parse_block(buf, fp.COV_LAYOUT, pos, strand, meth, unmeth, ctx, tri,
                             runs[0], runs[1], runs[2])
    del buf
    n = res[0]
    if report:
        strand, ctx, tri = strand[:n], ctx[:n], tri[:n]
    return res, runs[:, : res[1]].copy(), (pos[:n], meth[:n], unmeth[:n], strand, ctx, tri)


_REPORT_COLUMNS = ("chrom", "pos", "strand", "methylated", "unmethylated", "context",
                   "trinucleotide")
_COV_COLUMNS = ("chrom", "start", "end", "percent", "methylated", "unmethylated")


def _parsed_blocks(
    path: Path, report: bool, header_lines: int, block_size: int, tally: int = 0
) -> Iterator[tuple[int, int, list[str], np.ndarray, np.ndarray, object]]:
    """The fast engine's pipeline: blocks parsed on two worker threads, in file order.

    A reader thread inflates (GIL released) into blocks of complete lines;
    two workers parse them with the compiled kernels (GIL released); this
    generator names the chromosome runs and turns kernel errors and
    truncation into :class:`InputError` naming file, line and column.

    Yields
    ------
    tuple
        ``(first_line, rows, names, codes, run_rows, payload)``: the 1-based
        line number of the block's first line, its rows, the chromosome
        names so far (one list, growing), the code of each run and the row
        each run starts at, and the payload of :func:`_parse_block`.
    """
    q: queue.Queue = queue.Queue(maxsize=_QUEUE_BLOCKS)
    free: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    # The reader thread starts inflating before the parser is loaded (numba's
    # start-up holds the GIL; inflation does not need it).
    thread = threading.Thread(target=_produce,
                              args=(path, block_size, header_lines, q, stop, free),
                              daemon=True, name="decidua-methylation-reader")
    thread.start()
    names: list[str] = []
    index: dict[bytes, int] = {}
    lines_before = header_lines
    columns = _REPORT_COLUMNS if report else _COV_COLUMNS
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decidua-methylation-parse")
    pending: deque = deque()
    done = False
    try:
        from decidua.assays.methylation import _fastparse as fp

        while pending or not done:
            while not done and len(pending) < 3:
                item = q.get()
                if item is _END:
                    done = True
                    break
                kind = item[0]
                if kind == "error":
                    raise item[1]
                if kind == "truncated":
                    pending.append(("truncated", item))
                    done = True
                    break
                pending.append(("block", item[1],
                                pool.submit(_parse_block, item[1], report, tally)))
            if not pending:
                break
            entry = pending.popleft()
            if entry[0] == "truncated":
                raise InputError(
                    f"compressed stream is truncated or corrupt ({entry[1][1]})",
                    file=str(path),
                    row=lines_before + 1,
                )
            block = entry[1]
            res, runs, payload = entry[2].result()
            n, n_runs, lines, err, col = res
            if err != fp.ERR_NONE:
                raw = bytes(block)
                text = raw.split(b"\n", lines + 1)[lines] if lines < raw.count(b"\n") else b""
                raise InputError(_err_text(err), file=str(path), row=lines_before + lines + 1,
                                 column=columns[min(col, len(columns) - 1)],
                                 value=text.decode("utf-8", "replace").rstrip("\r"))
            first_line = lines_before + 1
            lines_before += lines
            codes = np.empty(n_runs, np.int32)
            for k in range(n_runs):
                key = bytes(block[runs[1, k]:runs[2, k]])
                code = index.get(key)
                if code is None:
                    code = len(names)
                    names.append(key.decode("utf-8", "replace"))
                    index[key] = code
                codes[k] = code
            if isinstance(block.obj, bytearray):  # parsed and named: the buffer can be reused
                free.put(block.obj)
            del block, entry
            yield first_line, n, names, codes, runs[0], payload
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        thread.join()


def _iter_fast(
    path: Path,
    fmt: str,
    header_lines: int,
    fixed_context: int,
    block_size: int,
    require_sorted: bool,
) -> Iterator[MethylationCalls]:
    last_chrom, last_pos = -1, -1
    finished: set[int] = set()
    report = fmt == "cytosine_report"
    for first_line, n, names, codes, run_rows, payload in _parsed_blocks(
            path, report, header_lines, block_size):
        pos, meth, unmeth, strand, ctx, tri = payload  # type: ignore[misc]
        if len(codes) == 1:
            chrom = np.full(n, codes[0], np.int32)
        else:
            chrom = np.repeat(codes, np.diff(np.append(run_rows, n)))
        if fmt == "bedgraph":
            pos += 1
        if not report:
            strand = np.zeros(n, np.int8)
            ctx = np.full(n, fixed_context, np.uint8)
            tri = np.full(n, TRI_UNKNOWN, np.uint8)
        if require_sorted and n:
            last_chrom, last_pos = _check_sorted(
                path, chrom, pos, last_chrom, last_pos, finished, first_line - 1, names)
        if n:
            yield MethylationCalls(tuple(names), chrom, pos, strand, ctx, tri, meth, unmeth)


def iter_tallies(
    path: str | Path,
    fmt: str | None = None,
    *,
    min_coverage: int = 1,
    block_size: int | None = None,
) -> Iterator[ContextTally]:
    """Stream a cytosine report as per-context sums, one :class:`ContextTally` per block.

    For a global summary (no regions, no strand merging):
    ``summarize(iter_tallies(path), contexts)`` gives exactly what
    ``summarize(iter_calls(path), contexts)`` gives, with the same checks
    and errors, but the compiled parser sums each site as it reads it and
    never stores the rows (a third less work than parsing into columns).

    Parameters
    ----------
    path
        Cytosine report, plain or gzip-compressed (one member, several, or
        bgzip).
    fmt
        ``"cytosine_report"`` (the only format that carries contexts and
        trinucleotides per row); detected if ``None``.
    min_coverage
        Sites with fewer reads are left out of the sums (as
        :class:`~decidua.assays.methylation.summaries.SummaryAccumulator`'s
        ``min_coverage``; it must match).
    block_size
        Bytes of text per block (default :data:`FAST_BLOCK_SIZE`).

    Raises
    ------
    InputError
        Not a cytosine report; missing, truncated or malformed file (naming
        file, line and column).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt != "cytosine_report":
        raise InputError(f"iter_tallies reads cytosine reports, not {fmt!r}", file=str(path))
    if min_coverage < 1:
        raise InputError("min_coverage must be at least 1", value=min_coverage)
    for _, n, names, codes, _, table in _parsed_blocks(
            path, True, 0, block_size or FAST_BLOCK_SIZE, min_coverage):
        if n:
            chroms = tuple(names[c] for c in sorted(set(codes.tolist())))
            yield ContextTally(table, n, chroms, min_coverage)  # type: ignore[arg-type]


def _nulls(batch: pa.RecordBatch) -> int:
    return sum(batch.column(i).null_count for i in range(batch.num_columns))


def _check_sorted(
    path: Path,
    chrom: np.ndarray,
    pos: np.ndarray,
    last_chrom: int,
    last_pos: int,
    finished: set[int],
    line_offset: int,
    names: list[str],
) -> tuple[int, int]:
    prev_chrom = np.empty_like(chrom)
    prev_chrom[0] = last_chrom
    prev_chrom[1:] = chrom[:-1]
    prev_pos = np.empty_like(pos)
    prev_pos[0] = last_pos
    prev_pos[1:] = pos[:-1]
    same = chrom == prev_chrom
    bad_pos = np.flatnonzero(same & (pos < prev_pos))
    first_bad = int(bad_pos[0]) if len(bad_pos) else len(pos)
    for i in np.flatnonzero(~same):
        if i >= first_bad:
            break
        if prev_chrom[i] >= 0:
            finished.add(int(prev_chrom[i]))
        if int(chrom[i]) in finished:
            raise InputError(
                f"input is not sorted: chromosome {names[chrom[i]]!r} appears again after "
                "other chromosomes (sort with `sort -k1,1 -k2,2n`)",
                file=str(path),
                row=line_offset + int(i) + 1,
            )
    if first_bad < len(pos):
        raise InputError(
            f"input is not sorted: position {int(pos[first_bad])} comes after "
            f"{int(prev_pos[first_bad])} on {names[chrom[first_bad]]!r}",
            file=str(path),
            row=line_offset + first_bad + 1,
        )
    return int(chrom[-1]), int(pos[-1])


def read_calls(path: str | Path, fmt: str | None = None, **kwargs: object) -> MethylationCalls:
    """Read a whole call file into memory (see :func:`iter_calls` for options)."""
    return MethylationCalls.concat(iter_calls(path, fmt, **kwargs))  # type: ignore[arg-type]


__all__ = ["DEFAULT_BLOCK_SIZE", "FAST_BLOCK_SIZE", "TEXT_FORMATS", "detect_format", "iter_calls",
           "iter_tallies", "known_annotation", "read_calls"]
