"""`decidua patient monitor`: before/after an intervention, through the CLI.

Known truth: CFU counts 10/1000 before and 30/1000 after (rate ratio 3, exact
conditional interval recomputed here from scipy's beta quantiles), uNK fields 5 %
before and 12 % after under one protocol.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
_DB: list[str] = []


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


def _write(path: Path, rows) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture
def treated(db, tmp_path):
    _DB.append(db)
    for kind in ("patients", "biopsies", "interventions"):
        assert cli("import", kind, EXAMPLES / f"{kind}.csv").exit_code == 0
    # EX-001 started sitagliptin on 2022-01-05; a biopsy on treatment two months later
    bios = [("biopsy_id", "patient_id", "cycle_number", "lh_surge_date", "biopsy_date",
             "on_treatment"), ("EX-001-B3", "EX-001", 3, "2022-03-02", "2022-03-10", "true")]
    assert cli("import", "biopsies", _write(tmp_path / "b.csv", bios)).exit_code == 0
    cfu = [("biopsy_id", "plate", "well", "cells_seeded", "colonies"),
           ("EX-001-B2", "P1", "A1", 1000, 10), ("EX-001-B3", "P2", "A1", 1000, 30)]
    assert cli("import", "cfu", _write(tmp_path / "c.csv", cfu)).exit_code == 0
    unk = [("biopsy_id", "field", "cd56_positive", "stromal_cells", "magnification", "protocol")]
    for code, k in (("EX-001-B2", 5), ("EX-001-B3", 12)):
        unk += [(code, f, k, 100, "x400", "tuckerman2007") for f in range(1, 11)]
    assert cli("import", "unk", _write(tmp_path / "u.csv", unk)).exit_code == 0
    assert cli("biopsy", "analyse", "--all").exit_code == 0
    return db


def test_monitor_reports_markers_call_and_risk(treated):
    res = cli("patient", "monitor", "EX-001", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (iv,) = doc["interventions"]
    assert iv["kind"] == "sitagliptin" and iv["comparable"]
    assert iv["before"]["biopsy"] == "EX-001-B2" and iv["after"]["biopsy"] == "EX-001-B3"
    markers = {m["marker"]: m for m in iv["markers"]}
    cfu = markers["cfu_pct"]
    assert cfu["before"] == pytest.approx(1.0) and cfu["after"] == pytest.approx(3.0)
    assert cfu["change"]["rate_ratio"] == pytest.approx(3.0)
    # exact conditional interval: X_after | n=40 ~ Bin(40, R/(R+1)) (equal cells seeded)
    lo_p, hi_p = stats.beta.ppf(0.025, 30, 11), stats.beta.ppf(0.975, 31, 10)
    assert cfu["interval"]["low"] == pytest.approx(lo_p / (1 - lo_p), rel=1e-9)
    assert cfu["interval"]["high"] == pytest.approx(hi_p / (1 - hi_p), rel=1e-9)
    unk = markers["unk_pct"]
    assert unk["change"]["difference_points"] == pytest.approx(7.0)
    assert unk["interval"]["low"] < 7.0 < unk["interval"]["high"]
    assert iv["call"]["before"] in ("normal", "abnormal", "uncallable")
    assert iv["call"]["before_source"] == "computed"
    risk = iv["risk"]
    assert 0 < risk["before"]["p_loss"] < 1 and 0 < risk["after"]["p_loss"] < 1
    text = cli("patient", "monitor", "EX-001").stdout
    assert "rate_ratio 3" in text and "EX-001-B2" in text


def test_no_biopsy_after_is_said(treated):
    doc = json.loads(cli("patient", "monitor", "EX-002", "--json").stdout)
    assert doc["interventions"] == []
    assert cli("patient", "monitor", "NOBODY").exit_code == 1
