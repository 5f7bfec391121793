"""Tabular qPCR exports: QuantStudio / 7500 / ViiA 7, Bio-Rad CFX, plain long CSV.

The file is read into rows of text (CSV/TSV/text export or the relevant xlsx
sheet), the header row is located by its column names, and each data row
becomes one :class:`Well`. Row numbers are those a spreadsheet or text editor
shows (first line = 1), so errors can point at them.

- **QuantStudio / 7500** (Thermo Fisher): in text exports the table after a
  ``[Results]`` line; in xlsx the ``Results`` sheet, whose header row (``Well``,
  ``Well Position``, ``Sample Name``, ``Target Name``, ``Task`` ...) sits below a
  ``key = value`` preamble. The Cq column is ``CT``, ``Cт`` (7500 v2 writes a
  Cyrillic te), ``CRT`` (relative threshold) or ``Cq``; ``Undetermined`` means
  no Cq. ``Omit = true`` wells are kept but flagged and not used. The settings
  printed below the table (``Endogenous Control``, ``Reference Sample``) are
  kept in ``Plate.vendor``.
- **Bio-Rad CFX** "Quantification Cq Results": columns ``Well`` (``A01``),
  ``Fluor``, ``Target``, ``Content`` (``Unkn``, ``Std``, ``NTC`` ...),
  ``Sample``, ``Cq`` (``NaN`` = no Cq), ``Starting Quantity (SQ)``. An empty
  ``Target`` falls back to the ``Fluor``.
- **Long CSV**: ``well, sample, target, cq`` (any case, any order), optional
  ``task`` and ``quantity``; wells A1-H12 or A1-P24.
"""

from __future__ import annotations

import csv
import io
import math
import re

from decidua.assays.qpcr.wells import (
    Plate,
    Well,
    normalise_task,
    normalise_well,
    well_from_index,
)
from decidua.errors import InputError, Problem

#: Text meaning "no Cq" in the exports we read.
NO_CQ = {"", "undetermined", "nan", "n/a", "na", "no cq", "none", "-", "no ct"}
_CQ_HEADERS = {"ct", "crt", "cq", "c_t", "cт".lower()}


def _norm(h: object) -> str:
    text = "" if h is None else str(h)
    text = text.replace("\u0442", "t").replace("\u0422", "T")  # Cyrillic te (7500 "Cт")
    return re.sub(r"\s+", " ", text).strip().lower()


def _decode(data: bytes) -> str:
    encodings = ("utf-16",) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",)
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def _text_rows(data: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(data)
    lines = text.splitlines()
    sample = "\n".join(lines[:200])
    delim = "\t" if sample.count("\t") >= sample.count(",") else ","
    if delim == "," and sample.count(";") > sample.count(","):
        delim = ";"
    out = []
    for n, row in enumerate(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim), start=1):
        out.append((n, [c.strip() for c in row]))
    return out


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        # integers (well numbers) without ".0"; other floats at full precision
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v).strip()


def _xlsx_sheets(data: bytes, file: str):
    """Yield ``(title, rows)`` per sheet, a sheet called "Results" first (read lazily:
    instrument workbooks carry large raw-data sheets that are never needed)."""
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Workbook contains no default style"
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise InputError(f"unreadable xlsx workbook ({exc.__class__.__name__})",
                         file=file) from None
    try:
        for ws in sorted(wb.worksheets, key=lambda w: _norm(w.title) != "results"):
            rows = [(n, [_cell(v) for v in r])
                    for n, r in enumerate(ws.iter_rows(values_only=True), start=1)]
            yield ws.title, rows
    finally:
        wb.close()


def _number(text: str) -> float:
    """A float, also with a decimal comma (``"21,18"``, semicolon/tab-separated exports)."""
    try:
        return float(text)
    except ValueError:
        if re.fullmatch(r"[-+]?\d+,\d+", text.strip()):
            return float(text.replace(",", "."))
        raise


def _find_header(rows, start: int = 0):
    """Return (index, kind, columns) of the first header row at or after ``start``."""
    for i in range(start, len(rows)):
        cols = [_norm(c) for c in rows[i][1]]
        s = set(cols)
        has_cq = bool(s & _CQ_HEADERS)
        if not has_cq:
            continue
        if "well" in s and "content" in s and ("fluor" in s or "sample" in s):
            return i, "cfx", cols
        targetish = s & {"target name", "target", "detector", "detector name"}
        sampleish = s & {"sample name", "sample"}
        if "well position" in s and targetish and sampleish:
            return i, "quantstudio", cols  # QuantStudio 1-7 / Design & Analysis / ViiA 7
        if "sample name" in s and targetish and "well" in s:
            return i, "quantstudio", cols  # 7500 / StepOne (Well = position)
        if {"well", "sample", "target"} <= s:
            return i, "long-csv", cols
    return None


def read_table(data: bytes, file: str, sha256: str, *, is_xlsx: bool,
               fmt: str | None = None) -> Plate:
    """Parse a tabular export (text or xlsx) into a plate."""
    found = None
    rows: list = []
    if is_xlsx:
        for _title, rows in _xlsx_sheets(data, file):
            found = _find_header(rows)
            if found:
                break
    else:
        rows = _text_rows(data)
        start = 0
        for i, (_, r) in enumerate(rows):
            if r and _norm(r[0]) == "[results]":
                start = i + 1
                break
        found = _find_header(rows, start)
    if not found:
        raise InputError(
            "not a qPCR export Decidua reads: no header row with well, sample, target and a "
            "Cq column (CT, CRT or Cq) - expected RDML, QuantStudio/7500 [Results], Bio-Rad "
            "CFX Quantification Cq Results, or a long CSV well,sample,target,cq",
            file=file)
    idx, kind, cols = found
    if fmt is not None and fmt != kind:
        raise InputError(f"file looks like {kind}, not {fmt}", file=file)
    return _parse(rows, idx, kind, cols, file, sha256)


