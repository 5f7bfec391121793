"""`decidua import unk`: a uNK field-count sheet stored on its biopsies, all or nothing;
the call then reads it against the Tuckerman 2007 range (same protocol, LH+7-9 only)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
_DB: list[str] = []
HEAD = ("biopsy_id", "field", "cd56_positive", "stromal_cells", "magnification", "protocol")


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


def _sheet(path: Path, rows) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([HEAD, *rows])
    return path


@pytest.fixture
def loaded(db):
    _DB.append(db)
    for kind in ("patients", "biopsies"):
        assert cli("import", kind, EXAMPLES / f"{kind}.csv").exit_code == 0
    return db


def _fields(code, pct, protocol="tuckerman2007", n=10):
    return [(code, i + 1, round(pct * (100 + i)), 100 + i, "x400", protocol) for i in range(n)]


def test_import_and_call_component(loaded, tmp_path, snap):
    # EX-001-B1 is LH+8 (examples/import/biopsies.csv)
    sheet = _sheet(tmp_path / "unk.csv", _fields("EX-001-B1", 0.25))
    res = cli("import", "unk", sheet, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["inserted"] == 10
    show = json.loads(cli("biopsy", "show", "EX-001-B1", "--json").stdout)
    unk = next(c for c in show["components"] if c["name"] == "unk")
    assert unk["value"] == pytest.approx(25.0, abs=0.5)
    assert unk["flag"] == "high" and unk["status"] == "abnormal"
    assert "Tuckerman" in unk["reference"]
    assert show["call"] == "abnormal"  # an abnormal component, even with timing missing
    ev = show["evidence"]["unk"]
    assert ev["n_fields"] == 10 and ev["interval"]["method"].startswith("beta-binomial")
    before = snap(loaded)
    assert cli("import", "unk", sheet).exit_code == 0  # same file again: nothing new
    assert snap(loaded)["assay_result"] == before["assay_result"]


def test_other_protocol_is_not_compared(loaded, tmp_path):
    cli("import", "unk", _sheet(tmp_path / "u.csv", _fields("EX-001-B1", 0.25, "hongkong")))
    show = json.loads(cli("biopsy", "show", "EX-001-B1", "--json").stdout)
    unk = next(c for c in show["components"] if c["name"] == "unk")
    assert unk["status"] == "uncallable" and "protocol 'hongkong'" in unk["detail"]


@pytest.mark.parametrize(("row", "column", "words"), [
    (("EX-001-B1", 3, -1, 100, "x400", "tuckerman2007"), "cd56_positive", "negative count"),
    (("EX-001-B1", 3, 120, 100, "x400", "tuckerman2007"), "cd56_positive", "above the 100"),
    (("EX-001-B1", 3, 5, -4, "x400", "tuckerman2007"), "stromal_cells", "negative count"),
])
def test_bad_rows_exit_1_naming_row_and_field_nothing_stored(loaded, tmp_path, snap, row,
                                                             column, words):
    before = snap(loaded)
    sheet = _sheet(tmp_path / "bad.csv", [*_fields("EX-001-B2", 0.05, n=2), row])
    res = cli("import", "unk", sheet)
    assert res.exit_code == 1
    out = res.output
    assert "bad.csv" in out and "row 4" in out and column in out and words in out
    assert "field 3" in out
    assert snap(loaded) == before
