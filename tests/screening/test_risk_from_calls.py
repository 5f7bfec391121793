"""`risk patient` uses each biopsy's computed call (typed clinic call only where none
exists, and says which), and shows how much each biopsy moved the estimate.

Through the CLI on the bundled synthetic demo cohort: changing a demo biopsy's assays
(a uNK count sheet far above the Tuckerman 2007 range at LH+8) and analysing it
changes that woman's `risk patient`.
"""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()
WOMAN, BIOPSY = "DEC-0002", "DEC-0002-B1"  # B1: LH+8, untreated; demo assays call it "normal"


def test_changing_a_demo_biopsys_assays_changes_her_risk(tmp_path, demo_db):
    url = demo_db

    def cli(*args):
        return runner.invoke(app, ["--db", url, *map(str, args)])

    before = json.loads(cli("risk", "patient", WOMAN, "--json").stdout)
    row = next(b for b in before["biopsy_calls"] if b["biopsy"] == BIOPSY)
    # the demo loads synthetic assays, so this biopsy already has a computed (normal) call
    assert row["source"] == "computed" and row["call"] == "normal" and row["used"]
    assert "change" in row and row["p_loss_after"] == round(row["p_loss_before"] + row["change"], 4)

    sheet = tmp_path / "unk.csv"
    with sheet.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["biopsy_id", "field", "cd56_positive", "stromal_cells", "magnification",
                    "protocol"])
        for f in range(11, 21):  # ten more fields beside the demo's ten
            w.writerow([BIOPSY, f, 30, 100, "x400", "tuckerman2007"])
    assert cli("import", "unk", sheet).exit_code == 0
    res = cli("biopsy", "analyse", BIOPSY, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"][0]["call"] == "abnormal"

    after = json.loads(cli("risk", "patient", WOMAN, "--json").stdout)
    row = next(b for b in after["biopsy_calls"] if b["biopsy"] == BIOPSY)
    assert row["source"] == "computed" and row["call"] == "abnormal"
    assert after["p_loss"] > before["p_loss"]
    assert row["change"] > 0
    # her other biopsies keep the calls they had
    calls = {b["biopsy"]: (b["source"], b["call"]) for b in before["biopsy_calls"]}
    others = [b for b in after["biopsy_calls"] if b["biopsy"] != BIOPSY]
    assert all((b["source"], b["call"]) == calls[b["biopsy"]] for b in others)
    text = cli("risk", "patient", WOMAN).stdout
    assert BIOPSY in text and "computed call" in text and "points" in text
