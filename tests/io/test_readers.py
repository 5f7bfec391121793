"""The one table reader (decidua.io.readers): formats, row numbers, and the XLSX
values that used to be lost silently (formulas without a saved value, merged
cells, a hidden first sheet). Files are written here with the csv module and
openpyxl; the one with a saved formula value is patched at the XML level the way
Excel stores it (``<f>`` with a ``<v>``)."""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from decidua.errors import InputError
from decidua.io.readers import read_frame, read_table
from decidua.io.validate import numeric_column

HEADER = ["patient_id", "year_of_birth", "bmi", "ethnicity", "study_group", "consent_research"]


def _xlsx(path: Path, sheets: dict[str, list[list[object]]], *, hidden: tuple[str, ...] = (),
          active: str | None = None) -> Path:  # fmt: skip
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        if name in hidden:
            ws.sheet_state = "hidden"
    if active is not None:
        wb.active = wb.sheetnames.index(active)
    wb.save(path)
    return path


def _patch(path: Path, member: str, pattern: bytes, repl: bytes) -> Path:
    """A copy of an XLSX with one XML part edited (as another spreadsheet program writes it)."""
    out = path.with_name("patched_" + path.name)
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith(member):
                data, n = re.subn(pattern, repl, data)
                assert n, (member, pattern)
            zout.writestr(item, data)
    return out


def test_row_numbers_after_quoted_newlines_are_spreadsheet_rows(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text('id,note\nA,"two\nlines"\nB,"three\nmore\nlines"\nC,x\n')
    table = read_table(f)
    # the header is row 1 and record n after it is row n + 1 (physical lines: 2, 4, 7)
    assert [n for n, _ in table.rows] == [2, 3, 4]
    assert table.rows[0][1]["note"] == "two\nlines"
    frame = read_frame(f)
    assert frame.attrs["rows"] == [2, 3, 4]


def test_import_error_names_the_spreadsheet_row(db: str, tmp_path: Path) -> None:
    from decidua.cli import app

    f = tmp_path / "patients.csv"
    f.write_text(",".join(HEADER) + '\nEX-1,1980,22,"mixed,\nother",rpl,yes\n'
                 "EX-2,1981,x,,rpl,yes\n")  # fmt: skip
    r = CliRunner().invoke(app, ["--db", db, "import", "patients", str(f)])
    assert r.exit_code == 1
    assert "row 3" in r.output and "row 4" not in r.output


def test_xlsx_formula_without_saved_value_is_refused(tmp_path: Path) -> None:
    f = _xlsx(tmp_path / "f.xlsx", {"S": [HEADER, ["EX-1", "=1970+10", 22, None, "rpl", "yes"]]})
    with pytest.raises(InputError) as err:
        read_table(f)
    p = err.value.problems[0]
    assert (p.row, p.column) == (2, "year_of_birth") and "formula" in p.reason


def test_xlsx_formula_with_saved_value_is_read(tmp_path: Path) -> None:
    f = _xlsx(tmp_path / "f.xlsx", {"S": [HEADER, ["EX-1", "=1970+10", 22, None, "rpl", "yes"]]})
    patched = _patch(f, "xl/worksheets/sheet", rb"<f>1970\+10</f>(<v\s*/>|<v></v>)?",
                     b"<f>1970+10</f><v>1980</v>")
    table = read_table(patched)
    assert table.rows[0][1]["year_of_birth"] == "1980"


def test_xlsx_merged_cells_in_the_data_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.xlsx"
    wb = Workbook()
    ws = wb.active
    for r in (HEADER, ["EX-1", 1980, 22, None, "rpl", "yes"],
              ["EX-2", 1981, 23, None, "rpl", "yes"]):
        ws.append(r)
    ws.merge_cells("E2:E3")  # one study group typed once for two women
    wb.save(path)
    with pytest.raises(InputError) as err:
        read_table(path)
    p = err.value.problems[0]
    assert (p.row, p.column) == (2, "study_group") and "E2:E3" in p.reason


def test_xlsx_reads_the_active_sheet_never_a_hidden_one_silently(tmp_path: Path) -> None:
    rows = [HEADER, ["EX-1", 1980, 22, None, "rpl", "yes"]]
    old = [HEADER, ["OLD-1", 1950, 30, None, "rpl", "yes"]]
    f = _xlsx(tmp_path / "h.xlsx", {"old": old, "current": rows}, hidden=("old",), active="current")
    table = read_table(f)  # the first sheet is hidden: the active, visible one is read
    assert table.sheet == "current" and table.rows[0][1]["patient_id"] == "EX-1"
    named = read_table(f, sheet="old")  # a hidden sheet only when asked for by name
    assert named.rows[0][1]["patient_id"] == "OLD-1"
    with pytest.raises(InputError, match="no worksheet named 'nope'.*'old' \\(hidden\\)"):
        read_table(f, sheet="nope")
    # openpyxl never saves a hidden active sheet; other programs can
    g = _xlsx(tmp_path / "g.xlsx", {"a": old, "b": rows}, hidden=("a",), active="b")
    g = _patch(g, "xl/workbook.xml", rb'activeTab="1"', b'activeTab="0"')
    with pytest.raises(InputError, match="active worksheet 'a' is hidden"):
        read_table(g)


def test_import_sheet_option(db: str, tmp_path: Path) -> None:
    import json

    from decidua.cli import app

    rows = [HEADER, ["EX-1", 1980, 22, None, "rpl", "yes"], ["EX-2", 1981, 23, None, "rpl", "yes"]]
    f = _xlsx(tmp_path / "two.xlsx", {"notes": [["free text"]], "women": rows}, active="notes")
    runner = CliRunner()
    r = runner.invoke(app, ["--db", db, "import", "patients", str(f), "--sheet", "women",
                            "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["inserted"] == 2
    r = runner.invoke(app, ["--db", db, "import", "patients", str(f), "--sheet", "nope"])
    assert r.exit_code == 1 and "women" in r.output


def test_one_reader_for_csv_tsv_gzip_xlsx_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"ID": ["007", "b"], "LH": [7, 9], "x": [1.25, np.nan],
                          "g": ["rpl", "control"]})  # fmt: skip
    text = "ID,LH,x,g\n007,7,1.25,rpl\nb,9,,control\n"
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "t.tsv").write_text(text.replace(",", "\t"))
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text.encode()))
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    _xlsx(tmp_path / "t.xlsx", {"s": [["ID", "LH", "x", "g"], ["007", 7, 1.25, "rpl"],
                                      ["b", 9, None, "control"]]})  # fmt: skip
    for name in ("t.csv", "t.tsv", "t.csv.gz", "t.parquet", "t.xlsx"):
        got = read_frame(tmp_path / name, text_columns=["ID"])
        pd.testing.assert_frame_equal(got, frame, check_dtype=False, obj=name)
        assert got["LH"].dtype.kind in "if" and got["x"].dtype.kind == "f"
    with pytest.raises(InputError) as err:
        read_frame(tmp_path / "missing.csv")
    assert err.value.file == str(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="directory"):
        read_frame(tmp_path)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(InputError) as err:
        read_frame(bad)
    assert err.value.file == str(bad)


