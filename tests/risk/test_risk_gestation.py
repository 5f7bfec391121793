"""Gestation at loss and fetal heart activity in the risk model (model 2026.12-3; issue 13).

Until 2026.12-2 these were counted in the evidence but not scored. Published figures (see
``decidua.literature``), none of them an effect size the model could be fitted to:

* Egerup et al., Hum Reprod 2016;31:2428-34 (127 women with secondary RPL): a late
  (second-trimester) loss before the last birth, IRR 1.31 (95% CI 0.62-2.77); an early
  loss there 0.88 (0.70-1.11); "second trimester losses seem to exhibit a stronger
  negative impact than early losses" (their summary of earlier work).
* Kling et al., Arch Gynecol Obstet 2016 (228 couples, >= 3 first-trimester losses):
  embryonic heart action seen in 2-3 of the first three losses -> a better 2-year outcome
  (p < 0.002), no effect size.
* Kolte et al., Hum Reprod 2014;29:931-7: losses before visualisation (biochemical)
  weigh like clinical miscarriages (live-birth RR 0.90 each).

So the model counts an untested second-trimester loss as ``second_trimester_loss_weight``
(1.5) losses and an untested first-trimester loss after fetal heart activity as
``fetal_heart_loss_weight`` (0.8) losses, both assumptions drawn uniformly ([1, 2] and
[0.6, 1]) in the parameter draws. The tests check the directions, that the effect is
modest (between none and one further loss), the published checks, monotonicity over a
grid (calibrated parameters and every draw), and the stored-record path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.domain import KaryotypeResult, Outcome, PregnancyRecord
from decidua.errors import InputError
from decidua.literature import (
    EGERUP_2016_LATE_LOSS_BEFORE_BIRTH_IRR,
    EGERUP_2016_LOSS_BEFORE_BIRTH_IRR,
)
from decidua.risk import default_model, predict, predict_many
from decidua.risk.model import encode_history

L, B, BC = Outcome.MISCARRIAGE, Outcome.LIVE_BIRTH, Outcome.BIOCHEMICAL


def rec(spec: str) -> list[PregnancyRecord]:
    """L: miscarriage at 8 weeks, T: at 16 weeks, H: at 9 weeks after fetal heart
    activity, N: at 8 weeks with no heart activity seen, C: biochemical, B: term birth."""
    out = []
    for i, c in enumerate(spec, 1):
        out.append({"L": PregnancyRecord(i, L, 8.0), "T": PregnancyRecord(i, L, 16.0),
                    "H": PregnancyRecord(i, L, 9.0, fetal_heart_activity=True),
                    "N": PregnancyRecord(i, L, 8.0, fetal_heart_activity=False),
                    "C": PregnancyRecord(i, BC, 5.0), "B": PregnancyRecord(i, B, 39.0)}[c])
    return out


def p(spec: str, age: float = 34.0) -> float:
    return predict(age, rec(spec)).p_loss


@pytest.mark.parametrize("age", [25.0, 34.0, 41.0])
def test_a_second_trimester_loss_weighs_more_than_a_first_trimester_one_but_less_than_two(age):
    first, late, one_more = p("LLL", age), p("LLT", age), p("LLLL", age)
    assert late > first * 1.005         # scored (before 2026.12-3: equal)
    assert late < one_more              # modest: less than a further loss


@pytest.mark.parametrize("age", [25.0, 34.0, 41.0])
def test_a_loss_after_fetal_heart_activity_weighs_less_than_one_before_it_but_counts(age):
    plain, heart, fewer = p("LLL", age), p("LLH", age), p("LL", age)
    assert heart < plain * 0.99         # scored (before 2026.12-3: equal)
    assert heart > fewer                # still a loss
    assert p("LLN", age) == pytest.approx(plain, abs=1e-12)  # no heart activity: as unknown


def test_published_checks_egerup_and_kolte():
    base = p("BLLL", 33.0)
    late_before = p("TBLLL", 33.0) / base
    early_before = p("LBLLL", 33.0) / base
    _, lo, hi = EGERUP_2016_LATE_LOSS_BEFORE_BIRTH_IRR
    assert lo < late_before < hi
    _, lo, hi = EGERUP_2016_LOSS_BEFORE_BIRTH_IRR
    assert lo < early_before < hi
    assert late_before > early_before   # the direction Egerup report (1.31 vs 0.88)
    assert p("BLLLT", 33.0) > p("BLLLL", 33.0)  # after the birth as well
    # Kolte 2014: a biochemical loss weighs like a clinical first-trimester miscarriage
    assert p("LLC") == pytest.approx(p("LLL"), abs=1e-12)


def test_gestation_weights_are_monotone_over_a_grid_and_every_parameter_draw():
    m = default_model()
    ages = np.arange(16.0, 48.0, 3.0)
    for mdl in [m, *m._draw_model_list()]:
        for k in range(1, 6):
            for lb in (0, 1):
                kw = {"interval": None}
                plain = mdl.predict_many(ages, k, lb, **kw).p_loss
                late = mdl.predict_many(ages, k, lb, n_losses_second_trimester=1, **kw).p_loss
                heart = mdl.predict_many(ages, k, lb, n_losses_after_heart_activity=1,
                                         **kw).p_loss
                fewer = mdl.predict_many(ages, k - 1, lb, **kw).p_loss
                assert np.all(late > plain) and np.all(heart < plain)
                assert np.all(heart > fewer)
                le = mdl.predict_many(ages, 0, 1, n_losses_earlier=k,
                                      n_losses_second_trimester_earlier=1, **kw).p_loss
                pe = mdl.predict_many(ages, 0, 1, n_losses_earlier=k, **kw).p_loss
                assert np.all(le >= pe)


def test_a_late_loss_raises_the_risk_but_not_the_embryonic_share():
    """Model 2026.12-4 (issue 13): second-trimester losses are less often aneuploid than
    first-trimester ones, so replacing an untested early loss by an untested late one
    raises p_loss (at least as much as the early loss did: it is the early loss plus a
    theta-only tilt) and does not raise the embryonic share. 2026.12-3 (power likelihood
    pi^1.5) raised the share (34 y, L L T: 0.56 -> 0.60); a plain theta^0.5 tilt lowered
    some women's risk below the early-loss history's."""
    m = default_model()
    ages = np.arange(20.0, 46.0)
    for mdl in [m, *m._draw_model_list()]:
        for k in range(1, 6):
            for lb in (0, 1):
                kw = {"interval": None}
                early = mdl.predict_many(ages, k, lb, **kw)
                late = mdl.predict_many(ages, k, lb, n_losses_second_trimester=1, **kw)
                assert np.all(late.p_loss > early.p_loss)
                assert np.all(late.embryonic_share <= early.embryonic_share + 1e-12)
                # the absolute embryonic part is the early-loss history's
                np.testing.assert_allclose(late.p_loss * late.embryonic_share,
                                           early.p_loss * early.embryonic_share, rtol=1e-9)
                if k >= 2:  # two late losses: further up, share further down
                    two = mdl.predict_many(ages, k, lb, n_losses_second_trimester=2, **kw)
                    assert np.all(two.p_loss > late.p_loss)
                    assert np.all(two.embryonic_share <= late.embryonic_share + 1e-12)
    # the stored-record path (predict, exact posterior) agrees: 34 y, L L L vs L L T
    plain, lat = predict(34, rec("LLL")), predict(34, rec("LLT"))
    assert lat.p_loss > plain.p_loss
    assert lat.components.embryonic < plain.components.embryonic


def test_the_interval_carries_the_uncertainty_of_the_gestation_weight():
    plain, late = predict(34, rec("LLL")), predict(34, rec("LLT"))
    width = lambda r: r.p_loss_parameter_interval[1] - r.p_loss_parameter_interval[0]  # noqa: E731
    assert width(late) > 1.1 * width(plain)  # 2026.12-3: > 1.5 (a larger late effect)
    assert late.p_loss_parameter_interval[0] > plain.p_loss_parameter_interval[0]


def test_karyotyped_losses_and_kinds_are_encoded_once():
    recs = [PregnancyRecord(1, L, 15.0, fetal_heart_activity=True),   # late, not "heart"
            PregnancyRecord(2, L, 9.0, fetal_heart_activity=True,
                            karyotype=KaryotypeResult.NORMAL),          # karyotype rules
            PregnancyRecord(3, L, None, fetal_heart_activity=True)]     # unknown weeks: first
    e = encode_history(recs)
    assert (e.n_loss_second_trimester, e.n_loss_after_heart_activity) == (1, 2)
    assert (e.n_loss_second_trimester_untested, e.n_loss_after_heart_untested) == (1, 1)
    normal_late = [PregnancyRecord(1, L, 16.0, karyotype=KaryotypeResult.NORMAL)]
    normal_early = [PregnancyRecord(1, L, 8.0, karyotype=KaryotypeResult.NORMAL)]
    assert predict(34, normal_late).p_loss == pytest.approx(predict(34, normal_early).p_loss,
                                                            abs=1e-12)


def test_predict_many_takes_the_gestation_counts_like_predict():
    hist = rec("HBLTL")  # H earlier; last run T, L
    one = predict(36, hist, history_age=34.0)
    ev = one.evidence
    many = predict_many([36.0], ev.n_loss, ev.n_live_births, interval=None,
                        history_age=[34.0], n_losses_earlier=ev.n_loss_earlier,
                        n_live_births_earlier=ev.n_live_births_earlier,
                        n_losses_second_trimester=ev.n_loss_second_trimester_untested,
                        n_losses_after_heart_activity_earlier=ev.n_loss_after_heart_untested_earlier)
    assert (ev.n_loss_second_trimester_untested, ev.n_loss_after_heart_untested_earlier) == (1, 1)
    assert many.p_loss[0] == pytest.approx(one.p_loss, abs=1e-9)
    with pytest.raises(InputError, match="cannot exceed"):
        predict_many([36.0], 1, n_losses_second_trimester=1, n_losses_after_heart_activity=1,
                     interval=None)


def test_stored_fetal_heart_activity_reaches_risk_patient(db: str, examples: Path,
                                                          tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["--db", db, "import", "patients", str(examples / "patients.csv")])
    assert r.exit_code == 0, r.output
    f = tmp_path / "pregs.csv"
    f.write_text("patient_id,order,outcome,gestation_weeks,fetal_heart_activity\n"
                 "EX-002,1,miscarriage,9,true\nEX-002,2,miscarriage,8,\n"
                 "EX-002,3,miscarriage,17,true\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "import", "pregnancies", str(f)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", db, "risk", "patient", "EX-002", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    ev = out["evidence"]
    assert (ev["n_loss_after_heart_activity"], ev["n_loss_second_trimester"]) == (1, 1)
    assert out["model_version"] == "2026.12-4"


def test_risk_predict_cli_takes_gestation_counts() -> None:
    runner = CliRunner()
    base = ["risk", "predict", "--age", "34", "--losses", "3", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)["p_loss"]
    r = runner.invoke(app, [*base, "--second-trimester-losses", "1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["p_loss"] == pytest.approx(p("LLT"), abs=1e-12) and out["p_loss"] > plain
    assert out["evidence"]["n_loss_second_trimester"] == 1
    r = runner.invoke(app, [*base, "--losses-after-heart-activity", "1"])
    assert json.loads(r.stdout)["p_loss"] == pytest.approx(p("LLH"), abs=1e-12)
    r = runner.invoke(app, [*base, "--second-trimester-losses", "2",
                            "--losses-after-heart-activity", "2"])
    assert r.exit_code != 0 and "cannot exceed" in r.output and "Traceback" not in r.output
