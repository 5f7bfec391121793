"""Plain OD grids (CSV or XLSX): rows labelled A-H (or A-P), columns 1-12 (or 1-24).

A grid is found wherever a cell holds ``A`` and the cells below hold ``B``,
``C``, ... with values to their right. The nearest non-empty line above the
grid (other than its ``1 2 ... 12`` header) labels it. Two grids labelled
with wavelengths in nm (e.g. ``450`` and ``570``/``620``/``630``/``650``):
one plate, the longer wavelength subtracted as the reference; otherwise
each grid is a plate of its own, named by its label (or ``<file>#<n>``).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from decidua.errors import InputError
from decidua.io.platereader.common import ROW_LETTERS, ReadPlate, decode, parse_number

_WL_RE = re.compile(r"(\d{3})\s*(nm)?\b", re.IGNORECASE)


def _cells(path: Path) -> list[list[str]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from decidua.io.readers import read_xlsx_cells

        return read_xlsx_cells(path)  # the active sheet; merged cells and formulas checked
    text = decode(path.read_bytes())
    dialect = "excel-tab" if text.count("\t") > text.count(",") else "excel"
    return [list(r) for r in csv.reader(io.StringIO(text), dialect=dialect)]


def _find_grids(rows: list[list[str]]) -> list[tuple[str | None, dict[str, str | None], int, int]]:
    grids = []
    i = 0
    while i < len(rows):
        r = rows[i]
        col = next((k for k, c in enumerate(r) if c.strip() == "A"), None)
        if col is None:
            i += 1
            continue
        n = 0
        while (i + n < len(rows) and len(rows[i + n]) > col
               and rows[i + n][col].strip() == ROW_LETTERS[n]):
            n += 1
            if n == len(ROW_LETTERS):
                break
        if n < 8:
            i += 1
            continue
        nrows = 16 if n >= 16 else 8
        ncols = 24 if nrows == 16 else 12
        values: dict[str, str | None] = {}
        for rr in range(nrows):
            row = rows[i + rr]
            for cc in range(ncols):
                k = col + 1 + cc
                txt = row[k].strip() if k < len(row) else ""
                values[f"{ROW_LETTERS[rr]}{cc + 1}"] = txt or None
        label = None
        for back in range(i - 1, max(i - 4, -1), -1):
            cells = [c.strip() for c in rows[back] if c.strip()]
            if not cells:
                continue
            if all(c.isdigit() for c in cells):
                continue  # the 1..12 header
            label = cells[0]
            break
        grids.append((label, values, nrows, ncols))
        i += nrows
    return grids


def read_grid(path: str | Path) -> list[ReadPlate]:
    """Read plain OD grids from a CSV / TSV / XLSX file (see the module docstring)."""
    p = Path(path)
    grids = _find_grids(_cells(p))
    if not grids:
        raise InputError("no 8 x 12 grid (rows A-H, columns 1-12) found", file=str(p))
    wls = [_WL_RE.search(lab or "") for lab in (g[0] for g in grids)]
    if len(grids) == 2 and all(wls):
        (l1, v1, _, _), (l2, v2, _, _) = grids
        w1, w2 = int(wls[0].group(1)), int(wls[1].group(1))  # type: ignore[union-attr]
        prim, ref = (v1, v2) if w1 < w2 else (v2, v1)
        values: dict[str, str | None] = {}
        for w in prim:
            a, b = parse_number(prim[w]), parse_number(ref.get(w))
            if prim[w] is None:
                values[w] = None
            elif a is None or b is None:
                values[w] = prim[w] if a is None else ref.get(w)
            else:
                values[w] = repr(a - b)
        meta = {"format": "grid", "primary_nm": min(w1, w2), "reference_nm": max(w1, w2)}
        return [ReadPlate(p.stem, values, str(p), meta=meta)]
    return [
        ReadPlate(lab or (p.stem if len(grids) == 1 else f"{p.stem}#{k + 1}"), vals, str(p),
                  meta={"format": "grid"})
        for k, (lab, vals, _, _) in enumerate(grids)
    ]


__all__ = ["read_grid"]
