"""Standard curves against published fits (drc ryegrass) and real Gen5 exports' own fits.

- drc ``ryegrass`` (R package drc; Inderjit, Streibig, Olofsdotter, Physiol
  Plant 2002): drc's LL.4 / LL.5 fits of the 24 replicates, in our letters.
- Two BioTek Gen5 exports (allotropy test data, MIT): Gen5's own 4PL
  parameters (3 significant figures) and back-calculated concentrations
  (3 decimals), reproduced from the exports' blank-subtracted values.
- Synthetic curves with known truth (documented inline) for weights,
  inverses and round trips.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decidua.assays.elisa import models
from decidua.assays.elisa.curve import StandardCurve, starting_values
from decidua.errors import InputError, ModelError

# drc 3.0 summaries of drm(rootl ~ conc, data = ryegrass, fct = LL.4() / LL.5()),
# translated to our letters (a = drc d, b = drc b, c = drc e, d = drc c, g = drc f).
LL4 = {"a": 7.79296, "b": 2.98222, "c": 3.05795, "d": 0.48141}
LL4_RESID_SE = 0.5196256
LL5 = {"a": 7.76054, "b": 3.92870, "c": 2.21539, "d": 0.32165, "g": 0.46831}
LL5_RESID_SE = 0.5270098


def test_ryegrass_ll4(ryegrass):  # type: ignore[no-untyped-def]
    conc, rootl = ryegrass
    curve = StandardCurve("4pl", fit_to="replicates").fit(conc, rootl)
    for k, v in LL4.items():
        assert curve.params[k] == pytest.approx(v, rel=1e-5), k
    assert curve.residual_se == pytest.approx(LL4_RESID_SE, rel=1e-6)
    assert curve.df == 20
    # Wald intervals contain the estimate and are ordered
    for iv in curve.param_intervals.values():
        assert iv.low < iv.estimate < iv.high


def test_ryegrass_ll5(ryegrass):  # type: ignore[no-untyped-def]
    """b and c are weakly determined: compare residual SE and fitted values, a/d/g loosely."""
    conc, rootl = ryegrass
    curve = StandardCurve("5pl", fit_to="replicates").fit(conc, rootl)
    assert curve.residual_se == pytest.approx(LL5_RESID_SE, rel=1e-6)
    assert curve.df == 19
    grid = np.array([0.0, 0.94, 1.88, 3.75, 7.5, 15.0, 30.0])
    published = models.logistic5(grid, *LL5.values())
    np.testing.assert_allclose(curve.predict(grid), published, atol=5e-4)
    assert curve.params["a"] == pytest.approx(LL5["a"], rel=1e-4)
    assert curve.params["d"] == pytest.approx(LL5["d"], rel=1e-3)
    assert curve.params["g"] == pytest.approx(LL5["g"], rel=2e-2)


# BioTek Gen5 3.12, "Fluorescamine Protein Quantitation": blank-subtracted standards (wells
# B1..H2) and the concentrations Gen5 printed for them.
FLUOR_CONC = np.repeat([50, 100, 200, 300, 400, 500, 600.0], 2)
FLUOR_OD = np.array(
    [6754, 6327, 13120, 13090, 26331, 26107, 39236, 39722, 51383, 50971, 59331, 60664, 69997,
     68865.0]
)
FLUOR_PRINTED = np.array(
    [51.441, 47.819, 101.257, 101.033, 198.604, 196.934, 299.158, 303.164, 406.107, 402.211,
     485.901, 500.251, 610.398, 596.029]
)
FLUOR_PARAMS = {"a": 1.93e03, "b": 1.31, "c": 676, "d": 1.48e05}


def test_gen5_fluorescamine_curve_reproduced():
    curve = StandardCurve("4pl").fit(FLUOR_CONC, FLUOR_OD)
    for k, v in FLUOR_PARAMS.items():
        assert float(f"{curve.params[k]:.3g}") == v, k
    assert round(curve.r2, 3) == 1.0
    np.testing.assert_allclose(curve.concentration(FLUOR_OD), FLUOR_PRINTED, atol=5e-4)


def test_fit_to_replicates_same_estimates_with_balanced_design():
    """Balanced duplicates: unweighted fits to means and to replicates share the estimates."""
    m = StandardCurve("4pl").fit(FLUOR_CONC, FLUOR_OD)
    r = StandardCurve("4pl", fit_to="replicates").fit(FLUOR_CONC, FLUOR_OD)
    for k in m.params:
        assert m.params[k] == pytest.approx(r.params[k], rel=1e-6)
    assert m.df == 7 - 4 and r.df == 14 - 4


def _synthetic(seed: int, cv: float = 0.03, n_rep: int = 3):
    """Known truth: a = 0.05, b = 1.2, c = 150, d = 3.2; 8 standards 0..1000 with multiplicative
    noise of CV ``cv`` (constant-CV errors: power-of-the-mean with theta = 1)."""
    rng = np.random.default_rng(seed)
    truth = np.array([0.05, 1.2, 150.0, 3.2])
    levels = np.array([0, 7.8, 15.6, 31.25, 62.5, 125, 250, 500, 1000.0])
    x = np.repeat(levels, n_rep)
    y = models.logistic4(x, *truth) * (1 + cv * rng.standard_normal(x.size))
    return truth, x, y


@pytest.mark.parametrize("weights", ["none", "1/y2", "1/var", "power"])
def test_weighted_fits_recover_truth(weights):
    truth, x, y = _synthetic(3)
    curve = StandardCurve("4pl", weights).fit(x, y)
    est = curve.param_array
    np.testing.assert_allclose(est, truth, rtol=0.15)
    if weights == "power":
        assert 0.5 < curve.theta < 1.5  # constant CV: theta ~ 1


def test_power_weights_better_at_low_end_than_unweighted():
    """With constant-CV noise, weighting improves the low standards' recovery (30 seeds)."""
    err_none, err_power = [], []
    for seed in range(30):
        truth, x, y = _synthetic(seed, cv=0.05)
        low = np.array([7.8, 15.6])
        for w, acc in (("none", err_none), ("power", err_power)):
            c = StandardCurve("4pl", w).fit(x, y)
            yl = models.logistic4(low, *truth)
            acc.append(np.nanmean(np.abs(c.concentration(yl) / low - 1)))
    assert np.mean(err_power) < np.mean(err_none)


