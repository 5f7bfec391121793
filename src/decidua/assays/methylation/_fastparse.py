# ruff: noqa: SIM109, SIM110  (numba-compiled loops: keep plain comparisons)
"""Byte-level parser (numba, GIL-free) for the large tab-separated call layouts.

One compiled loop reads every layout; a *layout* is a small array naming what
each tab-separated column holds (:data:`REPORT_LAYOUT` for cytosine reports,
:data:`COV_LAYOUT` for Bismark coverage files and bedGraphs). The reader
thread hands over blocks of complete lines; worker threads parse them with
:func:`parse_block` while holding no GIL, so both cores work.

:func:`parse_block` returns the rows parsed, the chromosome runs found, the
lines consumed, an error code and the 0-based column of the first error
(``-1`` if none); the caller turns errors into an
:class:`~decidua.errors.InputError` naming file, line and column.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit


def _load_numba_target_without_scipy_linalg() -> None:
    """Load numba's array-math registry without its ``scipy.linalg`` import.

    On the first call of any compiled function numba imports
    ``numba.np.arraymath``, which imports all of ``scipy.linalg`` only to set
    a flag saying whether BLAS is available (``_HAVE_BLAS``, via
    ``numba.np.linalg.ensure_blas``): a quarter to a half of the parser's
    start-up, for loops that use no BLAS. SciPy is a declared dependency, so
    the flag is true; it is set without that import. Every later BLAS use
    (``np.dot`` and ``np.linalg`` in compiled code) still calls numba's own
    check, restored right after.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        import numba.np.linalg as nb_linalg

        check = nb_linalg.ensure_blas
    except (ImportError, AttributeError):  # pragma: no cover - another numba layout
        return
    nb_linalg.ensure_blas = lambda: None
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        nb_linalg.ensure_blas = check


_load_numba_target_without_scipy_linalg()

ERR_NONE = 0
ERR_COLUMNS = 1
ERR_INTEGER = 2
ERR_NEGATIVE = 3
ERR_STRAND = 4

TAB = 9
NL = 10
CR = 13
MINUS = 45

#: Column kinds of a layout.
COL_CHROM = 0
COL_POS = 1
COL_STRAND = 2
COL_METH = 3
COL_UNMETH = 4
COL_CONTEXT = 5
COL_TRI = 6
COL_SKIP = 7

#: Bismark / MethylDackel cytosine report: chrom, pos, strand, meth, unmeth, context, tri.
REPORT_LAYOUT = np.array(
    [COL_CHROM, COL_POS, COL_STRAND, COL_METH, COL_UNMETH, COL_CONTEXT, COL_TRI], dtype=np.uint8
)
#: Bismark coverage / MethylDackel bedGraph: chrom, start, end, percent, meth, unmeth.
COV_LAYOUT = np.array(
    [COL_CHROM, COL_POS, COL_SKIP, COL_SKIP, COL_METH, COL_UNMETH], dtype=np.uint8
)

#: Shortest possible line (bytes, newline included) of either layout: bounds rows per block.
MIN_LINE_BYTES = 10

_BASE = np.full(256, 4, dtype=np.uint8)
for _k, _b in enumerate(b"ACGT"):
    _BASE[_b] = _k
    _BASE[_b + 32] = _k


@njit(inline="always")
def _int_field(buf, i):  # type: ignore[no-untyped-def]
    """An optionally signed decimal integer starting at ``buf[i]``.

    Returns ``(value, negative, end, ok)``: ``end`` indexes the byte after the digits and
    ``ok`` says there was at least one digit and the field ends at a tab, newline or CR.
    Inlined into both kernels (measured: as fast as the written-out loop; inlined helpers
    for the other fields made :func:`parse_report` 1.9-2.7x slower, so those stay
    written out).
    """
    neg = buf[i] == MINUS
    if neg:
        i += 1
    s = i
    v = 0
    while True:
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            break
        v = v * 10 + d
        i += 1
    c = buf[i]
    return v, neg, i, i != s and (c == TAB or c == NL or c == CR)


@njit(inline="always")
def _tally(table, c, t, m, u, min_coverage):  # type: ignore[no-untyped-def]
    """Add one site to a :func:`context_table` table (the one place that sums a site)."""
    cov = m + u
    if cov < min_coverage or cov <= 0:
        return
    d = 5 if t == 255 else t // 5
    table[c, d, 0] += 1.0
    table[c, d, 1] += m
    table[c, d, 2] += u
    table[c, d, 3] += m / cov


