"""The cohort report: hand-built women with known calls and next-pregnancy outcomes
(the 2x2 table is known by construction); exact intervals checked against SciPy's
``binomtest(...).proportion_ci(method="exact")``; the CLI on the example records."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.domain import (
    BiopsyRecord,
    DecidualCall,
    Outcome,
    PatientRecord,
    PregnancyRecord,
)
from decidua.reports import render
from decidua.reports.cohort import build_cohort_report, clopper_pearson, index_call

runner = CliRunner()
ON = dt.date(2025, 6, 1)


def _woman(i: int, call: DecidualCall | None, outcome: Outcome | None,
           treated: bool = False) -> PatientRecord:
    preg = [PregnancyRecord(1, Outcome.MISCARRIAGE, 8.0, outcome_date=dt.date(2019, 1, 1)),
            PregnancyRecord(2, Outcome.MISCARRIAGE, 7.0, outcome_date=dt.date(2019, 8, 1))]
    if outcome is not None:
        preg.append(PregnancyRecord(3, outcome, outcome_date=dt.date(2021, 3, 1)))
    bx = (BiopsyRecord(f"W{i:03d}-B1", dt.date(2020, 2, 10), dt.date(2020, 2, 2), 1,
                       on_treatment=treated, clinic_call=call),)
    return PatientRecord(f"W{i:03d}", 1985 + i % 10, pregnancies=tuple(preg), biopsies=bx)


def _cohort() -> list[PatientRecord]:
    A, N = DecidualCall.ABNORMAL, DecidualCall.NORMAL
    spec = ([(A, Outcome.MISCARRIAGE)] * 6 + [(A, Outcome.LIVE_BIRTH)] * 3
            + [(N, Outcome.MISCARRIAGE)] * 4 + [(N, Outcome.LIVE_BIRTH)] * 12
            + [(N, None)] * 5 + [(A, Outcome.ECTOPIC)] * 2)
    women = [_woman(i, c, o) for i, (c, o) in enumerate(spec)]
    women.append(_woman(len(women), A, Outcome.MISCARRIAGE, treated=True))  # not an index call
    return women


def test_two_by_two_and_exact_intervals() -> None:
    recs = _cohort()
    rep = build_cohort_report(recs, {r.patient_id: "rpl" for r in recs}, on=ON,
                              generated_at="2025-06-01T00:00:00Z")
    co = rep.call_outcome
    assert (co.abnormal_loss, co.abnormal_birth, co.normal_loss, co.normal_birth) == (6, 3, 4, 12)
    ci = binomtest(6, 10).proportion_ci(confidence_level=0.95, method="exact")
    assert co.sensitivity.estimate == pytest.approx(0.6)
    assert (co.sensitivity.low, co.sensitivity.high) == pytest.approx((ci.low, ci.high))
    ci = binomtest(12, 15).proportion_ci(confidence_level=0.95, method="exact")
    assert (co.specificity.low, co.specificity.high) == pytest.approx((ci.low, ci.high))
    for k, n in ((0, 7), (7, 7)):
        ci = binomtest(k, n).proportion_ci(method="exact")
        iv = clopper_pearson(k, n)
        assert (iv.low, iv.high) == pytest.approx((ci.low, ci.high))
    assert rep.n_women == len(recs) and rep.n_biopsies == len(recs)
    html = render.to_html(rep)
    assert "60.0% (95% CI" in html and "80.0% (95% CI" in html
    # pseudonymised: no woman's id or biopsy code
    assert not re.search(r"W\d{3}", html)


def test_index_call_is_the_last_untreated_called_biopsy_before_a_later_pregnancy() -> None:
    rec = PatientRecord("P", 1990, pregnancies=(
        PregnancyRecord(1, Outcome.MISCARRIAGE, outcome_date=dt.date(2021, 1, 1)),
        PregnancyRecord(2, Outcome.LIVE_BIRTH, outcome_date=dt.date(2023, 1, 1))),
        biopsies=(BiopsyRecord("a", dt.date(2020, 1, 1), clinic_call=DecidualCall.ABNORMAL),
                  BiopsyRecord("b", dt.date(2021, 6, 1), clinic_call=DecidualCall.NORMAL),
                  BiopsyRecord("c", dt.date(2021, 9, 1), on_treatment=True,
                               clinic_call=DecidualCall.ABNORMAL),
                  BiopsyRecord("d", dt.date(2024, 1, 1), clinic_call=DecidualCall.ABNORMAL)))
    assert index_call(rec) == ("normal", Outcome.LIVE_BIRTH)


def test_cohort_command_for_researchers(loaded: str, tmp_path: Path) -> None:
    out = tmp_path / "cohort.html"
    res = runner.invoke(app, ["--db", loaded, "report", "cohort", "-o", str(out)],
                        env={"DECIDUA_USER": "cleo"})
    assert res.exit_code == 1 and "may not run" in res.output
    res = runner.invoke(app, ["--db", loaded, "report", "cohort", "-o", str(out), "--on",
                              "2024-01-01"], env={"DECIDUA_USER": "rita"})
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "Cohort report: 3 women (pseudonymised)" in html
    assert "Research use only; not a diagnostic device." in html
    for ident in ("EX-001", "EX-002", "EX-003", "1989", "2021-11-10"):
        assert ident not in html
