"""Validate raw rows against a pydantic row schema (pure: no database).

Shared by the database importers (:mod:`decidua.io.importers`) and by readers
that only need validated tables (e.g. :func:`decidua.io.cfu.read_manual_counts`),
so a file gets the same checks and the same row numbers everywhere.
:func:`numeric_column` is the one check of a numeric column of an analysis
table (every bad cell reported).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from decidua.errors import InputError, Problem
from decidua.io import schemas
from decidua.io.readers import RawTable

#: At most this many problems are collected per file.
MAX_PROBLEMS = 1000


def schema_columns(schema: type[schemas.RowSchema]) -> tuple[list[str], list[str]]:
    """All columns and the required columns of a row schema."""
    fields = schema.model_fields
    return list(fields), [n for n, f in fields.items() if f.is_required()]


def _pydantic_problems(path: str, row_no: int, exc: ValidationError, raw: dict) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        column = str(loc[0]) if loc else None
        reason = err.get("msg", "invalid value")
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, ") :]
        if column is None and ": " in reason:
            head, tail = reason.split(": ", 1)
            if head in raw:
                column, reason = head, tail
        if err.get("type") == "extra_forbidden":
            reason = "unknown column"
        value = raw.get(column) if column is not None else None
        out.append(Problem(reason, path, row_no, column, value))
    return out


def check_rows(
    table: RawTable, schema: type[schemas.RowSchema]
) -> tuple[list[tuple[int, schemas.RowSchema]], list[Problem]]:
    """Validate every row of a table against a kind's schema (no database).

    Returns
    -------
    valid, problems
        The rows that passed (with their row numbers) and the problems of
        the others (bad values, duplicate keys inside the file).

    Raises
    ------
    InputError
        At once for missing or unknown columns and for a file without rows.
    """
    problems: list[Problem] = []
    columns, required = schema_columns(schema)
    known = set(columns)
    missing = [c for c in required if c not in table.columns]
    unknown = [c for c in table.columns if c not in known]
    for c in missing:
        problems.append(Problem("required column is missing", table.path, 1, c))
    for c in unknown:
        problems.append(
            Problem("unknown column (expected: " + ", ".join(columns) + ")", table.path, 1, c)
        )
    if problems:
        raise InputError(problems)
    if not table.rows:
        raise InputError("file has a header but no data rows", file=table.path)

    valid: list[tuple[int, schemas.RowSchema]] = []
    seen: dict[tuple, int] = {}
    validate = schema.model_validate
    for row_no, raw in table.rows:
        data = {k: v for k, v in raw.items() if v is not None}
        try:
            row = validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(table.path, row_no, exc, raw))
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        key = row.file_key()
        if key in seen:
            cols = ", ".join(f"{c}={v}" for c, v in zip(schema.key_columns, key, strict=True))
            problems.append(
                Problem(
                    f"duplicate key ({cols}) also in row {seen[key]}",
                    table.path,
                    row_no,
                    schema.key_columns[0],
                    key[0],
                )
            )
        else:
            seen[key] = row_no
            valid.append((row_no, row))
    return valid, problems


def validate_rows(
    table: RawTable, schema: type[schemas.RowSchema]
) -> list[tuple[int, schemas.RowSchema]]:
    """Like :func:`check_rows`, but raise :class:`InputError` for any problem."""
    valid, problems = check_rows(table, schema)
    if problems:
        raise InputError(problems)
    return valid


def numeric_column(
    frame: Any,
    column: str,
    what: str = "value",
    *,
    file: str | None = None,
    allow_missing: bool = False,
) -> np.ndarray:
    """The float values of a table column; every missing or non-numeric cell is refused.

    Parameters
    ----------
    frame
        A DataFrame, e.g. from :func:`decidua.io.readers.read_frame` (whose
        ``attrs["rows"]`` give the spreadsheet rows; otherwise row = index
        position + 2, the header being row 1).
    column
        Column to convert.
    what
        Name of the quantity in messages (e.g. ``"marker"``).
    file
        File named in messages (default: ``frame.attrs["file"]``).
    allow_missing
        Accept empty cells (as NaN); non-numbers are still refused.

    Returns
    -------
    numpy.ndarray
        Float values.

    Raises
    ------
    InputError
        Naming file, row, column and value of every bad cell (not only the first).
    """
    import pandas as pd

    file = file if file is not None else frame.attrs.get("file")
    if column not in frame.columns:
        raise InputError(f"{what} column is missing", file=file, column=column)
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw.dtype):
        values = np.full(len(raw), np.nan)
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    missing = raw.isna().to_numpy()
    bad = np.isnan(values) & ~(missing & allow_missing)
    if not bad.any():
        return values
    rows = frame.attrs.get("rows")
    problems = []
    for i in np.flatnonzero(bad)[:MAX_PROBLEMS]:
        row = int(rows[i]) if rows is not None and len(rows) == len(frame) else int(i) + 2
        if missing[i]:
            problems.append(Problem(f"{what} value is missing", file, row, column))
        else:
            problems.append(Problem(f"{what} value is not a number", file, row, column,
                                    raw.iloc[i]))  # fmt: skip
    raise InputError(problems)
