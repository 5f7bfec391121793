"""Read tabular import files (CSV / XLSX) into raw text rows.

Rows keep the number a spreadsheet shows for them (the header is row 1), so
every error can name file, row and column. No value is interpreted here; the
pydantic row schemas (:mod:`decidua.io.schemas`) do that.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from decidua.errors import InputError, Problem

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
#: Refuse files larger than this before parsing (a clinic file is far smaller).
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class RawTable:
    """Header and rows of one import file, values as stripped text or ``None``.

    Attributes
    ----------
    path
        The file as given by the user (used in messages).
    sha256
        Checksum of the file's bytes (provenance).
    columns
        Normalised header names (stripped, lower case).
    rows
        ``(row_number, {column: text or None})`` for every non-blank data row.
    """

    path: str
    sha256: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str | None]], ...]


def _normalise_header(name: object) -> str:
    return str(name if name is not None else "").strip().lower().replace(" ", "_")


def _clean(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _check_header(path: str, header: list[str]) -> tuple[str, ...]:
    names = [_normalise_header(h) for h in header]
    problems = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name:
            problems.append(Problem(f"header cell {i} is empty", path, 1))
        elif name in seen:
            problems.append(Problem("column appears twice in the header", path, 1, name))
        seen[name] = i
    if problems:
        raise InputError(problems)
    return tuple(names)


def _read_csv(path: str, data: bytes) -> tuple[tuple[str, ...], list[tuple[int, dict]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not valid UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as CSV UTF-8",
            file=path,
            row=line,
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError("file contains NUL bytes: not a text/CSV file", file=path, row=line)
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"unreadable CSV header: {exc}", file=path, row=1) from None
    if header is None or not any(h.strip() for h in header):
        raise InputError("file is empty (no header row)", file=path)
    columns = _check_header(path, header)
    rows: list[tuple[int, dict]] = []
    problems: list[Problem] = []
    try:
        for fields in reader:
            row_no = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(columns):
                problems.append(
                    Problem(
                        f"has {len(fields)} fields but the header has {len(columns)}",
                        path,
                        row_no,
                    )
                )
                if len(problems) >= 200:
                    break
                continue
            rows.append((row_no, {c: _clean(v) for c, v in zip(columns, fields, strict=True)}))
    except csv.Error as exc:
        problems.append(Problem(f"malformed CSV: {exc}", path, reader.line_num))
    if problems:
        raise InputError(problems)
    return columns, rows


def _read_xlsx(path: str, data: bytes) -> tuple[tuple[str, ...], list[tuple[int, dict]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"not a valid XLSX workbook ({exc})", file=path) from None
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = next(it, None)
        if header is None or not any(_clean(h) for h in header):
            raise InputError("workbook's first sheet is empty (no header row)", file=path)
        # Trailing empty header cells are common in spreadsheets.
        header_list = list(header)
        while header_list and _clean(header_list[-1]) is None:
            header_list.pop()
        columns = _check_header(path, [str(h) if h is not None else "" for h in header_list])
        rows = []
        for row_no, values in enumerate(it, start=2):
            cells = [_clean(v) for v in values]
            if not any(c is not None for c in cells):
                continue
            extra = [c for c in cells[len(columns) :] if c is not None]
            if extra:
                raise InputError(
                    "has values beyond the last header column", file=path, row=row_no
                )
            cells += [None] * (len(columns) - len(cells))
            rows.append((row_no, dict(zip(columns, cells[: len(columns)], strict=True))))
    finally:
        wb.close()
    return columns, rows


def read_table(path: str | Path) -> RawTable:
    """Read a CSV (comma, semicolon or tab separated; UTF-8) or XLSX file.

    Parameters
    ----------
    path
        File to read; the type is chosen from the suffix.

    Returns
    -------
    RawTable

    Raises
    ------
    InputError
        For a missing, empty, oversized, non-UTF-8 or malformed file, naming
        the row where the problem is.
    """
    p = Path(path)
    shown = str(path)
    if not p.is_file():
        raise InputError("file not found", file=shown)
    size = p.stat().st_size
    if size == 0:
        raise InputError("file is empty", file=shown)
    if size > MAX_FILE_BYTES:
        raise InputError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB", file=shown)
    data = p.read_bytes()
    suffix = p.suffix.lower()
    if suffix in CSV_SUFFIXES:
        columns, rows = _read_csv(shown, data)
    elif suffix in XLSX_SUFFIXES:
        columns, rows = _read_xlsx(shown, data)
    else:
        raise InputError(
            f"unsupported file type {suffix or '(none)'}: use .csv or .xlsx", file=shown
        )
    return RawTable(shown, hashlib.sha256(data).hexdigest(), columns, tuple(rows))
