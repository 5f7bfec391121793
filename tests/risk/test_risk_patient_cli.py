"""`decidua risk patient` and `decidua pathway patient` on a real (SQLite / PostgreSQL)
store loaded with the example import files (EX-001: three losses, the second with an
abnormal pregnancy-tissue karyotype; biopsies called abnormal then normal)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from decidua import RESEARCH_USE_LABEL
from decidua.cli import app

runner = CliRunner()
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]


def _load(db: str, examples: Path) -> None:
    for kind in KINDS:
        r = runner.invoke(app, ["--db", db, "import", kind, str(examples / f"{kind}.csv")])
        assert r.exit_code == 0, r.output


def test_risk_patient_uses_stored_history_and_biopsies(db: str, examples: Path) -> None:
    _load(db, examples)
    r = runner.invoke(app, ["--db", db, "risk", "patient", "EX-001", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["patient_id"] == "EX-001"
    ev = out["evidence"]
    assert (ev["n_loss"], ev["n_loss_karyotype_abnormal"]) == (2, 1)
    assert (ev["n_biopsy_abnormal"], ev["n_biopsy_normal"]) == (1, 1)
    assert out["interval"][0] < out["p_loss"] < out["interval"][1]
    assert out["label"] == RESEARCH_USE_LABEL
    text = runner.invoke(app, ["--db", db, "risk", "patient", "EX-001"])
    assert text.exit_code == 0 and RESEARCH_USE_LABEL in text.stdout
    assert "credible interval" in text.stdout


def test_pathway_patient(db: str, examples: Path) -> None:
    _load(db, examples)
    r = runner.invoke(
        app, ["--db", db, "pathway", "patient", "EX-001", "--json", "--research-biopsy"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    steps = {s["id"]: s for s in out["steps"]}
    assert out["losses"] == 3 and "consultant_clinic" in steps
    assert steps["thyroid_tsh"]["status"] == "done"
    assert steps["uterine_anatomy"]["status"] == "done"
    assert "TPO antibodies not recorded" in out["missing"]
    assert "TSH not recorded" not in out["missing"]
    assert steps["research_biopsy"]["status"] == "offer"
    text = runner.invoke(app, ["--db", db, "pathway", "patient", "EX-001"])
    assert text.exit_code == 0
    assert "Not recommended outside research" in text.stdout
    assert RESEARCH_USE_LABEL in text.stdout


def test_unknown_patient_is_exit_1(db: str, examples: Path) -> None:
    _load(db, examples)
    for cmd in (["risk", "patient"], ["pathway", "patient"]):
        r = runner.invoke(app, ["--db", db, *cmd, "NOPE"])
        assert r.exit_code == 1
        assert "NOPE" in r.output and "Traceback" not in r.output


def test_saved_assessments_are_stored_with_inputs_and_audited(db: str, examples: Path) -> None:
    from sqlalchemy import select

    from decidua.store import models as m
    from decidua.store.session import session_scope

    _load(db, examples)
    first = runner.invoke(app, ["--db", db, "risk", "patient", "EX-001", "--save", "--json"])
    assert first.exit_code == 0, first.output
    shown = json.loads(first.stdout)
    runner.invoke(app, ["--db", db, "risk", "patient", "EX-001", "--save"])
    hist = runner.invoke(app, ["--db", db, "risk", "history", "EX-001", "--json"])
    rows = json.loads(hist.stdout)["assessments"]
    assert len(rows) == 2
    assert rows[0]["p_loss"] == shown["p_loss"]
    assert rows[0]["interval"] == shown["interval"]
    assert rows[0]["model_version"] == shown["model_version"]
    with session_scope(db) as s:
        a = s.scalars(select(m.RiskAssessment)).first()
        assert [p["outcome"] for p in a.inputs["pregnancies"]] == ["miscarriage"] * 2 + [
            "biochemical"
        ]
        assert {b["biopsy_id"] for b in a.inputs["biopsies"]} == {"EX-001-B1", "EX-001-B2"}
        events = s.scalars(
            select(m.AuditEvent).where(m.AuditEvent.entity == "risk_assessment")
        ).all()
        assert len(events) == 2 and events[0].actor == "tester"
    assert runner.invoke(app, ["--db", db, "risk", "history", "NOPE"]).exit_code == 1
