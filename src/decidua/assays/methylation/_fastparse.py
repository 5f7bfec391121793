# ruff: noqa: SIM109, SIM110  (numba-compiled loops: keep plain comparisons)
"""Byte-level parsers (numba, GIL-free) for the large Bismark text layouts.

A producer thread reads and decompresses blocks of bytes while the consumer
parses complete lines with these compiled loops, so both cores work. Each
parser returns the rows parsed, the chromosome runs found, the lines consumed,
an error code and the 0-based column of the first error (``-1`` if none),
which the caller turns into an :class:`~decidua.errors.InputError` naming file
and line.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ERR_NONE = 0
ERR_COLUMNS = 1
ERR_INTEGER = 2
ERR_NEGATIVE = 3
ERR_STRAND = 4

TAB = 9
NL = 10
CR = 13
MINUS = 45


@njit(nogil=True, cache=True)
def _base_code(b: int) -> int:
    if b == 65 or b == 97:
        return 0
    if b == 67 or b == 99:
        return 1
    if b == 71 or b == 103:
        return 2
    if b == 84 or b == 116:
        return 3
    return 4


@njit(nogil=True, cache=True)
def _parse_int(buf, i, end):  # type: ignore[no-untyped-def]
    """Parse a (possibly negative) decimal integer ending at TAB/NL; return (value, next, ok)."""
    neg = False
    if i < end and buf[i] == MINUS:
        neg = True
        i += 1
    start = i
    v = 0
    while i < end:
        c = buf[i]
        if c == TAB or c == NL or c == CR:
            break
        d = c - 48
        if d < 0 or d > 9:
            return 0, i, False
        v = v * 10 + d
        i += 1
    if i == start:
        return 0, i, False
    if neg:
        v = -v
    return v, i, True


@njit(nogil=True, cache=True)
def _skip_field(buf, i, end):  # type: ignore[no-untyped-def]
    while i < end:
        c = buf[i]
        if c == TAB or c == NL:
            break
        i += 1
    return i


@njit(nogil=True, cache=True)
def _chrom_run(buf, s, e, prev_s, prev_e):  # type: ignore[no-untyped-def]
    """True if buf[s:e] equals buf[prev_s:prev_e]."""
    if e - s != prev_e - prev_s:
        return False
    for k in range(e - s):
        if buf[s + k] != buf[prev_s + k]:
            return False
    return True


@njit(nogil=True, cache=True)
def parse_report(buf, n_bytes, pos, strand, meth, unmeth, ctx, tri, run_row, run_start, run_end):  # type: ignore[no-untyped-def]
    """Parse 7-column cytosine-report lines in ``buf[:n_bytes]`` (complete lines only).

    Returns ``(rows, n_runs, lines, err_code, err_col)`` where ``lines`` counts the
    lines consumed before the first error. Chromosome names are
    returned as runs: run ``k`` starts at row ``run_row[k]`` and its name is
    ``buf[run_start[k]:run_end[k]]``.
    """
    i = 0
    row = 0
    n_runs = 0
    lines = 0
    prev_s = -1
    prev_e = -1
    cap = pos.shape[0]
    while i < n_bytes and row < cap:
        # chrom
        s = i
        i = _skip_field(buf, i, n_bytes)
        if i >= n_bytes or buf[i] != TAB:
            if i == s:  # empty line
                i += 1
                lines += 1
                continue
            return row, n_runs, lines, ERR_COLUMNS, 0
        if prev_s < 0 or not _chrom_run(buf, s, i, prev_s, prev_e):
            run_row[n_runs] = row
            run_start[n_runs] = s
            run_end[n_runs] = i
            n_runs += 1
            prev_s = s
            prev_e = i
        i += 1
        v, i, ok = _parse_int(buf, i, n_bytes)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 1
        if i >= n_bytes or buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 1
        pos[row] = v
        i += 1
        c = buf[i]
        if c == 43:
            strand[row] = 1
        elif c == 45:
            strand[row] = -1
        else:
            return row, n_runs, lines, ERR_STRAND, 2
        i += 1
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 2
        i += 1
        v, i, ok = _parse_int(buf, i, n_bytes)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 3
        if v < 0:
            return row, n_runs, lines, ERR_NEGATIVE, 3
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 3
        meth[row] = v
        i += 1
        v, i, ok = _parse_int(buf, i, n_bytes)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 4
        if v < 0:
            return row, n_runs, lines, ERR_NEGATIVE, 4
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 4
        unmeth[row] = v
        i += 1
        # context: CG -> 0, CHG -> 1, CHH -> 2, else 3
        s = i
        i = _skip_field(buf, i, n_bytes)
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 5
        ln = i - s
        if ln >= 2 and buf[s + 1] == 71:
            ctx[row] = 0
        elif ln >= 3 and buf[s + 2] == 71:
            ctx[row] = 1
        elif ln >= 3 and buf[s + 2] == 72:
            ctx[row] = 2
        else:
            ctx[row] = 3
        i += 1
        s = i
        i = _skip_field(buf, i, n_bytes)
        e = i
        if e > s and buf[e - 1] == CR:
            e -= 1
        if i < n_bytes and buf[i] == TAB:
            return row, n_runs, lines, ERR_COLUMNS, 7
        if e - s >= 3:
            tri[row] = _base_code(buf[s + 1]) * 5 + _base_code(buf[s + 2])
        else:
            tri[row] = 255
        i += 1
        row += 1
        lines += 1
    return row, n_runs, lines, ERR_NONE, -1


@njit(nogil=True, cache=True)
def parse_cov(buf, n_bytes, pos, meth, unmeth, run_row, run_start, run_end):  # type: ignore[no-untyped-def]
    """Parse 6-column coverage / bedGraph lines (chrom, start, end, pct, meth, unmeth)."""
    i = 0
    row = 0
    n_runs = 0
    lines = 0
    prev_s = -1
    prev_e = -1
    cap = pos.shape[0]
    while i < n_bytes and row < cap:
        s = i
        i = _skip_field(buf, i, n_bytes)
        if i >= n_bytes or buf[i] != TAB:
            if i == s:
                i += 1
                lines += 1
                continue
            return row, n_runs, lines, ERR_COLUMNS, 0
        if prev_s < 0 or not _chrom_run(buf, s, i, prev_s, prev_e):
            run_row[n_runs] = row
            run_start[n_runs] = s
            run_end[n_runs] = i
            n_runs += 1
            prev_s = s
            prev_e = i
        i += 1
        v, i, ok = _parse_int(buf, i, n_bytes)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 1
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 1
        pos[row] = v
        i += 1
        i = _skip_field(buf, i, n_bytes)  # end
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 2
        i += 1
        i = _skip_field(buf, i, n_bytes)  # percent
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 3
        i += 1
        v, i, ok = _parse_int(buf, i, n_bytes)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 4
        if v < 0:
            return row, n_runs, lines, ERR_NEGATIVE, 4
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 4
        meth[row] = v
        i += 1
        v, i, ok = _parse_int(buf, i, n_bytes)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 5
        if v < 0:
            return row, n_runs, lines, ERR_NEGATIVE, 5
        if buf[i] == CR:
            i += 1
        if i < n_bytes and buf[i] != NL:
            return row, n_runs, lines, ERR_COLUMNS, 6
        unmeth[row] = v
        i += 1
        row += 1
        lines += 1
    return row, n_runs, lines, ERR_NONE, -1


@njit(nogil=True, cache=True)
def context_table(ctx, tri, meth, unmeth, min_coverage):  # type: ignore[no-untyped-def]
    """Sums per (context code, dinucleotide code) in one pass.

    Returns a ``4 × 6 × 4`` array: context (CG, CHG, CHH, N) × second base
    (A, C, G, T, N, unknown trinucleotide) × (n_sites, methylated,
    unmethylated, sum of per-site fractions), over sites with coverage ≥
    ``min_coverage``.
    """
    out = np.zeros((4, 6, 4), dtype=np.float64)
    for i in range(ctx.shape[0]):
        m = meth[i]
        cov = m + unmeth[i]
        if cov < min_coverage or cov <= 0:
            continue
        t = tri[i]
        d = 5 if t == 255 else t // 5
        c = ctx[i]
        out[c, d, 0] += 1.0
        out[c, d, 1] += m
        out[c, d, 2] += unmeth[i]
        out[c, d, 3] += m / cov
    return out


@njit(nogil=True, cache=True)
def count_lines(buf, n_bytes):  # type: ignore[no-untyped-def]
    """Number of newline bytes in ``buf[:n_bytes]``."""
    k = 0
    for i in range(n_bytes):
        if buf[i] == NL:
            k += 1
    return k
