"""`decidua reference fit`: a clinic's own centiles from stored results, versioned, used
by the call. Synthetic truth: 40 biopsies with known CFU counts on known LH days."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.reference.defaults import endotime_training_data

runner = CliRunner()
_DB: list[str] = []


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


def _write(path: Path, rows) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture
def clinic(db, tmp_path):
    _DB.append(db)
    rng = np.random.default_rng(5)
    pats = [("patient_id", "year_of_birth")] + [(f"RF-{i:02d}", 1987) for i in range(41)]
    bios = [("biopsy_id", "patient_id", "cycle_number", "lh_surge_date", "biopsy_date",
             "on_treatment")]
    cfu = [("biopsy_id", "plate", "well", "cells_seeded", "colonies")]
    surge = dt.date(2024, 1, 1)
    for i in range(41):
        lh = int(rng.integers(6, 11))
        bios.append((f"RF-{i:02d}-B1", f"RF-{i:02d}", 1, surge.isoformat(),
                     (surge + dt.timedelta(lh)).isoformat(), "true" if i == 40 else "false"))
        cfu.append((f"RF-{i:02d}-B1", "P1", "A1", 1000, int(rng.poisson(20))))
    cfu.append(("RF-00-B1", "P1", "A2", 1000, 0))  # RF-00: 10 colonies of 2000 seeded at most
    for kind, rows in (("patients", pats), ("biopsies", bios), ("cfu", cfu)):
        res = cli("import", kind, _write(tmp_path / f"{kind}.csv", rows))
        assert res.exit_code == 0, res.output
    return db


def test_fit_from_stored_results_is_versioned_and_used_by_the_call(clinic):
    before = json.loads(cli("biopsy", "show", "RF-00-B1", "--json").stdout)
    cfu = next(c for c in before["components"] if c["name"] == "cfu")
    assert cfu["status"] == "uncallable" and "no CFU reference" in cfu["detail"]
    res = cli("reference", "fit", "cfu_pct", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["n"] == 40 and doc["excluded_on_treatment"] == 1 and doc["stored"] is True
    assert doc["day_basis"] == {"by LH day (no timing placement)": 40}
    again = json.loads(cli("reference", "fit", "cfu_pct", "--json").stdout)
    assert again["version"] == doc["version"] and again["stored"] is False
    after = json.loads(cli("biopsy", "show", "RF-00-B1", "--json").stdout)
    cfu = next(c for c in after["components"] if c["name"] == "cfu")
    assert cfu["centile"] is not None and doc["version"] in cfu["reference"]
    assert "by LH day" in cfu["reference"]


def test_unk_needs_a_protocol_and_too_few_values_fail(clinic):
    res = cli("reference", "fit", "unk_pct")
    assert res.exit_code == 1 and "--protocol" in res.output
    res = cli("reference", "fit", "PRL")
    assert res.exit_code == 1 and "at least 30" in res.output


def test_fit_from_a_file_matches_the_shipped_reference(clinic, tmp_path):
    from decidua.reference.defaults import timing_gene_references

    path = tmp_path / "train.csv"
    endotime_training_data().to_csv(path, index=False)
    res = cli("reference", "fit", "IGFBP1", "--from", path, "--day-column", "LH", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["n"] == 257 and doc["reference"]["time_basis"] == "lh_day"
    shipped = timing_gene_references()["IGFBP1"]
    assert doc["reference"]["day_min"] == shipped.params.day_min == 5.0
