"""`decidua biopsy analyse` / `biopsy show` through the real CLI on a migrated database.

Known truth: a synthetic 384-well plate whose Cqs are built from the ΔCt of twelve
EndoTime training biopsies of one batch (Cq = 20 + ΔCt, symmetric duplicates), on
biopsies whose LH day is the training LH day; so the placement is callable (>= 10
biopsies on the plate) and the call is computed from real expression values.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.assays.timing import GENES, load_endotime_training_data
from decidua.cli import app

runner = CliRunner()
_DB: list[str] = []


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


def _write(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture
def cohort(db, tmp_path):
    """12 biopsies (plus one without results) with a qPCR plate imported."""
    _DB.append(db)
    train = load_endotime_training_data()
    batch = train[train["BATCH"] == train["BATCH"].iloc[0]].head(12).reset_index(drop=True)
    pats = [("patient_id", "year_of_birth")] + [(f"SC-{i:02d}", 1988) for i in range(13)]
    bios = [("biopsy_id", "patient_id", "cycle_number", "lh_surge_date", "biopsy_date")]
    surge = dt.date(2024, 3, 1)
    codes = []
    for i, row in batch.iterrows():
        code = f"SC-{i:02d}-B1"
        codes.append(code)
        bios.append((code, f"SC-{i:02d}", 1, surge.isoformat(),
                     (surge + dt.timedelta(days=int(row["LH"]))).isoformat()))
    bios.append(("SC-12-B1", "SC-12", 1, surge.isoformat(), (surge + dt.timedelta(8)).isoformat()))
    assert cli("import", "patients", _write(tmp_path / "p.csv", pats)).exit_code == 0
    res = cli("import", "biopsies", _write(tmp_path / "b.csv", bios))
    assert res.exit_code == 0, res.output
    rows = [("well", "sample", "target", "cq")]
    mapping = [("sample", "biopsy_id")]
    letters = "ABCDEFGHIJKLMNOP"
    w = 0
    for i, row in batch.iterrows():
        mapping.append((f"S{i}", codes[i]))
        for target, level in [("RPL19", 0.0)] + [(g, float(row[g])) for g in GENES]:
            for d in (-0.05, 0.05):
                rows.append((f"{letters[w // 24]}{w % 24 + 1}", f"S{i}", target,
                             f"{20.0 + level + d:.6f}"))
                w += 1
    plate = _write(tmp_path / "plate.csv", rows)
    res = cli("import", "qpcr", plate, "--biopsy-map", _write(tmp_path / "map.csv", mapping),
              "--json")
    assert res.exit_code == 0, res.output
    placed = json.loads(res.stdout)["biopsies"]
    assert all(b["placement"]["callable"] for b in placed)
    return {"codes": codes, "batch": batch, "tmp": tmp_path}


def test_analyse_stores_calls_and_show_reports_them(cohort):
    res = cli("biopsy", "analyse", "--all", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["biopsies"] == 13 and doc["inserted"] == 13
    by = {r["biopsy"]: r for r in doc["results"]}
    assert by["SC-12-B1"]["call"] == "uncallable"
    assert any("assay missing" in r for r in by["SC-12-B1"]["reasons"])
    assert sum(by[c]["call"] in ("normal", "abnormal") for c in cohort["codes"]) >= 8
    for code in cohort["codes"]:
        if by[code]["call"] == "uncallable":  # only an asynchronous (uninterpretable) timing
            assert all("timing uninterpretable: asynchronous" in r or r.startswith("asynchrony")
                       for r in by[code]["reasons"])
        show = json.loads(cli("biopsy", "show", code, "--json").stdout)
        assert set(show) >= {"biopsy", "call", "reasons", "components", "rule_version",
                             "lh_day", "timing", "results"}
        assert show["call"] == by[code]["call"] and show["stored"] is True
        names = {c["name"] for c in show["components"]}
        assert {"timing", "asynchrony", "cfu", "unk"} <= names
        for c in show["components"]:
            assert set(c) >= {"name", "value", "centile", "reference", "flag"}
        # the six timing genes carry a clinic-population centile by LH day
        genes = [c for c in show["components"] if c["name"].endswith(" dCq")]
        assert len(genes) == 6
        assert all(0 <= c["centile"] <= 1 and "by LH day" in c["reference"] for c in genes)
        timing = next(c for c in show["components"] if c["name"] == "timing")
        lh = show["lh_day"]
        offset = timing["value"] - lh
        if timing["flag"] == "delayed":
            assert offset < -2 and show["call"] == "abnormal"
        if show["call"] == "normal":
            assert all(c["flag"] in (None, "uncallable") for c in show["components"])


def test_reanalysis_adds_a_call_and_never_overwrites(cohort, tmp_path):
    code = cohort["codes"][0]
    assert cli("biopsy", "analyse", code).exit_code == 0
    again = json.loads(cli("biopsy", "analyse", code, "--json").stdout)
    assert again["inserted"] == 0 and again["unchanged"] == 1
    cfu = _write(tmp_path / "cfu.csv", [("biopsy_id", "plate", "well", "cells_seeded",
                                         "colonies"), (code, "P1", "A1", 500, 3)])
    assert cli("import", "cfu", cfu).exit_code == 0
    third = json.loads(cli("biopsy", "analyse", code, "--json").stdout)
    assert third["inserted"] == 1
    show = json.loads(cli("biopsy", "show", code, "--json").stdout)
    assert len(show["calls"]) == 2
    c = next(c for c in show["components"] if c["name"] == "cfu")
    assert c["value"] == pytest.approx(0.6)  # CFU % = 3 / 500 x 100, stored with the call
    assert show["evidence"]["cfu"]["interval"]["method"] == "exact Poisson (Garwood)"
    # the pooled CFU % is stored as a result derived from the counts, with its interval
    summary = [r for r in show["results"] if r["kind"] == "cfu" and "cfu_pct" in r["values"]]
    assert len(summary) == 1
    v = summary[0]["values"]
    assert v["cfu_pct"] == pytest.approx(0.6) and v["colonies"] == 3
    assert v["interval"]["low"] < 0.6 < v["interval"]["high"]
    assert summary[0]["derived_from_id"] is not None
    fourth = json.loads(cli("biopsy", "analyse", code, "--json").stdout)
    assert fourth["inserted"] == 0 and fourth["summary_results"] == 0


def test_show_before_analyse_computes_without_storing(cohort):
    code = cohort["codes"][1]
    show = json.loads(cli("biopsy", "show", code, "--json").stdout)
    assert show["stored"] is False and show["calls"] == []
    assert show["call"] in ("normal", "abnormal")


def test_unknown_biopsy_and_missing_argument_exit_1(cohort):
    res = cli("biopsy", "analyse", "NOPE-1")
    assert res.exit_code == 1 and "NOPE-1" in res.output
    assert cli("biopsy", "analyse").exit_code == 1