def test_1_var_needs_replicates():
    with pytest.raises(InputError, match="two or more"):
        StandardCurve("4pl", "1/var").fit(FLUOR_CONC[::2], FLUOR_OD[::2])


def test_too_few_levels_and_flat():
    with pytest.raises(InputError, match="at least 5 distinct"):
        StandardCurve("4pl").fit(FLUOR_CONC[:8], FLUOR_OD[:8])
    with pytest.raises(InputError, match="at least 6 distinct"):
        StandardCurve("5pl").fit(FLUOR_CONC[:10], FLUOR_OD[:10])
    with pytest.raises(InputError, match="same response"):
        StandardCurve("4pl").fit(FLUOR_CONC, np.full(14, 0.5))
    with pytest.raises(InputError, match="model"):
        StandardCurve("3pl")


def test_pure_power_law_does_not_converge_cleanly():
    """No upper plateau (OD proportional to conc^1.585, as in a SoftMax Pro example): a ModelError,
    not a traceback or a silent absurd curve."""
    x = np.array([5, 10, 20, 40, 80, 160, 320.0])
    y = 0.004 * (x / 5) ** 1.585
    with pytest.raises(ModelError):
        StandardCurve("4pl").fit(x, y)


def test_beyond_asymptotes_give_nan():
    curve = StandardCurve("4pl").fit(FLUOR_CONC, FLUOR_OD)
    a, d = curve.params["a"], curve.params["d"]
    out = curve.concentration(np.array([a - 1, a, d, d + 1, (a + d) / 2]))
    assert np.isnan(out[:4]).all()
    assert out[4] == pytest.approx(curve.params["c"], rel=1e-9)


