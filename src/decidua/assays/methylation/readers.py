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
    a reader thread reads and inflates the file (zlib releases the GIL) and
    cuts it at line ends; two worker threads parse blocks with compiled,
    GIL-free byte loops (:mod:`._fastparse`); chromosome names are kept as
    runs, so a sorted file costs one dictionary lookup per chromosome change.
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

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from decidua.assays.methylation import _fastparse as fp
from decidua.assays.methylation.calls import (
    BASE_LUT,
    CONTEXTS,
    CTX_CG,
    CTX_CHG,
    CTX_CHH,
    CTX_UNKNOWN,
    TRI_UNKNOWN,
    MethylationCalls,
)
from decidua.errors import InputError

#: Formats understood by :func:`iter_calls`.
TEXT_FORMATS = ("cytosine_report", "bismark_cov", "bedgraph", "methylkit")

#: Default Arrow block size (bytes of uncompressed text per chunk).
DEFAULT_BLOCK_SIZE = 8 << 20

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class _Layout:
    names: tuple[str, ...]
    types: dict[str, pa.DataType]
    header_lines: int


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
    i64 = pa.int64()
    s = pa.string()
    chrom = pa.dictionary(pa.int32(), pa.string())
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
                 "freqC": pa.float64()}
        return _Layout(names, types, 1)
    raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")


def _bedgraph_context(path: Path) -> int:
    line = _first_line(path)
    for code, name in ((CTX_CHG, "CHG"), (CTX_CHH, "CHH"), (CTX_CG, "CpG")):
        if name in line:
            return code
    return CTX_UNKNOWN


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
    int_cols = [i for i, n in enumerate(layout.names) if layout.types.get(n) == pa.int64()]
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
    block_size: int = DEFAULT_BLOCK_SIZE,
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
        ``"CHG"``, ``"CHH"``); MethylDackel bedGraph headers are read.
    block_size
        Bytes of text per chunk (bounds memory).
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
        if context not in CONTEXTS[:3]:
            raise InputError(f"unknown context {context!r}; expected CG, CHG or CHH")
        fixed_context = CONTEXTS.index(context)
    elif fmt == "bedgraph":
        fixed_context = _bedgraph_context(path)
    if engine not in ("auto", "fast", "arrow"):
        raise InputError(f"unknown engine {engine!r}; expected auto, fast or arrow")
    if engine != "arrow" and fmt in ("cytosine_report", "bismark_cov", "bedgraph"):
        yield from _iter_fast(path, fmt, layout.header_lines, fixed_context, block_size,
                              require_sorted)
        return
    if engine == "fast":
        raise InputError(f"the fast engine does not read {fmt!r} files; use engine='arrow'")
    include = [n for n in layout.names if n in layout.types]
    read_opts = pacsv.ReadOptions(
        column_names=list(layout.names),
        skip_rows=layout.header_lines,
        block_size=block_size,
        use_threads=True,
    )
    parse_opts = pacsv.ParseOptions(delimiter="\t", quote_char=False)
    conv_opts = pacsv.ConvertOptions(column_types=layout.types, include_columns=include)
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


_ERR_TEXT = {
    fp.ERR_COLUMNS: "wrong number of tab-separated columns",
    fp.ERR_INTEGER: "not an integer",
    fp.ERR_NEGATIVE: "negative count",
    fp.ERR_STRAND: "strand must be '+' or '-'",
}

_END = object()


class _Stopped(Exception):
    """The consumer went away; the reader thread ends."""