@njit(nogil=True, cache=True)
def parse_block(buf, layout, pos, strand, meth, unmeth, ctx, tri, run_row, run_start, run_end):  # type: ignore[no-untyped-def]
    """Parse the tab-separated lines of ``buf`` (which must end with a newline).

    Any layout; cytosine reports are read faster by :func:`parse_report`.

    Parameters
    ----------
    buf
        ``uint8`` bytes of complete lines.
    layout
        Column kinds (:data:`REPORT_LAYOUT`, :data:`COV_LAYOUT`).
    pos, strand, meth, unmeth, ctx, tri
        Output columns, each with room for ``len(buf) // MIN_LINE_BYTES + 1``
        rows (``strand``, ``ctx`` and ``tri`` are left untouched by layouts
        without those columns).
    run_row, run_start, run_end
        Chromosome runs: run ``k`` starts at row ``run_row[k]`` and its name is
        ``buf[run_start[k]:run_end[k]]``.

    Returns
    -------
    tuple
        ``(rows, n_runs, lines, err_code, err_col)``; ``lines`` counts the lines
        consumed before the first error.
    """
    n_bytes = buf.shape[0]
    ncol = layout.shape[0]
    i = 0
    row = 0
    n_runs = 0
    lines = 0
    prev_s = -1
    prev_e = -1
    if n_bytes == 0:
        return 0, 0, 0, ERR_NONE, -1
    if buf[n_bytes - 1] != NL:
        return 0, 0, 0, ERR_COLUMNS, 0
    while i < n_bytes:
        if buf[i] == NL:  # empty line
            i += 1
            lines += 1
            continue
        for col in range(ncol):
            kind = layout[col]
            if kind == COL_POS or kind == COL_METH or kind == COL_UNMETH:
                v, neg, i, ok = _int_field(buf, i)
                if not ok:
                    return row, n_runs, lines, ERR_INTEGER, col
                if kind == COL_POS:
                    pos[row] = -v if neg else v
                elif neg:
                    return row, n_runs, lines, ERR_NEGATIVE, col
                elif kind == COL_METH:
                    meth[row] = v
                else:
                    unmeth[row] = v
            elif kind == COL_CHROM:
                s = i
                while buf[i] != TAB and buf[i] != NL:
                    i += 1
                e = i
                same = prev_s >= 0 and e - s == prev_e - prev_s
                if same:
                    for k in range(e - s):
                        if buf[s + k] != buf[prev_s + k]:
                            same = False
                            break
                if not same:
                    run_row[n_runs] = row
                    run_start[n_runs] = s
                    run_end[n_runs] = e
                    n_runs += 1
                    prev_s = s
                    prev_e = e
            elif kind == COL_STRAND:
                c = buf[i]
                if c == 43:
                    strand[row] = 1
                elif c == 45:
                    strand[row] = -1
                else:
                    return row, n_runs, lines, ERR_STRAND, col
                i += 1
            else:
                s = i
                while buf[i] != TAB and buf[i] != NL:
                    i += 1
                e = i
                if e > s and buf[e - 1] == CR:
                    e -= 1
                ln = e - s
                if kind == COL_CONTEXT:  # CG -> 0, CHG -> 1, CHH -> 2, else 3
                    if ln >= 2 and buf[s + 1] == 71:
                        ctx[row] = 0
                    elif ln >= 3 and buf[s + 2] == 71:
                        ctx[row] = 1
                    elif ln >= 3 and buf[s + 2] == 72:
                        ctx[row] = 2
                    else:
                        ctx[row] = 3
                elif kind == COL_TRI:
                    if ln >= 3:
                        tri[row] = _BASE[buf[s + 1]] * 5 + _BASE[buf[s + 2]]
                    else:
                        tri[row] = 255
            # delimiter after the column
            c = buf[i]
            if col == ncol - 1:
                if c == CR:
                    i += 1
                    c = buf[i]
                if c != NL:
                    return row, n_runs, lines, ERR_COLUMNS, col + 1
            elif c != TAB:
                return row, n_runs, lines, ERR_COLUMNS, col
            i += 1
        row += 1
        lines += 1
    return row, n_runs, lines, ERR_NONE, -1


