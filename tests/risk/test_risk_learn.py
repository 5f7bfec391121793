"""Learning from clinic data: parameter recovery on synthetic cohorts.

Known truth: cohorts are drawn by ``simulate_cohort`` (documented generator) from fixed
sensitivity, specificity and theta distribution; the fit starts elsewhere and must come
back to within three standard errors of the truth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from decidua.errors import InputError, ModelError
from decidua.risk import RiskModel, shipped_params
from decidua.risk.learn import fit_clinic_data, simulate_cohort


@pytest.mark.parametrize(
    "sens, spec, mu, kappa, seed",
    [(0.85, 0.80, 0.25, 3.0, 11), (0.70, 0.92, 0.15, 5.0, 12)],
)
def test_parameter_recovery(sens, spec, mu, kappa, seed):
    truth = replace(shipped_params(), theta_mean=mu, theta_concentration=kappa, grid_size=100)
    cohort = simulate_cohort(truth, 3000, sensitivity=sens, specificity=spec, seed=seed)
    start = replace(truth, theta_mean=0.08, theta_concentration=1.5)
    fit = fit_clinic_data(cohort, params=start)
    est = {"sensitivity": fit.sensitivity, "specificity": fit.specificity,
           "theta_mean": fit.theta_mean, "theta_concentration": fit.theta_concentration}
    true = {"sensitivity": sens, "specificity": spec, "theta_mean": mu,
            "theta_concentration": kappa}
    for name in est:
        se = fit.se[name]
        assert np.isfinite(se) and se > 0
        assert abs(est[name] - true[name]) <= 3 * se, (name, est[name], true[name], se)
    assert fit.converged


def test_updated_params_feed_back_into_the_model():
    truth = replace(shipped_params(), theta_mean=0.25, theta_concentration=3.0, grid_size=100)
    cohort = simulate_cohort(truth, 1500, sensitivity=0.9, specificity=0.9, seed=5)
    fit = fit_clinic_data(cohort, params=truth)
    new = fit.updated_params()
    assert new.model_version.endswith("+clinic")
    a, b = new.sens_prior
    assert abs(a / (a + b) - fit.sensitivity) < 1e-9
    # An accurate call (learned) moves a risk further than the vague default prior does.
    vague = RiskModel(truth).predict(34, 3, ["abnormal"] * 3).p_loss
    learned = RiskModel(new).predict(34, 3, ["abnormal"] * 3).p_loss
    assert learned > vague


def test_simulation_is_seeded():
    p = shipped_params()
    a = simulate_cohort(p, 50, sensitivity=0.8, specificity=0.8, seed=3)
    b = simulate_cohort(p, 50, sensitivity=0.8, specificity=0.8, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_invalid_cohort_lists_every_problem():
    df = simulate_cohort(shipped_params(), 30, sensitivity=0.8, specificity=0.8, seed=1)
    df.loc[2, "age"] = 80
    df.loc[4, "next_loss"] = 2
    df.loc[5, "n_losses"] = -1
    with pytest.raises(InputError) as info:
        fit_clinic_data(df)
    cols = {p.column for p in info.value.problems}
    assert cols == {"age", "next_loss", "n_losses"}
    with pytest.raises(InputError, match="lacks column"):
        fit_clinic_data(df.drop(columns="next_loss"))
    with pytest.raises(ModelError):
        fit_clinic_data(df.iloc[:5].assign(age=30.0, next_loss=0, n_losses=1))


def test_fit_integrates_the_embryonic_frailty_like_the_predictor():
    """Known truth from the documented generator (frailty z ~ N(0, 1), sigma as shipped):
    the frailty-aware fit recovers theta's distribution and the call's accuracy within
    3 SE; the same data fitted as if there were no frailty (sigma = 0, what the clinic
    routine did before model 2026.12-2) put the embryonic excess into theta."""
    truth = replace(shipped_params(), theta_mean=0.20, theta_concentration=4.0, grid_size=100)
    cohort = simulate_cohort(truth, 3000, sensitivity=0.80, specificity=0.85, seed=21)
    assert cohort["z"].std() == pytest.approx(1.0, abs=0.05)
    start = replace(truth, theta_mean=0.08, theta_concentration=1.5)
    fit = fit_clinic_data(cohort, params=start)
    true = {"sensitivity": 0.80, "specificity": 0.85, "theta_mean": 0.20,
            "theta_concentration": 4.0}
    for name, value in true.items():
        assert abs(getattr(fit, name) - value) <= 3 * fit.se[name], (name, getattr(fit, name))
    naive = fit_clinic_data(cohort, params=replace(start, embryonic_sd=0.0))
    assert abs(naive.theta_concentration - 4.0) > abs(fit.theta_concentration - 4.0)
    assert naive.log_likelihood < fit.log_likelihood