def _col(cols: list[str], *names: str) -> int | None:
    for name in names:
        if name in cols:
            return cols.index(name)
    return None


def _parse(rows, idx, kind, cols, file, sha256) -> Plate:
    c_cq = next(i for i, c in enumerate(cols) if c in _CQ_HEADERS)
    cq_name = rows[idx][1][c_cq]
    # one column mapping for every layout: the vendor's names, most specific first
    c_well = _col(cols, "well position", "well")
    c_well_alt = _col(cols, "well") if c_well != _col(cols, "well") else None
    c_sample = _col(cols, "sample name", "sample")
    c_target = _col(cols, "target name", "target", "detector", "detector name", "assay")
    c_task = _col(cols, "task", "content")
    c_qty = _col(cols, "quantity", "starting quantity (sq)", "sq", "starting quantity")
    c_omit = _col(cols, "omit")
    c_fluor = _col(cols, "fluor", "reporter")
    wells: list[Well] = []
    problems: list[Problem] = []
    vendor: dict[str, str] = {}
    width = len(cols)

    # a numeric well (no position column): row-major on the block the preamble names
    block_columns = None
    for _, r in rows[:idx]:
        if r and "block type" in _norm(r[0]):
            text = " ".join(r)
            block_columns = 24 if "384" in text else 12 if "96" in text else None

    def get(r, c):
        return r[c].strip() if c is not None and c < len(r) else ""

    for n, r in rows[idx + 1:]:
        if not any(x.strip() for x in r):
            if kind == "long-csv":
                continue
            # QuantStudio: a blank line ends the table; settings may follow
            break
        if r[0].startswith("["):
            break
        if kind != "long-csv" and len([x for x in r if x]) <= 2 and width > 3:
            # "Endogenous Control = GAPDH" style trailer inside the table area
            _vendor_setting(r, vendor)
            continue
        raw_well = get(r, c_well) or get(r, c_well_alt)
        well = normalise_well(raw_well)
        if well is None and raw_well.isdigit() and block_columns:
            well = well_from_index(int(raw_well), block_columns)
        if well is None:
            problems.append(Problem("well must be a plate position A1-H12 or A1-P24",
                                    file, n, cols[c_well] if c_well is not None else "well",
                                    raw_well))
            continue
        sample = get(r, c_sample)
        target = get(r, c_target) or get(r, c_fluor)
        if not target and not sample and _norm(get(r, c_cq)) in NO_CQ:
            continue  # an empty well listed by the instrument
        if not target:
            problems.append(Problem("target is empty", file, n, "target"))
            continue
        task_text = get(r, c_task)
        task = normalise_task(task_text)
        if task is None:
            problems.append(Problem("unknown task / content", file, n,
                                    cols[c_task] if c_task is not None else "task", task_text))
            continue
        if kind == "long-csv" and c_task is None and sample.strip().upper() == "NTC":
            task = "ntc"
        raw_cq = get(r, c_cq)
        flags: list[str] = []
        cq: float | None
        if _norm(raw_cq) in NO_CQ:
            cq = None
            flags.append(f"undetermined ({raw_cq or 'blank'})")
        else:
            try:
                cq = _number(raw_cq)
            except ValueError:
                problems.append(Problem("Cq must be a number or Undetermined", file, n,
                                        cq_name, raw_cq))
                continue
            if not math.isfinite(cq) or cq <= 0:
                flags.append(f"undetermined ({raw_cq})")
                cq = None
        qty_text = get(r, c_qty)
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d*)?", qty_text):
            qty_text = qty_text.replace(",", "")  # thousands separators: "5,720.562"
        quantity = None
        if qty_text and _norm(qty_text) not in NO_CQ:
            try:
                quantity = _number(qty_text)
            except ValueError:
                problems.append(Problem("quantity must be a number", file, n,
                                        cols[c_qty] if c_qty is not None else "quantity",
                                        get(r, c_qty)))
                continue
            if not math.isfinite(quantity):
                quantity = None
        omitted = _norm(get(r, c_omit)) in ("true", "1", "yes")
        if omitted:
            flags.append("omitted by the instrument user")
        wells.append(Well(well=well, sample=sample, target=target, cq=cq, task=task,
                          quantity=quantity, row=n, omitted=omitted, flags=tuple(flags)))
    # settings printed after the table (QuantStudio)
    if kind == "quantstudio":
        for _, r in rows[idx + 1:]:
            _vendor_setting(r, vendor)
    if problems:
        raise InputError(problems)
    instrument = None
    for _, r in rows[:idx]:
        if r and "instrument type" in _norm(r[0]):
            if "=" in r[0]:
                instrument = r[0].split("=", 1)[-1].strip()
            elif len(r) > 1:
                instrument = r[1]
    return Plate(path=file, sha256=sha256, format=kind, wells=tuple(wells),
                 instrument=instrument or None, vendor=vendor)


_SETTINGS = {"endogenous control": "endogenous_control",
             "reference sample": "reference_sample",
             "rq min/max confidence level": "rq_confidence_level"}


def _vendor_setting(r: list[str], vendor: dict[str, str]) -> None:
    cells = [x for x in r if x]
    if not cells:
        return
    if len(cells) == 1 and "=" in cells[0]:
        key, value = (p.strip() for p in cells[0].split("=", 1))
    elif len(cells) == 2:
        key, value = cells
    else:
        return
    k = _SETTINGS.get(_norm(key))
    if k:
        vendor[k] = value