def _raw_pieces(path: Path, size: int) -> Iterator[bytes]:
    """Yield decompressed (or plain) bytes; raise EOFError on a truncated gzip stream.

    Multi-member gzip (bgzip) is handled; zlib releases the GIL while
    inflating, so this overlaps with parsing on the other core.
    """
    with open(path, "rb") as fh:
        if fh.read(2) != _GZIP_MAGIC:
            fh.seek(0)
            while data := fh.read(size):
                yield data
            return
        fh.seek(0)
        d = zlib.decompressobj(wbits=31)
        while True:
            raw = fh.read(size // 4 or 1)
            if not raw:
                if not d.eof:
                    raise EOFError("compressed file ended before the end-of-stream marker")
                return
            while raw:
                out = d.decompress(raw)
                if out:
                    yield out
                if d.eof:
                    raw = d.unused_data
                    d = zlib.decompressobj(wbits=31)
                    if not raw:
                        nxt = fh.read(size // 4 or 1)
                        if not nxt:
                            return
                        raw = nxt
                else:
                    raw = b""


def _produce(path: Path, block_size: int, header_lines: int, q: queue.Queue,
             stop: threading.Event) -> None:
    """Reader thread: read / decompress blocks, cut them at line ends (no copies)."""

    class _Out:
        @staticmethod
        def put(item: object) -> None:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            raise _Stopped

    out = _Out()
    try:
        carry = b""
        skip = header_lines
        pieces = _raw_pieces(path, block_size)
        while True:
            try:
                data = next(pieces, None)
            except (EOFError, zlib.error, OSError) as exc:
                out.put(("truncated", str(exc)))
                return
            if data is None:
                break
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                carry = buf
                continue
            view = memoryview(buf)
            block, carry = view[:cut], bytes(view[cut:])
            while skip and len(block):
                nl = bytes(block[:65536]).find(b"\n") + 1
                block = block[nl:] if nl else block[len(block):]
                skip -= 1
            if len(block):
                out.put(("block", block))
        if carry:
            out.put(("block", memoryview(carry + b"\n")))
        out.put(_END)
    except _Stopped:
        return
    except BaseException as exc:  # pragma: no cover - handed to the consumer
        with contextlib.suppress(_Stopped):
            out.put(("error", exc))


def _parse_block(block: bytes, report: bool) -> tuple:
    """Parse one block of complete lines (runs without the GIL in a worker)."""
    buf = np.frombuffer(block, dtype=np.uint8)
    cap = fp.count_lines(buf, len(buf)) + 1
    pos = np.empty(cap, np.int64)
    meth = np.empty(cap, np.int64)
    unmeth = np.empty(cap, np.int64)
    run_row = np.empty(cap, np.int64)
    run_start = np.empty(cap, np.int64)
    run_end = np.empty(cap, np.int64)
    if report:
        strand = np.empty(cap, np.int8)
        ctx = np.empty(cap, np.uint8)
        tri = np.empty(cap, np.uint8)
        res = fp.parse_report(buf, len(buf), pos, strand, meth, unmeth, ctx, tri,
                              run_row, run_start, run_end)
    else:
        strand = ctx = tri = None
        res = fp.parse_cov(buf, len(buf), pos, meth, unmeth, run_row, run_start, run_end)
    n = res[0]
    return (res, pos[:n], meth[:n], unmeth[:n],
            None if strand is None else strand[:n],
            None if ctx is None else ctx[:n],
            None if tri is None else tri[:n],
            run_row, run_start, run_end)


def _iter_fast(
    path: Path,
    fmt: str,
    header_lines: int,
    fixed_context: int,
    block_size: int,
    require_sorted: bool,
) -> Iterator[MethylationCalls]:
    q: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(path, block_size, header_lines, q, stop),
                              daemon=True, name="decidua-methylation-reader")
    thread.start()
    names: list[str] = []
    index: dict[bytes, int] = {}
    lines_before = header_lines
    last_chrom, last_pos = -1, -1
    finished: set[int] = set()
    report = fmt == "cytosine_report"
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decidua-methylation-parse")
    pending: deque = deque()
    done = False
    try:
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
                pending.append(("block", item[1], pool.submit(_parse_block, item[1], report)))
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
            (res, pos, meth, unmeth, strand, ctx, tri,
             run_row, run_start, run_end) = entry[2].result()
            n, n_runs, lines, err, _col = res
            if err != fp.ERR_NONE:
                raw = bytes(block)
                text = raw.split(b"\n", lines + 1)[lines] if lines < raw.count(b"\n") else b""
                raise InputError(_ERR_TEXT[err], file=str(path), row=lines_before + lines + 1,
                                 value=text.decode("utf-8", "replace").rstrip("\r"))
            first_line = lines_before + 1
            lines_before += lines
            codes = np.empty(n_runs, np.int32)
            for k in range(n_runs):
                key = bytes(block[run_start[k]:run_end[k]])
                code = index.get(key)
                if code is None:
                    code = len(names)
                    names.append(key.decode("utf-8", "replace"))
                    index[key] = code
                codes[k] = code
            bounds = np.append(run_row[:n_runs], n)
            chrom = np.repeat(codes, np.diff(bounds)).astype(np.int32)
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
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        thread.join()


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


__all__ = ["DEFAULT_BLOCK_SIZE", "TEXT_FORMATS", "detect_format", "iter_calls", "read_calls"]
