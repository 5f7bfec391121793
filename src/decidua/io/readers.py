"""The one table reader: CSV / TSV / XLSX / Parquet files into rows or a DataFrame.

Every command that reads a table reads it here, so every file gets the same
checks and every error names the file (and, where it can, the row and column):

- the file exists, is a file, is not empty and not larger than :data:`MAX_FILE_BYTES`;
- CSV/TSV: UTF-8 (a BOM is accepted), no NUL bytes, the delimiter (comma,
  semicolon or tab) chosen from the header, every row as wide as the header,
  gzip-compressed files (``.csv.gz``) read transparently;
- XLSX: the active sheet, or the one named by ``sheet``; a hidden sheet is
  never read unless named. Formulas without a saved (cached) value and merged
  cells in the data range are refused with their row and column, because
  their values would be lost (a merged range keeps its value in its first
  cell only);
- header names unique and non-empty.

Rows keep the number a spreadsheet shows for them: the header is row 1 and
the n-th record after it is row n + 1, also when a quoted value spans several
lines (a CSV's physical line numbers would drift). No value is interpreted in
:func:`read_table`; the pydantic row schemas (:mod:`decidua.io.schemas`) do
that. :func:`read_frame` gives analysis commands a DataFrame with numeric
columns converted.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError, Problem

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".tab"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
#: Refuse files larger than this before parsing (a clinic file is far smaller).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Lone carriage returns end a line too (as in ``io.StringIO(newline="")``).
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")
#: Stop collecting row-shape problems after this many.
MAX_SHAPE_PROBLEMS = 200
#: Cell texts read as missing by :func:`read_frame` (pandas' defaults for CSV).
NA_TEXTS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                      "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                      "nan", "null"})  # fmt: skip


@dataclass(frozen=True)
class RawTable:
    """Header and rows of one table file, values as stripped text or ``None``.

    Attributes
    ----------
    path
        The file as given by the user (used in messages).
    sha256
        Checksum of the file's bytes (provenance).
    columns
        Header names: stripped, and by default lower case with ``_`` for spaces.
    rows
        ``(row_number, {column: text or None})`` for every non-blank data row.
    sheet
        The worksheet read (XLSX), else ``None``.
    """

    path: str
    sha256: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str | None]], ...]
    sheet: str | None = None


def _normalise_header(name: object) -> str:
    return str(name if name is not None else "").strip().lower().replace(" ", "_")


def _plain_header(name: object) -> str:
    return str(name if name is not None else "").strip()


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


def _check_header(path: str, header: list[Any], normalise: bool) -> tuple[str, ...]:
    names = [(_normalise_header if normalise else _plain_header)(h) for h in header]
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


def _check_file(path: str | Path) -> tuple[Path, str]:
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise InputError("file not found", file=shown)
    if not p.is_file():
        raise InputError("expected a file, got a directory", file=shown)
    size = p.stat().st_size
    if size == 0:
        raise InputError("file is empty", file=shown)
    if size > MAX_FILE_BYTES:
        raise InputError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB", file=shown)
    return p, shown


def _kind(p: Path, shown: str, *, text_default: bool) -> tuple[str, bool]:
    """``(csv|xlsx|parquet, gzipped)`` from the file name."""
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    suffix = (suffixes[-2] if gz and len(suffixes) > 1 else "") if gz else p.suffix.lower()
    if suffix in XLSX_SUFFIXES and not gz:
        return "xlsx", False
    if suffix in PARQUET_SUFFIXES and not gz:
        return "parquet", False
    if suffix in CSV_SUFFIXES or text_default:
        return "csv", gz
    # only read_table gets here (read_frame reads any other name as text), and read_table
    # refuses Parquet: do not suggest it
    raise InputError(
        f"unsupported file type {p.suffix.lower() or '(none)'}: use .csv, .tsv or .xlsx",
        file=shown,
    )


def _decoded_lines(path: str, stream: Iterable[bytes], gz: bool) -> Iterator[str]:
    """The file's lines (split at ``\\n``) as text, checked one at a time: UTF-8 (a
    BOM on the first line is dropped), no NUL bytes, a readable gzip stream.
    Memory holds one line, not the file."""
    it = iter(stream)
    line_no = 0
    while True:
        try:
            raw = next(it, None)
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            if not gz:
                raise
            raise InputError(f"not a valid gzip file ({exc})", file=path) from None
        if raw is None:
            return
        line_no += 1
        try:
            text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as CSV UTF-8",
                file=path,
                row=line_no,
            ) from None
        if "\x00" in text:
            raise InputError("file contains NUL bytes: not a text/CSV file", file=path, row=line_no)
        yield text


def _record_lines(lines: Iterable[str]) -> Iterator[str]:
    """Lines as ``io.StringIO(text, newline="")`` gives them (a lone ``\\r`` ends one)."""
    for text in lines:
        if "\r" in text:
            yield from (part for part in _LONE_CR.split(text) if part)
        else:
            yield text


def _too_many_rows(path: str, max_rows: int) -> InputError:
    return InputError(
        f"has more than {max_rows:,} data rows; at most {max_rows:,} are imported at once: "
        "split the file (each part is imported all-or-nothing)",
        file=path,
    )


def _csv_rows(
    path: str,
    stream: Iterable[bytes],
    normalise: bool,
    as_dict: bool = False,
    *,
    gz: bool = False,
    max_rows: int | None = None,
) -> tuple[tuple[str, ...], list[tuple[int, Any]]]:
    lines = _decoded_lines(path, stream, gz)
    first_line = next(lines, "")
    first = first_line.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(
        _record_lines(itertools.chain([first_line], lines)), delimiter=delimiter, strict=True
    )
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"unreadable CSV header: {exc}", file=path, row=1) from None
    if header is None or not any(h.strip() for h in header):
        raise InputError("file is empty (no header row)", file=path)
    columns = _check_header(path, header, normalise)
    rows: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    width = len(columns)
    # The spreadsheet row of a record is its record number (the header is record 1),
    # not reader.line_num, which counts the lines inside quoted values too.
    row_no = 1
    try:
        for row_no, fields in enumerate(reader, start=2):  # noqa: B007 (used after the loop)
            cells = [f.strip() or None for f in fields]
            if not any(cells):
                continue
            if len(cells) != width:
                problems.append(
                    Problem(f"has {len(fields)} fields but the header has {len(columns)}",
                            path, row_no)  # fmt: skip
                )
                if len(problems) >= MAX_SHAPE_PROBLEMS:
                    break
                continue
            if max_rows is not None and len(rows) >= max_rows:
                raise _too_many_rows(path, max_rows)  # stop reading: memory stays bounded
            rows.append((row_no, dict(zip(columns, cells, strict=True)) if as_dict else cells))
    except csv.Error as exc:
        problems.append(Problem(f"malformed CSV: {exc}", path, row_no + 1))
    if problems:
        for _ in lines:  # a text or gzip error later in the file is reported first, as before
            pass
        raise InputError(problems)
    return columns, rows


def _sheet_names(wb: Any) -> str:
    return ", ".join(
        f"{ws.title!r}" + (" (hidden)" if ws.sheet_state != "visible" else "")
        for ws in wb.worksheets
    )


def _choose_sheet(path: str, wb: Any, sheet: str | None) -> Any:
    """The named worksheet, or the active one; a hidden sheet only when named."""
    if sheet is not None:
        if sheet not in wb.sheetnames or sheet not in [ws.title for ws in wb.worksheets]:
            raise InputError(f"no worksheet named {sheet!r}; the workbook has: "
                             f"{_sheet_names(wb)}", file=path, value=sheet)  # fmt: skip
        return wb[sheet]
    ws = wb.active
    if ws is None or ws not in wb.worksheets:
        visible = [w for w in wb.worksheets if w.sheet_state == "visible"]
        if not visible:
            raise InputError("the workbook has no visible worksheet", file=path)
        ws = visible[0]
    if ws.sheet_state != "visible":
        raise InputError(
            f"the active worksheet {ws.title!r} is hidden; name the sheet to read "
            f"(--sheet); the workbook has: {_sheet_names(wb)}", file=path)  # fmt: skip
    return ws


def _xlsx_load(
    path: str, source: Path, sheet: str | None, max_rows: int | None = None
) -> tuple[Any, list[list[Any]]]:
    """The chosen worksheet (full mode: formulas, merged ranges) and its saved values.

    The saved values are read first, row by row (read-only mode): past ``max_rows``
    non-blank data rows reading stops and the file is refused before the whole
    workbook is loaded.
    """
    import warnings

    from openpyxl import load_workbook

    def load(**kw: Any) -> Any:
        try:
            with warnings.catch_warnings():  # openpyxl warns about unsupported extensions
                warnings.simplefilter("ignore")
                return load_workbook(source, **kw)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            raise InputError(f"not a valid XLSX workbook ({exc})", file=path) from None

    # Two views of the workbook: the values Excel saved (cached values, read-only
    # mode, streamed), and the formulas and merged ranges (full mode).
    wb_v = load(read_only=True, data_only=True)
    try:
        title = _choose_sheet(path, wb_v, sheet).title
        values: list[list[Any]] = []
        n_data = 0
        for r in wb_v[title].iter_rows(min_row=1, values_only=True):
            values.append(list(r))
            if len(values) > 1 and any(_clean(v) is not None for v in r):
                n_data += 1
                if max_rows is not None and n_data > max_rows:
                    raise _too_many_rows(path, max_rows)
    finally:
        wb_v.close()
    ws_f = load(data_only=False)[title]
    return ws_f, values


def _xlsx_problems(
    path: str, ws_f: Any, values: list[list[Any]], width: int | None, name: Any
) -> list[Problem]:
    """Merged cells (in the first ``width`` columns) and formulas without a saved value."""
    problems: list[Problem] = []
    for rng in sorted(ws_f.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
        if width is not None and rng.min_col > width:
            continue
        problems.append(Problem(
            f"merged cells {rng.coord}: only the first cell holds the value; unmerge them and "
            "fill every cell", path, rng.min_row, name(rng.min_col)))  # fmt: skip
    for row in ws_f.iter_rows(min_row=1):
        for cell in row:
            if cell.data_type != "f":
                continue
            r, c = cell.row, cell.column
            cached = values[r - 1][c - 1] if r <= len(values) and c <= len(values[r - 1]) else None
            if cached is None:
                problems.append(Problem(
                    "formula without a saved value (the file was not calculated and saved by a "
                    "spreadsheet program): open and save it, or paste the values",
                    path, r, name(c), str(cell.value)))  # fmt: skip
    return problems


def _letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(col)


def _xlsx_rows(
    path: str, source: Path, sheet: str | None, normalise: bool, max_rows: int | None = None
) -> tuple[tuple[str, ...], list[tuple[int, list[str | None]]], str]:
    ws_f, values = _xlsx_load(path, source, sheet, max_rows)
    title = ws_f.title
    if not values or not any(_clean(h) for h in values[0]):
        raise InputError(f"worksheet {title!r} is empty (no header row)", file=path)
    header = list(values[0])
    while header and _clean(header[-1]) is None:  # trailing empty header cells are common
        header.pop()
    columns = _check_header(path, [h if h is not None else "" for h in header], normalise)
    width = len(columns)
    problems = _xlsx_problems(
        path, ws_f, values, width, lambda c: columns[c - 1] if c <= width else _letter(c)
    )
    if problems:
        raise InputError(problems)
    rows: list[tuple[int, list[str | None]]] = []
    for row_no, raw in enumerate(values[1:], start=2):
        cells = [_clean(v) for v in raw]
        if not any(c is not None for c in cells):
            continue
        if any(c is not None for c in cells[width:]):
            problems.append(Problem("has values beyond the last header column", path, row_no))
            continue
        cells += [None] * (width - len(cells))
        rows.append((row_no, cells[:width]))
    if problems:
        raise InputError(problems)
    return columns, rows, title


def read_xlsx_cells(path: str | Path, *, sheet: str | None = None) -> list[list[str]]:
    """Every cell of a worksheet as text (``""`` when empty), for layouts without a
    header row (plate grids). The same sheet rules and XLSX checks as :func:`read_table`.

    Raises
    ------
    InputError
        An unreadable workbook, an unknown or hidden sheet, merged cells or
        formulas without a saved value (with row and column letter).
    """
    p, shown = _check_file(path)
    ws_f, values = _xlsx_load(shown, p, sheet)
    problems = _xlsx_problems(shown, ws_f, values, None, _letter)
    if problems:
        raise InputError(problems)
    return [["" if v is None else str(v) for v in r] for r in values]


def file_sha256(p: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks (provenance of an input or a
    backup; a large file is never held in memory)."""
    digest = hashlib.sha256()
    p = Path(p)
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(
    path: str | Path,
    sheet: str | None,
    normalise: bool,
    *,
    text_default: bool = False,
    as_dict: bool = False,
    max_rows: int | None = None,
) -> tuple[str, Path, str, Any]:
    """Parse a table file streaming (CSV/TSV/gzip line by line, XLSX row by row), so
    that memory grows with the rows kept, at most ``max_rows`` (then refused)."""
    p, shown = _check_file(path)
    kind, gz = _kind(p, shown, text_default=text_default)
    if sheet is not None and kind != "xlsx":
        raise InputError("--sheet applies to XLSX workbooks only", file=shown, value=sheet)
    if kind == "parquet":
        return kind, p, shown, None
    if kind == "xlsx":
        columns, rows, title = _xlsx_rows(shown, p, sheet, normalise, max_rows)
        if as_dict:
            rows = [(n, dict(zip(columns, cells, strict=True))) for n, cells in rows]
        return kind, p, shown, (columns, rows, title)
    with (gzip.open(p, "rb") if gz else p.open("rb")) as stream:
        parsed = _csv_rows(shown, stream, normalise, as_dict, gz=gz, max_rows=max_rows)
    return kind, p, shown, (*parsed, None)


