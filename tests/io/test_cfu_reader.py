"""Manual colony-count sheets read without a database: same checks as the importer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from decidua.errors import InputError
from decidua.io.cfu import read_manual_counts


def _counts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "biopsy_id": ["B1", "B1", "B1", "B2"],
            "plate": ["P1", "P2", "P3", "P1"],
            "well": ["A1", "A1", "A1", "A1"],
            "cells_seeded": [1000, 1000, 2000, 500],
            "colonies": [10, 12, 22, 0],
        }
    )


def test_csv_and_xlsx_give_the_same_table(tmp_path) -> None:
    df = _counts()
    df["count_date"] = "2024-05-01"
    df["batch"] = "K1"
    csv = tmp_path / "counts.csv"
    df.to_csv(csv, index=False)
    got = read_manual_counts(csv)
    assert got["colonies"].tolist() == [10, 12, 22, 0]
    assert got["colonies"].dtype == np.int64
    assert got["row"].tolist() == [2, 3, 4, 5]
    xlsx = tmp_path / "counts.xlsx"
    df.to_excel(xlsx, index=False)
    from_xlsx = read_manual_counts(xlsx)
    pd.testing.assert_frame_equal(from_xlsx, got)


def test_bad_rows_are_all_reported_with_spreadsheet_row_numbers(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "biopsy_id,plate,well,cells_seeded,colonies\n"
        "B1,P1,A1,1000,5\n"
        "B1,P2,A1,0,3\n"
        "B1,P3,A1,1000,-1\n"
        "B1,P1,A1,1000,5\n"
    )
    with pytest.raises(InputError) as info:
        read_manual_counts(bad)
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {(3, "cells_seeded"), (4, "colonies"), (5, "biopsy_id")}
    assert info.value.file == str(bad)
    short = tmp_path / "short.csv"
    short.write_text("biopsy_id,colonies\nB1,3\n")
    with pytest.raises(InputError, match="required column is missing"):
        read_manual_counts(short)
