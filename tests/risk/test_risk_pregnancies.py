"""Each pregnancy as it happened (issue 13): stillbirth as an outcome (migration 0004,
domain, importer), preterm birth derived from gestation, ectopic / molar / stillbirth not
counted as pregnancy losses (ESHRE 2022), and a stored stillbirth reaching the pathway."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from decidua.cli import app
from decidua.domain import Outcome, PatientRecord, PregnancyRecord
from decidua.pathway import compute_facts
from decidua.risk import predict

runner = CliRunner()


def test_stillbirth_preterm_and_what_counts_as_a_loss():
    sb = PregnancyRecord(1, Outcome.STILLBIRTH, gestation_weeks=30)
    assert not sb.is_loss
    assert PregnancyRecord(2, Outcome.LIVE_BIRTH, gestation_weeks=34).preterm is True
    assert PregnancyRecord(2, Outcome.LIVE_BIRTH, gestation_weeks=39).preterm is False
    assert PregnancyRecord(2, Outcome.LIVE_BIRTH).preterm is None
    assert sb.preterm is None
    rec = PatientRecord("P", 1990, pregnancies=(
        PregnancyRecord(1, Outcome.ECTOPIC), PregnancyRecord(2, Outcome.MOLAR), sb,
        PregnancyRecord(4, Outcome.MISCARRIAGE, gestation_weeks=8)))
    assert rec.n_losses == 1
    facts = compute_facts(rec)
    assert facts["losses"] == 1 and facts["later_losses"] == 1
    ev = predict(33, list(rec.pregnancies)).evidence
    assert ev.n_losses_total == 1 and ev.n_live_births == 0


def test_stillbirth_imports_and_earlier_fetal_death_is_refused(db: str, examples: Path,
                                                              tmp_path: Path) -> None:
    r = runner.invoke(app, ["--db", db, "import", "patients",
                            str(examples / "patients.csv")])
    assert r.exit_code == 0, r.output
    ok = tmp_path / "pregs.csv"
    ok.write_text("patient_id,order,outcome,gestation_weeks,outcome_date\n"
                  "EX-002,1,stillbirth,31,2021-05-01\n"
                  "EX-002,2,miscarriage,9,2022-03-01\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "import", "pregnancies", str(ok)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", db, "pathway", "patient", "EX-002", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["losses"] == 1 and out["facts"]["later_losses"] == 1
    assert "consultant_clinic" in {s["id"] for s in out["steps"]}
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,order,outcome,gestation_weeks\nEX-002,3,stillbirth,20\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "import", "pregnancies", str(bad)])
    assert r.exit_code == 1
    assert "stillbirth" in r.output and "Traceback" not in r.output


def test_previous_pregnancies_scored_at_their_real_ages():
    """Issue 13: previous pregnancies are scored at her real ages from the stored dates,
    not at age - 2. Three losses at 24-26 say less about the age-related (embryonic) risk
    she carries at 40 than three losses at 38, so her risk is lower (measured 0.42 vs
    0.52); in the spirit of Kolte 2021 (recent outcomes matter most)."""
    import datetime as dt

    from decidua.risk import predict_record

    dates = (dt.date(2010, 3, 1), dt.date(2011, 3, 1), dt.date(2012, 3, 1))
    dated = PatientRecord("P", 1986, pregnancies=tuple(
        PregnancyRecord(i, Outcome.MISCARRIAGE, outcome_date=d)
        for i, d in enumerate(dates, start=1)))
    undated = PatientRecord("P", 1986, pregnancies=tuple(
        PregnancyRecord(i, Outcome.MISCARRIAGE) for i in range(1, 4)))
    on = dt.date(2026, 7, 1)
    p_dated = predict_record(dated, on).p_loss
    p_undated = predict_record(undated, on).p_loss
    assert p_undated == predict(dated.age_on(on), 3).p_loss
    assert p_dated < p_undated - 0.05
    h = sum(dated.age_on(d) for d in dates) / 3
    assert predict(dated.age_on(on), 3, history_age=h).p_loss == p_dated
