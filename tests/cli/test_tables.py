"""Every command reads its tables with the one reader and validates numeric
columns with the one validator: all bad cells reported, spreadsheet rows."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()


def test_timing_centiles_reports_every_bad_marker_cell(tmp_path: Path) -> None:
    rows = ["ID,estimated_lh_day,m"] + [f"b{i},{4 + i % 8},{10 + i % 5}" for i in range(40)]
    rows[3] = "b2,6,n.d."
    rows[6] = 'b5,"9",'
    rows[7] = 'b6,10,"12\n"'  # a quoted newline: later rows keep their spreadsheet number
    rows[9] = "b8,12,high"
    f = tmp_path / "cohort.csv"
    f.write_text("\n".join(rows) + "\n")
    r = runner.invoke(app, ["timing", "centiles", str(f), "--marker", "m", "--json"])
    assert r.exit_code == 1
    text = " ".join(r.output.split())
    for row, what in ((4, "not a number"), (7, "missing"), (10, "not a number")):
        assert f"row {row}, column 'm': marker value is {what}" in text


def test_methylation_groups_table_may_be_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from decidua.services.methylation import read_groups

    wb = Workbook()
    ws = wb.active
    for r in (["sample", "group"], ["s1", "rpl"], ["s2", "control"]):
        ws.append(r)
    wb.save(tmp_path / "g.xlsx")
    assert read_groups(tmp_path / "g.xlsx").to_dict() == {"s1": "rpl", "s2": "control"}