@njit(nogil=True, cache=True)
def parse_report(buf, pos, strand, meth, unmeth, ctx, tri, run_row, run_start, run_end,  # type: ignore[no-untyped-def]
                 table, min_coverage):
    """:func:`parse_block` for :data:`REPORT_LAYOUT`, written out column by column.

    Same arguments (without ``layout``), results and errors as
    :func:`parse_block` (tests/assays/methylation compare the two on random
    and malformed text); about 40% faster, having no layout loop. The
    columns are written out here rather than shared with :func:`parse_block`
    through small compiled helpers: an inlined numba function that takes the
    buffer costs a reference-count increment and decrement per call, i.e.
    per row (measured: 0.06 s per helper per 9 M rows, a quarter of this loop).

    With a non-empty ``table`` (``4 × 6 × 4`` float64) it *tallies* instead
    of storing: each site is added to ``table`` as :func:`context_table`
    adds it (sites with coverage ≥ ``min_coverage``, in row order, so the
    sums are bit-identical) and the columns are not written (they may be
    empty arrays). Chromosome runs are recorded either way.
    """
    n_bytes = buf.shape[0]
    keep = table.shape[0] == 0
    i = 0
    row = 0
    n_runs = 0
    lines = 0
    prev_s = -1
    prev_e = -1
    if n_bytes == 0:
        return 0, 0, 0, ERR_NONE, -1
    if buf[n_bytes - 1] != NL:
        return 0, 0, 0, ERR_COLUMNS, 0
    while i < n_bytes:
        if buf[i] == NL:  # empty line
            i += 1
            lines += 1
            continue
        # 0 chrom: a new run when it differs from the last one
        s = i
        while buf[i] != TAB and buf[i] != NL:
            i += 1
        e = i
        same = prev_s >= 0 and e - s == prev_e - prev_s
        if same:
            for k in range(e - s):
                if buf[s + k] != buf[prev_s + k]:
                    same = False
                    break
        if not same:
            run_row[n_runs] = row
            run_start[n_runs] = s
            run_end[n_runs] = e
            n_runs += 1
            prev_s = s
            prev_e = e
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 0
        i += 1
        # 1 pos (may be negative, as in parse_block)
        p, neg, i, ok = _int_field(buf, i)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 1
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 1
        i += 1
        # 2 strand
        c = buf[i]
        if c == 43:
            sd = 1
        elif c == 45:
            sd = -1
        else:
            return row, n_runs, lines, ERR_STRAND, 2
        i += 1
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 2
        i += 1
        # 3 methylated
        m, neg_m, i, ok = _int_field(buf, i)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 3
        if neg_m:
            return row, n_runs, lines, ERR_NEGATIVE, 3
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 3
        i += 1
        # 4 unmethylated
        u, neg_u, i, ok = _int_field(buf, i)
        if not ok:
            return row, n_runs, lines, ERR_INTEGER, 4
        if neg_u:
            return row, n_runs, lines, ERR_NEGATIVE, 4
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 4
        i += 1
        # 5 context: CG -> 0, CHG -> 1, CHH -> 2, else 3
        s = i
        while buf[i] != TAB and buf[i] != NL:
            i += 1
        e = i
        if e > s and buf[e - 1] == CR:
            e -= 1
        ln = e - s
        if ln >= 2 and buf[s + 1] == 71:
            cx = 0
        elif ln >= 3 and buf[s + 2] == 71:
            cx = 1
        elif ln >= 3 and buf[s + 2] == 72:
            cx = 2
        else:
            cx = 3
        if buf[i] != TAB:
            return row, n_runs, lines, ERR_COLUMNS, 5
        i += 1
        # 6 trinucleotide: 5 * base2 + base3, 255 if shorter than 3
        s = i
        while buf[i] != TAB and buf[i] != NL:
            i += 1
        e = i
        if e > s and buf[e - 1] == CR:
            e -= 1
        t = _BASE[buf[s + 1]] * 5 + _BASE[buf[s + 2]] if e - s >= 3 else 255
        if buf[i] != NL:  # the field ends at a tab or newline (a CR is part of it)
            return row, n_runs, lines, ERR_COLUMNS, 7
        i += 1
        if keep:
            pos[row] = -p if neg else p
            strand[row] = sd
            meth[row] = m
            unmeth[row] = u
            ctx[row] = cx
            tri[row] = t
        else:
            _tally(table, cx, t, m, u, min_coverage)
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
        _tally(out, ctx[i], tri[i], meth[i], unmeth[i], min_coverage)
    return out
