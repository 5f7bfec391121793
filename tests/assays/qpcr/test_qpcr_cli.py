"""`decidua qpcr quantify` through the real Typer app: JSON shape, errors, exit codes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.cli import app

DATA = Path(__file__).resolve().parents[2] / "data" / "qpcr"
runner = CliRunner()

WELL_KEYS = ["well", "sample", "target", "cq", "flags"]
RESULT_KEYS = ["sample", "target", "cq_mean", "cq_sd", "delta_cq", "delta_delta_cq",
               "efficiency", "rq", "rq_low", "rq_high", "flags"]


def run(*args):
    return runner.invoke(app, ["qpcr", "quantify", *map(str, args)])


def test_json_shape_livak():
    res = run(DATA / "livak2001_cmyc_gapdh.csv", "--reference-gene", "GAPDH",
              "--calibrator", "brain", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert list(doc) == ["wells", "results"]
    assert len(doc["wells"]) == 24
    assert all(list(w) == WELL_KEYS for w in doc["wells"])
    assert all(list(r) == RESULT_KEYS for r in doc["results"])
    k = next(r for r in doc["results"] if r["sample"] == "kidney" and r["target"] == "c-myc")
    assert round(k["delta_delta_cq"], 2) == -2.50
    assert (round(k["rq"], 1), round(k["rq_low"], 1), round(k["rq_high"], 1)) == (5.6, 5.3, 6.0)


def test_json_rdml_standards_any_target_names():
    res = run(DATA / "stepone_std.rdml", "--reference-gene", "RNase P",
              "--efficiency-from-standards", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    ntc = [w for w in doc["wells"] if w["sample"] == "NTC_RNase P"]
    assert ntc and all(w["cq"] is None for w in ntc)
    pop = [r for r in doc["results"] if r["sample"] == "pop1_RNase P"]
    assert pop[0]["efficiency"] is not None and 0.7 < pop[0]["efficiency"] < 1.2
    assert pop[0]["rq"] is None  # no calibrator


def test_text_output():
    res = run(DATA / "quantstudio7_standard_curve.txt", "-r", "RNase P",
              "--efficiency-from-standards")
    assert res.exit_code == 0, res.output
    assert "standard curve RNase P: slope -3.383" in res.stdout


def _err(res):
    return res.stderr if hasattr(res, "stderr") and res.stderr else res.output


def test_missing_reference_gene(tmp_path):
    res = run(DATA / "stepone_std.rdml", "--json")
    assert res.exit_code == 1
    msg = _err(res)
    assert "stepone_std.rdml" in msg and "RPL19" in msg and "target" in msg
    assert res.stdout.strip() == "" or not res.stdout.lstrip().startswith("{")


def test_reference_missing_for_one_sample(tmp_path):
    p = tmp_path / "plate.csv"
    p.write_text("well,sample,target,cq\nA1,s1,RPL19,20\nA2,s1,IGFBP1,25\nB1,s2,IGFBP1,24\n")
    res = run(p, "--json")
    assert res.exit_code == 1
    msg = _err(res)
    assert str(p) in msg and "row 4" in msg and "'s2'" in msg and "RPL19" in msg


def test_all_replicates_undetermined(tmp_path):
    p = tmp_path / "plate.csv"
    p.write_text("well,sample,target,cq\nA1,s1,RPL19,20\nA2,s1,IGFBP1,Undetermined\n"
                 "A3,s1,IGFBP1,\n")
    res = run(p, "--json")
    assert res.exit_code == 1
    msg = _err(res)
    assert "all replicates undetermined" in msg and "row 3" in msg and "'cq'" in msg
    assert "A2, A3" in msg
    ok = run(p, "--json", "--allow-undetermined")
    assert ok.exit_code == 0
    r = next(r for r in json.loads(ok.stdout)["results"] if r["target"] == "IGFBP1")
    assert r["cq_mean"] is None and "all replicates undetermined" in r["flags"]


def test_one_well_in_two_samples(tmp_path):
    p = tmp_path / "plate.csv"
    p.write_text("well,sample,target,cq\nA1,s1,RPL19,20\nA1,s2,RPL19,21\n")
    res = run(p, "--json")
    assert res.exit_code == 1
    msg = _err(res)
    assert "A1" in msg and "two samples" in msg and "row 3" in msg and "'sample'" in msg


def test_zip_not_rdml(tmp_path):
    p = tmp_path / "run.rdml"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("data.xml", "<plate/>")
    res = run(p, "--json")
    assert res.exit_code == 1
    msg = _err(res)
    assert "not RDML" in msg and str(p) in msg
    assert "Traceback" not in res.output


@pytest.mark.parametrize("extra", [["--calibrator", "nobody"], ["-r", "GAPDH"]])
def test_bad_options(extra):
    res = run(DATA / "livak2001_cmyc_gapdh.csv", "-r", "GAPDH", *extra, "--json")
    if extra == ["-r", "GAPDH"]:
        assert res.exit_code == 0  # repeated name: one reference
    else:
        assert res.exit_code == 1 and "calibrator sample 'nobody'" in _err(res)
