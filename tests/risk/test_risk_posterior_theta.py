"""``RiskModel.posterior_theta`` scores each biopsy call with its own source's accuracy.

Until 3 Dec 2026 ``posterior_theta`` summed computed and typed clinic calls and
scored them all with the computed call's accuracy prior (and updated (z, theta) jointly
rather than within each frailty stratum as :meth:`RiskModel.predict` does), so it
disagreed with ``predict``'s ``theta_mean`` whenever clinic calls were present.

Independent reference: with no history the posterior of theta is its Beta prior (cell
masses) times the calls' likelihood with sensitivity and specificity integrated over
their priors truncated to ``s + c > 1``; computed here by Monte Carlo over scipy's Beta
distributions (not the model's Gauss-Legendre nodes).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from decidua.risk.model import RiskModel, shipped_params

COMPUTED = ((40.0, 2.0), (40.0, 2.0))  # near-perfect computed call
CLINIC = ((3.0, 2.0), (4.0, 2.0))      # vague typed clinic call


def _model() -> RiskModel:
    p = replace(shipped_params(), sens_prior=COMPUTED[0], spec_prior=COMPUTED[1],
                clinic_sens_prior=CLINIC[0], clinic_spec_prior=CLINIC[1])
    return RiskModel(p, draws=())


def _reference_mean(m: RiskModel, calls: list[tuple[str, str]], n: int = 400_000) -> float:
    rng = np.random.default_rng(13)
    a, b = m.params.theta_ab
    prior = np.diff(stats.beta.cdf(m.edges, a, b))
    like = np.ones_like(m.theta)
    for source, (sp, cp) in (("computed", COMPUTED), ("clinic", CLINIC)):
        k_abn = sum(1 for c, s in calls if s == source and c == "abnormal")
        k_norm = sum(1 for c, s in calls if s == source and c == "normal")
        if not k_abn + k_norm:
            continue
        s = stats.beta.rvs(*sp, size=n, random_state=rng)
        c = stats.beta.rvs(*cp, size=n, random_state=rng)
        keep = s + c > 1
        s, c = s[keep], c[keep]
        p_abn = s[:, None] * m.theta[None, :] + (1 - c)[:, None] * (1 - m.theta)[None, :]
        like *= np.mean(p_abn**k_abn * (1 - p_abn) ** k_norm, axis=0)
    post = prior * like
    return float(post @ m.theta / post.sum())


@pytest.mark.parametrize("calls", [
    [("abnormal", "clinic")] * 2,
    [("abnormal", "clinic"), ("normal", "clinic"), ("abnormal", "computed")],
])
def test_posterior_theta_matches_an_independent_integral_per_source(calls):
    m = _model()
    th, w = m.posterior_theta(30, 0, calls)
    assert float(th @ w) == pytest.approx(_reference_mean(m, calls), abs=2e-3)


def test_clinic_calls_use_their_own_accuracy_in_posterior_theta():
    m = _model()
    base = m.posterior_theta(34, 3)
    th, w_clinic = m.posterior_theta(34, 3, [("abnormal", "clinic")] * 2)
    _, w_comp = m.posterior_theta(34, 3, [("abnormal", "computed")] * 2)
    mean0 = float(base[0] @ base[1])
    # two vague clinic calls move theta far less than two near-perfect computed ones
    assert float(th @ w_clinic) - mean0 < 0.5 * (float(th @ w_comp) - mean0)
    assert float(th @ w_clinic) > mean0


@pytest.mark.parametrize("history,calls", [
    (3, [("abnormal", "clinic"), ("normal", "computed")]),
    (["live_birth", "miscarriage", "miscarriage"], [("normal", "clinic")] * 3),
])
def test_posterior_theta_is_the_posterior_predict_reports(history, calls):
    m = _model()
    th, w = m.posterior_theta(36, history, calls, history_age=33.0)
    r = m.predict(36, history, calls, history_age=33.0)
    assert w.sum() == pytest.approx(1.0)
    assert float(th @ w) == pytest.approx(r.theta_mean, abs=1e-9)
