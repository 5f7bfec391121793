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


@njit(nogil=True, cache=True)
def parse_block(buf, layout, pos, strand, meth, unmeth, ctx, tri, run_row, run_start, run_end):  # type: ignore[no-untyped-def]
    """Parse the tab-separated lines of ``buf`` (which must end with a newline).

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
                if i == s or (c != TAB and c != NL and c != CR):
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