def test_numeric_column_reports_every_bad_cell(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text('ID,marker\na,1.5\nb,x\nc,"2\n"\nd,\ne,3\nf,n/a?\n')
    frame = read_frame(f)
    with pytest.raises(InputError) as err:
        numeric_column(frame, "marker", "marker")
    found = [(p.row, p.column, p.reason) for p in err.value.problems]
    assert found == [
        (3, "marker", "marker value is not a number"),
        (5, "marker", "marker value is missing"),
        (7, "marker", "marker value is not a number"),
    ]
    assert all(p.file == str(f) for p in err.value.problems)
    ok = read_frame(f).iloc[[0, 2, 4]]
    ok.attrs = {}
    np.testing.assert_array_equal(numeric_column(ok, "marker"), [1.5, 2.0, 3.0])
    with pytest.raises(InputError, match="marker column is missing"):
        numeric_column(frame, "nope", "marker")


def test_plate_maps_and_grids_use_the_same_reader(tmp_path: Path) -> None:
    from decidua.io.platereader.common import read_plate_map
    from decidua.io.readers import read_xlsx_cells

    rows = [["well", "role", "concentration", "Masked By", "mask_reason"],
            ["A1", "standard", 0, None, None], ["A2", "sample", None, "asha", "bubble"]]
    f = _xlsx(tmp_path / "map.xlsx", {"map": rows})  # XLSX maps; headers normalised as imports
    got = read_plate_map(f)
    assert [(r.row, r.well) for r in got] == [(2, "A1"), (3, "A2")]
    assert got[1].mask is not None
    grid = _xlsx(tmp_path / "grid.xlsx", {"old": [["9"] * 3], "od": [["", 1, 2], ["A", 0.5, 0.25]]},
                 hidden=("old",), active="od")  # fmt: skip
    assert read_xlsx_cells(grid) == [["", "1", "2"], ["A", "0.5", "0.25"]]
    wb = Workbook()
    wb.active.append([1, 2])
    wb.active.merge_cells("A1:B1")
    wb.save(tmp_path / "merged.xlsx")
    with pytest.raises(InputError, match="merged cells A1:B1"):
        read_xlsx_cells(tmp_path / "merged.xlsx")
