"""CFU statistics: exact intervals, pooling, rate ratios, trial GLM, manual-count reader."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from decidua.assays.clonogenicity.stats import (
    cfu_percent,
    compare_rates,
    fit_trial,
    poisson_interval,
    pool_counts,
    validate_counts,
)
from decidua.assays.clonogenicity.synthetic import TEWARY_RATE_RATIO, simulate_trial
from decidua.errors import InputError, ModelError

# Garwood (1936) exact 95 % limits, as tabulated e.g. in Ulm, Am J Epidemiol
# 1990;131:373-375: k=0 -> (0, 3.689), k=1 -> (0.0253, 5.572),
# k=10 -> (4.795, 18.390).
GARWOOD_TABLE = {0: (0.0, 3.689), 1: (0.0253, 5.572), 10: (4.795, 18.390)}


@pytest.mark.parametrize("k", sorted(GARWOOD_TABLE))
def test_poisson_interval_matches_published_table(k):
    lo, hi = poisson_interval(k)
    assert lo == pytest.approx(GARWOOD_TABLE[k][0], abs=1e-3)
    assert hi == pytest.approx(GARWOOD_TABLE[k][1], abs=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 500), st.floats(0.5, 0.99))
def test_poisson_interval_chi2_identity_and_order(k, conf):
    """Independent form: limits are chi-square quantiles / 2."""
    lo, hi = poisson_interval(k, conf)
    a = 1 - conf
    ref_lo = 0.0 if k == 0 else sps.chi2.ppf(a / 2, 2 * k) / 2
    assert lo == pytest.approx(ref_lo, rel=1e-9, abs=1e-12)
    assert hi == pytest.approx(sps.chi2.ppf(1 - a / 2, 2 * k + 2) / 2, rel=1e-9)
    assert lo <= k <= hi


def test_cfu_percent():
    est = cfu_percent(25, 5000)
    assert est.cfu_pct == pytest.approx(0.5)
    assert est.lower_pct < 0.5 < est.upper_pct
    with pytest.raises(InputError, match="cells seeded"):
        cfu_percent(3, 0)
    with pytest.raises(InputError, match="colonies"):
        cfu_percent(-1, 100)


def test_rate_ratio_matches_clopper_pearson():
    rr = compare_rates(10, 1000, 20, 2000)
    assert rr.ratio == pytest.approx(1.0)
    lo, hi = proportion_confint(20, 30, alpha=0.05, method="beta")
    # pi = R t_a / (R t_a + t_b) -> R = pi / (1 - pi) * t_b / t_a
    assert rr.lower == pytest.approx(lo / (1 - lo) * 1000 / 2000, rel=1e-6)
    assert rr.upper == pytest.approx(hi / (1 - hi) * 1000 / 2000, rel=1e-6)
    assert rr.p_value == pytest.approx(1.0)
    big = compare_rates(10, 1000, 40, 1000)
    assert big.lower > 1 and big.p_value < 0.001
    with pytest.raises(ModelError):
        compare_rates(0, 1000, 0, 1000)


def test_rate_ratio_interval_covers_truth_in_simulation():
    """Coverage of the exact interval >= nominal (conservative) at R = 1.5."""
    rng = np.random.default_rng(0)
    hits = 0
    n_sim = 300
    for _ in range(n_sim):
        b = rng.poisson(12)
        a = rng.poisson(18)
        if a + b == 0:
            hits += 1
            continue
        r = compare_rates(int(b), 1000, int(a), 1000)
        hits += r.lower <= 1.5 <= r.upper
    assert hits / n_sim >= 0.93


def _counts():
    return pd.DataFrame({
        "biopsy_id": ["B1", "B1", "B1", "B2"],
        "plate": ["P1", "P2", "P3", "P1"],
        "well": ["dish"] * 4,
        "cells_seeded": [1000, 1000, 2000, 500],
        "colonies": [10, 12, 22, 0],
    })


def test_pool_counts():
    pooled = pool_counts(_counts()).set_index("biopsy_id")
    assert pooled.loc["B1", "colonies"] == 44
    assert pooled.loc["B1", "cells_seeded"] == 4000
    assert pooled.loc["B1", "cfu_pct"] == pytest.approx(1.1)
    assert pooled.loc["B1", "n_plates"] == 3
    # replicates agree closely -> Pearson dispersion below 1
    assert pooled.loc["B1", "dispersion"] < 1
    assert pooled.loc["B2", "cfu_pct"] == 0 and pooled.loc["B2", "lower_pct"] == 0
    assert pooled.loc["B2", "upper_pct"] > 0


def test_validate_counts_reports_every_bad_cell():
    df = _counts().astype(object)
    df.loc[0, "cells_seeded"] = 0
    df.loc[1, "colonies"] = -2
    df.loc[2, "colonies"] = "7.5"
    df.loc[3, "biopsy_id"] = ""
    with pytest.raises(InputError) as info:
        validate_counts(df, file="x.csv")
    probs = {(p.row, p.column) for p in info.value.problems}
    assert probs == {(1, "cells_seeded"), (2, "colonies"), (3, "colonies"), (4, "biopsy_id")}
    assert info.value.file == "x.csv"


@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_trial_glm_recovers_known_rate_ratio(family):
    """Synthetic trial (documented generator) with true RR = 1.52."""
    trial = simulate_trial(300, rate_ratio=TEWARY_RATE_RATIO, seed=42)
    fit = fit_trial(trial.data, family=family)
    assert fit.lower < TEWARY_RATE_RATIO < fit.upper
    assert math.log(fit.rate_ratio) == pytest.approx(math.log(TEWARY_RATE_RATIO), abs=0.1)
    assert fit.n == 600
    assert set(fit.coefficients["term"]) >= {"Intercept", "arm", "log_baseline", "age"}


def test_trial_glm_null_effect_and_overdispersion():
    trial = simulate_trial(150, rate_ratio=1.0, dispersion=0.3, seed=3)
    nb = fit_trial(trial.data, family="negbin")
    po = fit_trial(trial.data, family="poisson")
    assert nb.lower < 1.0 < nb.upper
    # Poisson ignores the overdispersion: narrower interval, Pearson >> 1
    assert (po.upper - po.lower) < (nb.upper - nb.lower)
    assert po.pearson_dispersion > 1.5
    assert nb.dispersion > 0.1


def test_trial_glm_errors():
    trial = simulate_trial(10, seed=1).data
    with pytest.raises(InputError, match="column"):
        fit_trial(trial.drop(columns="age"))
    with pytest.raises(ModelError):
        fit_trial(trial[trial["arm"] == 1])
    with pytest.raises(InputError, match="family"):
        fit_trial(trial, family="binomial")


def test_plot_cfu_draws_one_point_per_biopsy():
    from decidua.assays.clonogenicity.stats import plot_cfu

    pooled = pool_counts(_counts())
    fig = plot_cfu(pooled)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["B1", "B2"]
    xs = ax.lines[0].get_xdata()
    assert np.allclose(sorted(xs), sorted(pooled["cfu_pct"]))


def test_results_carry_the_shared_interval():
    """CFU %, rate ratios and trial fits expose their limits as decidua.stats.Interval,
    the same numbers as their existing fields."""
    from decidua.stats import Interval

    est = cfu_percent(12, 1000, 0.9)
    assert isinstance(est.interval, Interval)
    assert (est.interval.estimate, est.interval.low, est.interval.high, est.interval.level) == (
        est.cfu_pct, est.lower_pct, est.upper_pct, 0.9)
    rr = compare_rates(10, 1000, 20, 1000)
    assert (rr.interval.low, rr.interval.high) == (rr.lower, rr.upper)
    fit = fit_trial(simulate_trial(30, seed=4).data, family="poisson", confidence=0.8)
    assert (fit.interval.estimate, fit.interval.level) == (fit.rate_ratio, 0.8)
