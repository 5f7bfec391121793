"""Per-source accuracy of the biopsy call (issue 13 item; the screening issue hands the risk
each biopsy's call with its source, computed or typed clinic call).

Known truth for the update: with a *near-perfect* computed call and a vague typed clinic
call (Beta(2, 2) priors, truncated to better than chance), a computed abnormal call must
move the risk several times more than a clinic abnormal call. Known truth for the
learning routine: a synthetic cohort with computed calls of sensitivity 0.85 and
specificity 0.80 beside typed clinic calls of poor accuracy; the fit re-estimates the
computed call's accuracy within 3 SE.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from decidua.domain import BiopsyRecord, DecidualCall
from decidua.risk import RiskModel, shipped_params
from decidua.risk.learn import fit_clinic_data, simulate_cohort
from decidua.risk.model import encode_biopsies_by_source


def test_each_source_is_scored_with_its_own_accuracy():
    params = replace(shipped_params(), sens_prior=(40.0, 2.0), spec_prior=(40.0, 2.0),
                     clinic_sens_prior=(2.0, 2.0), clinic_spec_prior=(2.0, 2.0))
    m = RiskModel(params, draws=())
    base = m.predict(34, 3).p_loss
    computed = m.predict(34, 3, [("abnormal", "computed")] * 2).p_loss
    clinic = m.predict(34, 3, [("abnormal", "clinic")] * 2).p_loss
    assert computed > base + 0.02
    # the vague clinic prior (truncated to better than chance) moves it far less
    assert 0 <= clinic - base < 0.25 * (computed - base)
    many = m.predict_many([34.0], 3, 0, 2, 0, n_biopsy_abnormal_clinic=1,
                          interval=None).p_loss[0]
    assert many == pytest.approx(m.predict(34, 3, ["abnormal", "abnormal",
                                                   ("abnormal", "clinic")]).p_loss, abs=1e-9)


def test_records_carry_their_call_source():
    day = dt.date(2025, 1, 1)
    recs = [BiopsyRecord("B1", day, clinic_call=DecidualCall.ABNORMAL, call_source="clinic"),
            BiopsyRecord("B2", day, clinic_call=DecidualCall.NORMAL, call_source="computed"),
            BiopsyRecord("B3", day, clinic_call=DecidualCall.NORMAL)]
    assert encode_biopsies_by_source(recs) == (0, 2, 1, 0)
    with pytest.raises(Exception, match="source"):
        encode_biopsies_by_source([("abnormal", "guess")])


def test_learning_re_estimates_the_computed_calls_accuracy_beside_clinic_calls():
    truth = replace(shipped_params(), theta_mean=0.20, theta_concentration=4.0, grid_size=100,
                    clinic_sens_prior=(12.0, 8.0), clinic_spec_prior=(12.0, 8.0))
    cohort = simulate_cohort(truth, 3000, sensitivity=0.85, specificity=0.80, seed=31,
                             clinic_accuracy=(0.60, 0.60))
    assert cohort[["n_biopsy_abnormal_clinic", "n_biopsy_normal_clinic"]].to_numpy().sum() > 0
    start = replace(truth, theta_mean=0.08, theta_concentration=1.5)
    fit = fit_clinic_data(cohort, params=start)
    for name, value in (("sensitivity", 0.85), ("specificity", 0.80), ("theta_mean", 0.20)):
        est, se = getattr(fit, name), fit.se[name]
        assert np.isfinite(se) and abs(est - value) <= 3 * se, (name, est, se)
