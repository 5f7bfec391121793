"""`decidua import sabgal FILE` stores SA-β-gal field counts on biopsies; `biopsy show`
gives the pooled % positive with its exact interval (issue #15). Known truth: counts
written here; the Clopper-Pearson limits are checked against scipy's beta quantiles
(an independent computation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy.stats import beta
from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "import"
_DB: list[str] = []


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


@pytest.fixture
def loaded(db):
    _DB.append(db)
    for kind in ("patients", "biopsies"):
        res = cli("import", kind, EXAMPLES / f"{kind}.csv")
        assert res.exit_code == 0, res.output
    return db


def _sheet(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "sabgal.csv"
    p.write_text("biopsy_id,field,positive,total\n" + "\n".join(rows) + "\n")
    return p


def test_import_then_show_pooled_percent(loaded, tmp_path):
    sheet = _sheet(tmp_path, ["EX-001-B1,1,12,100", "EX-001-B1,2,8,100", "EX-001-B1,3,10,100"])
    res = cli("import", "sabgal", sheet, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["inserted"] == 3
    doc = json.loads(cli("biopsy", "show", "EX-001-B1", "--json").stdout)
    rows = [r for r in doc["results"] if r["kind"] == "senescence"]
    assert len(rows) == 3 and all(r["values"]["assay"] == "sabgal" for r in rows)
    (c,) = [x for x in doc["components"] if x["name"] == "SA-β-gal % positive"]
    assert c["value"] == pytest.approx(10.0) and c["status"] == "info"
    lo, hi = 100 * beta.ppf(0.025, 30, 271), 100 * beta.ppf(0.975, 31, 270)
    assert f"{lo:.1f}-{hi:.1f}%" in c["detail"] and c["detail"].startswith("no reference")
    again = cli("import", "sabgal", sheet, "--json")
    assert json.loads(again.stdout)["unchanged"] == 3


@pytest.mark.parametrize(("row", "want"), [
    ("EX-001-B1,1,-1,100", "negative count"),
    ("EX-001-B1,1,120,100", "stained cells above"),
    ("EX-001-B1,1,x,100", "positive"),
])
def test_bad_counts_exit_1_nothing_stored(loaded, tmp_path, row, want):
    res = cli("import", "sabgal", _sheet(tmp_path, ["EX-001-B1,2,5,50", row]))
    out = " ".join((getattr(res, "stderr", None) or res.output).split())
    assert res.exit_code == 1, out
    assert "sabgal.csv" in out and "row 3" in out and want in out
    doc = json.loads(cli("biopsy", "show", "EX-001-B1", "--json").stdout)
    assert not [r for r in doc["results"] if r["kind"] == "senescence"]