def read_table(
    path: str | Path, *, sheet: str | None = None, max_rows: int | None = None
) -> RawTable:
    """Read a CSV/TSV (comma, semicolon or tab separated; UTF-8) or XLSX file as text rows.

    Parameters
    ----------
    path
        File to read; the type is chosen from the suffix.
    sheet
        XLSX: the worksheet to read (default: the active one).
    max_rows
        Refuse a file with more non-blank data rows than this, stopping the
        reading there (imports pass :data:`decidua.io.importers.MAX_IMPORT_ROWS`),
        so that memory stays bounded also at :data:`MAX_FILE_BYTES`.

    Returns
    -------
    RawTable
        Header names normalised (lower case, ``_`` for spaces).

    Raises
    ------
    InputError
        For a missing, empty, oversized, non-UTF-8 or malformed file, an
        unknown or hidden sheet, formulas without saved values or merged
        cells, naming the row (and column) where the problem is; a file with
        more than ``max_rows`` data rows, naming the file and the cap.
    """
    kind, p, shown, parsed = _read(path, sheet, normalise=True, as_dict=True, max_rows=max_rows)
    if kind == "parquet":
        raise InputError("unsupported file type .parquet for an import: use .csv, .tsv or .xlsx",
                         file=shown)  # fmt: skip
    columns, rows, title = parsed
    return RawTable(
        shown,
        file_sha256(p),
        columns,
        tuple(rows),
        title,
    )


