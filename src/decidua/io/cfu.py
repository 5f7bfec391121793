"""Manual colony-count sheets as a validated table (no database).

The same schema, checks and row numbers as ``decidua import cfu`` (see
``docs/formats.md``), for analyses that read a sheet directly
(``decidua cfu stats FILE``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from decidua.io.readers import read_table
from decidua.io.schemas import CfuCountRow
from decidua.io.validate import validate_rows

COLUMNS = ["biopsy_id", "plate", "well", "cells_seeded", "colonies", "count_date", "batch"]


def read_manual_counts(path: str | Path) -> pd.DataFrame:
    """Read and validate a manual-count sheet (CSV or XLSX).

    Parameters
    ----------
    path
        File with columns ``biopsy_id, plate, well, cells_seeded, colonies``
        and optionally ``count_date, batch``.

    Returns
    -------
    pandas.DataFrame
        One row per well, columns :data:`COLUMNS` (counts as int64), plus
        ``row``: the row number a spreadsheet shows for it.

    Raises
    ------
    InputError
        Unreadable file, missing/unknown columns, duplicate wells or bad
        values — every bad row reported with file, row and column.
    """
    rows = validate_rows(read_table(path), CfuCountRow)
    frame = pd.DataFrame(
        [{**r.model_dump(include=set(COLUMNS)), "row": n} for n, r in rows],
        columns=[*COLUMNS, "row"],
    )
    return frame.astype({"cells_seeded": "int64", "colonies": "int64", "row": "int64"})
