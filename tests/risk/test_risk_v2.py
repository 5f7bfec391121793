"""Recurrence-risk model v2 (issue 13) against published clinic and karyotype series.

Reference figures (from decidua.literature, each with its source):

* Brigham et al., Hum Reprod 1999 (325 women, idiopathic RPL): predicted success at two
  losses 89% at 25 and 69% at 40 (loss risk 11% vs 31%, 2.8-fold); at three losses 86% vs
  64% (14% vs 36%). Brigham over-estimates success overall (Youssef 2022), so the test is
  on the **ratio** (the age gradient), with a tolerance for Brigham's model uncertainty.
* Nybo Andersen et al., BMJ 2000: high maternal age is a risk factor irrespective of the
  number of previous miscarriages (monotone in age at every loss count).
* Karyotyped losses in RPL: Stephenson et al., Hum Reprod 2002 (46% of 420 abnormal);
  Marquard et al., Fertil Steril 2010 (women >= 35 with >= 3 losses: 78%, 39/50);
  Nikitina et al., J Assist Reprod Genet 2020 (43.9% primary vs 52.6% secondary RPL);
  Ogasawara et al., Fertil Steril 2000 (the abnormal share falls with the number of
  previous miscarriages).
* Lund et al., Obstet Gynecol 2012 (987 women referred with RPL): 66.7% (63.7-69.7) had a
  live birth within 5 years of the first consultation.
"""

from __future__ import annotations

import numpy as np
import pytest

from decidua import literature as lit
from decidua.domain import Outcome
from decidua.risk import live_birth_outlook, predict

L, B = Outcome.MISCARRIAGE, Outcome.LIVE_BIRTH


@pytest.mark.parametrize("losses", [2, 3])
def test_age_still_matters_within_a_history(losses):
    """Brigham 1999: at 2 losses 2.8-fold (11% vs 31%), at 3 losses 2.6-fold (14% vs 36%)
    between 25 and 40. Tolerance: ratio 2.0-4.0 (Brigham's logistic model has no published
    CI for the ratio)."""
    young, old = predict(25, losses).p_loss, predict(40, losses).p_loss
    published = (1 - lit.BRIGHAM_1999_SUCCESS[(losses, 40)]) / (
        1 - lit.BRIGHAM_1999_SUCCESS[(losses, 25)])
    assert 2.0 <= old / young <= 4.0, (young, old, published)
    assert old - young > 0.15


@pytest.mark.parametrize("losses", [0, 1, 2, 3, 4])
def test_age_effect_irrespective_of_losses(losses):
    """Nybo Andersen 2000: risk rises with age at every number of previous losses."""
    ages = [22, 27, 32, 37, 42, 45]
    risks = [predict(a, losses).p_loss for a in ages[1:]]
    assert all(b > a for a, b in zip(risks, risks[1:], strict=False))


def test_previous_losses_still_raise_risk_at_40():
    """The per-age odds ratio after two losses must not vanish in older women (it was ~1.0
    at 40 in model 2026.11-1)."""
    p0, p2 = predict(40, 0).p_loss, predict(40, 2).p_loss
    odds = (p2 / (1 - p2)) / (p0 / (1 - p0))
    assert odds >= 1.5


def test_embryonic_share_agrees_with_karyotype_series():
    """34 y with 3 losses: about half (Stephenson 2002 46%; Nikitina 2020 ~48%); >= 35 with
    >= 3 losses: most (Marquard 2010 78%); the share rises with age. (Not reproduced, and
    documented in docs/risk-model.md: Ogasawara 2000's fall with the number of losses and
    Nikitina 2020's higher share in secondary RPL.)"""
    share = predict(34, 3).components.embryonic
    assert 0.35 <= share <= 0.65, share
    assert predict(39, 3).components.embryonic >= 0.6
    assert predict(25, 3).components.embryonic < share < predict(42, 3).components.embryonic



def test_non_embryonic_share_renamed_old_key_kept():
    r = predict(34, 3)
    c = r.to_dict()["components"]
    assert c["non_embryonic"] == pytest.approx(1 - c["embryonic"])
    assert c["endometrial"] == c["non_embryonic"]  # deprecated alias, kept one version
    assert r.components.non_embryonic == r.components.endometrial


def test_interval_includes_parameter_uncertainty_and_says_what_it_means():
    """The interval pools the woman's posterior over a fixed set of parameter draws; the
    parameter part (spread of p_loss over the draws) is reported on its own."""
    r = predict(34, 3)
    assert r.n_parameter_draws >= 20
    assert r.interval != r.interval_fixed_parameters
    plo, phi = r.p_loss_parameter_interval
    assert plo < r.p_loss < phi and phi - plo > 0.01
    lo, hi = r.interval
    assert lo < plo and phi < hi
    assert "95%" in r.interval_meaning and "parameter" in r.interval_meaning
    assert r.to_dict()["interval_meaning"] == r.interval_meaning


def test_interval_is_deterministic():
    assert predict(36, 3, ["abnormal"]).interval == predict(36, 3, ["abnormal"]).interval


def test_live_birth_outlook_against_lund_2012():
    """Reference woman of a RPL clinic (33 y, 3 losses). Lund 2012: 66.7% within 5 years
    (cohort figure; a single reference woman is allowed 0.55-0.85)."""
    out = live_birth_outlook(33, 3)
    assert out.next_pregnancy == pytest.approx(1 - predict(33, 3).p_loss, abs=0.02)
    c1, c2, c5 = (out.cumulative[y] for y in (1, 2, 5))
    assert 0 < c1 < c2 < c5 < 1
    assert 0.55 <= c5 <= 0.85, c5
    for y in (1, 2, 5):
        lo, hi = out.cumulative_interval[y]
        assert lo <= out.cumulative[y] <= hi
    lo, hi = out.next_pregnancy_interval
    assert lo <= out.next_pregnancy <= hi
    assert out.to_dict()["cumulative"]["5"] == c5


def test_live_birth_falls_with_age_and_losses():
    assert live_birth_outlook(40, 3).cumulative[5] < live_birth_outlook(30, 3).cumulative[5]
    assert live_birth_outlook(33, 5).cumulative[5] < live_birth_outlook(33, 2).cumulative[5]


def test_published_reference_figures_are_defined_once():
    assert lit.LUND_2012_LIVE_BIRTH_5Y == (0.667, 0.637, 0.697)
    assert lit.KOKI_2025_CONCEIVED_12M == 0.534
    assert lit.BRIGHAM_1999_SUCCESS[(2, 25)] == 0.89
    assert np.isclose(lit.STEPHENSON_2002_ABNORMAL[0] / lit.STEPHENSON_2002_ABNORMAL[1],
                      195 / 420)
