"""Input validation of timing tables (EndoTime's layout) and the shipped training cohort."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from decidua.assays.timing.constants import GENES
from decidua.errors import InputError, Problem


def load_endotime_training_data() -> pd.DataFrame:
    """Return EndoTime's 257-biopsy training cohort (shipped, GPL-3; see its README).

    Examples
    --------
    >>> df = load_endotime_training_data()
    >>> df.shape, list(df.columns[:3])
    ((257, 9), ['ID', 'BATCH', 'LH'])
    """
    ref = resources.files("decidua.reference").joinpath("endotime/training_data.csv")
    with resources.as_file(ref) as path:
        return pd.read_csv(path, dtype={"ID": str})


def validate_timing_table(
    df: pd.DataFrame,
    genes: Sequence[str] = GENES,
    *,
    file: str | None = None,
    require_lh: bool = True,
    lh_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Check a cohort/biopsy table and return a clean copy.

    Parameters
    ----------
    df
        Table in EndoTime's layout: ``ID``, ``BATCH`` (optional for placement),
        ``LH`` (LH+ day), one ΔCt column per gene.
    genes
        Gene columns that must be present and numeric.
    file
        File name used in error messages.
    require_lh
        Whether the ``LH`` column must be present.
    lh_range
        If given, LH days outside ``[lo, hi]`` are refused.

    Returns
    -------
    pandas.DataFrame
        ``ID`` (str), ``BATCH`` (str or missing), ``LH`` (float), genes (float).

    Raises
    ------
    InputError
        Listing every problem (row numbers as a spreadsheet shows them).

    Examples
    --------
    >>> import pandas as pd
    >>> from decidua.errors import InputError
    >>> table = load_endotime_training_data().head(3)
    >>> validate_timing_table(table)["LH"].tolist()
    [6.0, 11.0, 7.0]
    >>> bad = table.assign(GPX3=["1.2", "n/a", None])
    >>> try:
    ...     validate_timing_table(bad, file="cohort.csv")
    ... except InputError as exc:
    ...     [(p.row, p.column, p.reason) for p in exc.problems]
    [(3, 'GPX3', 'ΔCt value is not a number'), (4, 'GPX3', 'ΔCt value is missing')]
    """
    ids, batch, lh, x = _validate_arrays(df, genes, file, require_lh, lh_range)
    cols: dict[str, Any] = {"ID": ids, "BATCH": batch, "LH": lh}
    cols.update({g: x[:, j] for j, g in enumerate(genes)})
    return pd.DataFrame(cols)


def _numeric_column(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Float values of a column and a mask of entries that are missing/not numbers."""
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    return values, ~np.isfinite(values)


def _validate_arrays(
    df: pd.DataFrame,
    genes: Sequence[str],
    file: str | None,
    require_lh: bool,
    lh_range: tuple[float, float] | None,
) -> tuple[list[str], list[str] | None, np.ndarray, np.ndarray]:
    """Array form of :func:`validate_timing_table` (IDs, batches, LH days, ΔCt matrix)."""
    problems: list[Problem] = []
    required = ["ID", *(["LH"] if require_lh else []), *genes]
    for col in required:
        if col not in df.columns:
            problems.append(Problem("required column is missing", file=file, column=col))
    if problems:
        raise InputError(problems)
    if len(df) == 0:
        raise InputError("the table has no biopsies", file=file)
    ids = [str(v).strip() for v in df["ID"].tolist()]
    batch = [str(v).strip() for v in df["BATCH"].tolist()] if "BATCH" in df.columns else None
    n = len(ids)
    x = np.empty((n, len(genes)))
    lh = np.full(n, np.nan)
    for col in ([("LH", -1)] if "LH" in df.columns else []) + [(g, j) for j, g in enumerate(genes)]:
        name, j = col
        values, bad = _numeric_column(df, name)
        if bad.any():
            what = "LH day" if name == "LH" else "ΔCt"
            for idx in np.flatnonzero(bad):
                rawv = df[name].iloc[idx]
                reason = "value is missing" if pd.isna(rawv) else "value is not a number"
                problems.append(Problem(f"{what} {reason}", file, int(idx) + 2, name, rawv))
        if j < 0:
            lh = values
        else:
            x[:, j] = values
    if len(set(ids)) != n:
        seen: set[str] = set()
        for idx, v in enumerate(ids):
            if v in seen:
                problems.append(Problem("duplicate biopsy ID", file, idx + 2, "ID", v))
            seen.add(v)
    if lh_range is not None:
        lo, hi = lh_range
        out_of_range = np.isfinite(lh) & ((lh < lo) | (lh > hi))
        for idx in np.flatnonzero(out_of_range):
            problems.append(
                Problem(
                    f"LH day outside the reference range LH+{lo:g}..LH+{hi:g}",
                    file,
                    int(idx) + 2,
                    "LH",
                    df["LH"].iloc[idx],
                )
            )
    if problems:
        raise InputError(problems)
    return ids, batch, lh, x


