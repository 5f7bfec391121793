"""Progesterone for bleeding is offered only with a scan-confirmed intrauterine pregnancy
(NICE NG126 1.5.2; PRISM) and a previous loss: the condition is a real input of
`pathway patient` (--scan-confirmed-iup), not only of the engine. Through the CLI on the
bundled synthetic demo cohort (SQLite)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()


def test_pathway_patient_offers_progesterone_only_after_a_scan(demo_db):
    url = demo_db

    def steps(*flags):
        r = runner.invoke(app, ["--db", url, "pathway", "patient", "DEC-0002", "--json", *flags])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["losses"] >= 1
        return {s["id"]: s for s in out["steps"]}

    unscanned = steps("--bleeding")
    assert "progesterone_bleeding" not in unscanned
    assert "confirm_intrauterine_pregnancy" in unscanned
    scanned = steps("--bleeding", "--scan-confirmed-iup")
    assert scanned["progesterone_bleeding"]["action"] == "offer"
    assert "confirm_intrauterine_pregnancy" not in scanned
    # a scan without bleeding offers nothing: progesterone is "not recommended" then
    quiet = steps("--pregnant", "--scan-confirmed-iup")
    assert "progesterone_bleeding" not in quiet
    assert "no_progesterone_without_bleeding" in quiet
