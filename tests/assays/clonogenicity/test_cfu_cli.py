"""`decidua cfu …` end to end through the Typer app (synthetic images)."""

from __future__ import annotations

import json

import cv2
import pytest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.cli.cfu import parse_min_area

runner = CliRunner()


def test_count_json_and_overlay(tmp_path, dish_file, dish_result):
    qc = tmp_path / "qc"
    res = runner.invoke(app, ["cfu", "count", str(dish_file), "--json", "--overlay-dir", str(qc),
                              "--table-dir", str(qc)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["image"] == str(dish_file)
    # the per-well QC fields (issue 14) come on top of today's well / colonies
    assert [{k: w[k] for k in ("well", "colonies")} for w in doc["wells"]] == [
        {"well": "dish", "colonies": dish_result.total}]
    assert doc["colonies"] == dish_result.total
    assert cv2.imread(doc["overlay"]) is not None


def test_correct_then_count_reapplies(dish_file, dish_result):
    acc = dish_result.colonies[dish_result.colonies["accepted"]]
    x, y = acc.iloc[0].x, acc.iloc[0].y
    res = runner.invoke(app, ["cfu", "correct", str(dish_file), "--remove", f"{x},{y}"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["cfu", "count", str(dish_file), "--json"])
    assert json.loads(res.stdout)["colonies"] == dish_result.total - 1
    res = runner.invoke(app, ["cfu", "count", str(dish_file), "--json", "--no-corrections"])
    assert json.loads(res.stdout)["colonies"] == dish_result.total


def test_bad_inputs_exit_1(tmp_path, dish_file):
    text = tmp_path / "a.png"
    text.write_text("hello")
    trunc = tmp_path / "t.png"
    trunc.write_bytes(dish_file.read_bytes()[:3000])
    for args in (["cfu", "count", str(text)], ["cfu", "count", str(trunc)],
                 ["cfu", "count", str(dish_file), "--layout", "24-well"],
                 ["cfu", "count", str(dish_file), "--layout", "384-well"],
                 ["cfu", "count", str(dish_file), "--min-area", "-3px"],
                 ["cfu", "correct", str(dish_file), "--add", "12"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        assert "Traceback" not in res.output


def test_stats_json(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("biopsy_id,plate,well,cells_seeded,colonies\nB1,P1,A1,1000,10\n"
                 "B1,P2,A1,1000,14\nB2,P1,A1,1000,3\n")
    res = runner.invoke(app, ["cfu", "stats", str(f), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    b1 = next(b for b in doc["biopsies"] if b["biopsy_id"] == "B1")
    assert b1["colonies"] == 24 and b1["cfu_pct"] == pytest.approx(1.2)
    f.write_text("biopsy_id,plate,well,cells_seeded,colonies\nB1,P1,A1,0,10\n")
    res = runner.invoke(app, ["cfu", "stats", str(f)])
    assert res.exit_code == 1


@pytest.mark.parametrize("text,expected", [
    ("40px", (None, 40.0)), ("0.1mm2", (100000.0, None)), ("5e4", (50000.0, None)),
    ("2000um2", (2000.0, None)),
])
def test_parse_min_area(text, expected):
    assert parse_min_area(text) == expected