def test_concentration_interval_contains_estimate():
    curve = StandardCurve("4pl").fit(FLUOR_CONC, FLUOR_OD)
    iv = curve.concentration_interval(30000.0)
    assert iv.low < iv.estimate < iv.high
    assert iv.estimate == pytest.approx(curve.concentration(np.array([30000.0]))[0])


def test_round_trip(tmp_path):  # type: ignore[no-untyped-def]
    truth, x, y = _synthetic(1)
    curve = StandardCurve("5pl", "power").fit(x, y)
    curve.save(tmp_path / "c.json")
    back = StandardCurve.load(tmp_path / "c.json")
    assert back.params == curve.params
    assert [s.to_dict() for s in back.standards] == [s.to_dict() for s in curve.standards]
    np.testing.assert_array_equal(back.concentration(y), curve.concentration(y))
    assert back.summary() == curve.summary()


def test_standard_qc_points():
    curve = StandardCurve("4pl").fit(FLUOR_CONC, FLUOR_OD)
    assert [s.concentration for s in curve.standards] == [50, 100, 200, 300, 400, 500, 600]
    s0 = curve.standards[0]
    assert s0.n == 2
    assert s0.mean_response == pytest.approx((6754 + 6327) / 2)
    assert s0.cv_pct == pytest.approx(100 * np.std([6754, 6327], ddof=1) / 6540.5)
    assert s0.recovery_pct == pytest.approx(100 * s0.back_calculated / 50)
    assert s0.replicate_back_calculated == pytest.approx((51.441, 47.819), abs=5e-4)


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(0.0, 1.0), span=st.floats(0.5, 4.0), b=st.floats(0.5, 3.0),
    c=st.floats(1.0, 1000.0), g=st.floats(0.3, 3.0), frac=st.floats(0.02, 0.98),
    rising=st.booleans(),
)
def test_inverse_is_inverse(a, span, b, c, g, frac, rising):  # type: ignore[no-untyped-def]
    d = a + span if rising else a - span
    for model, p in (("4pl", np.array([a, b, c, d])), ("5pl", np.array([a, b, c, d, g]))):
        y = a + frac * (d - a)
        x = models.inverse(model, np.array([y]), p)[0]
        assert np.isfinite(x) and x > 0
        assert models.response(model, np.array([x]), p)[0] == pytest.approx(y, rel=1e-8, abs=1e-10)


@settings(max_examples=30, deadline=None)
@given(b=st.floats(0.5, 3.0), c=st.floats(1.0, 1000.0), g=st.floats(0.3, 3.0))
def test_jacobian_matches_finite_differences(b, c, g):  # type: ignore[no-untyped-def]
    x = np.array([0.0, c / 10, c / 2, c, 2 * c, 10 * c])
    for model, p in (("4pl", np.array([0.1, b, c, 2.5])), ("5pl", np.array([0.1, b, c, 2.5, g]))):
        jac = models.jacobian(model, x, p)
        for i in range(p.size):
            h = 1e-6 * max(abs(p[i]), 1.0)
            up, dn = p.copy(), p.copy()
            up[i] += h
            dn[i] -= h
            num = (models.response(model, x, up) - models.response(model, x, dn)) / (2 * h)
            np.testing.assert_allclose(jac[:, i], num, rtol=1e-5, atol=1e-7)


def test_starting_values_close_for_clean_curve():
    truth, x, y = _synthetic(0, cv=0.0, n_rep=1)
    p0 = starting_values(x, y)
    assert p0[1] == pytest.approx(truth[1], rel=0.5)
    assert p0[2] == pytest.approx(truth[2], rel=1.0)