def read_frame(
    path: str | Path,
    *,
    sheet: str | None = None,
    text_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """Read a CSV/TSV (also gzip-compressed), XLSX or Parquet file as a DataFrame.

    The same checks as :func:`read_table`; header names are kept as written
    (stripped). Cells in :data:`NA_TEXTS` are missing; a column whose other
    cells are all numbers becomes numeric (int64, or float64 with missing
    cells), others stay text, and ``text_columns`` always stay text. A file
    whose suffix is not a table type is read as delimited text.

    The spreadsheet row of each DataFrame row is in ``frame.attrs["rows"]``
    (for Parquet: record number + 1, as if the file had a header row).

    Raises
    ------
    InputError
        As :func:`read_table`, and for an unreadable Parquet file.
    """
    import numpy as np
    import pandas as pd

    kind, p, shown, parsed = _read(path, sheet, normalise=False, text_default=True)
    if kind == "parquet":
        try:
            frame = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise InputError(f"not a valid Parquet file ({exc})", file=shown) from None
        frame.attrs["rows"] = list(range(2, len(frame) + 2))
        frame.attrs["file"] = shown
        return frame
    columns, rows, _ = parsed
    keep_text = set(text_columns)
    data_cols: dict[str, Any] = {}
    for j, col in enumerate(columns):
        cells = [None if (v := r[j]) is None or v in NA_TEXTS else v for _, r in rows]
        if col not in keep_text:
            try:
                data_cols[col] = pd.to_numeric(pd.Series(cells, dtype=object))
                continue
            except (ValueError, TypeError):
                pass
        data_cols[col] = pd.Series(cells, dtype=object).where(
            pd.notna(pd.Series(cells, dtype=object)), np.nan
        )
    frame = pd.DataFrame(data_cols, columns=list(columns))
    frame.attrs["rows"] = [n for n, _ in rows]
    frame.attrs["file"] = shown
    return frame
