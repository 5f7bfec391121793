"""ROC and the AUC with DeLong's interval, against independent computations: SciPy's
Mann-Whitney U / (n1 n2) for the AUC, the trapezoid area of our ROC curve, a bootstrap
for DeLong's standard error, and coverage on a binormal generator with known AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from decidua.errors import ModelError
from decidua.stats.roc import auc_delong, roc_curve


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_is_mann_whitney_u_over_n1_n2_and_the_roc_area(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = np.round(rng.normal(0.7, 1, 57), 1)  # rounded: ties between and within groups
    neg = np.round(rng.normal(0.0, 1, 83), 1)
    s, y = np.r_[pos, neg], np.r_[np.ones(57), np.zeros(83)]
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    iv = auc_delong(s, y)
    assert iv.estimate == pytest.approx(u / (57 * 83), abs=1e-12)
    c = roc_curve(s, y)
    area = float(np.sum(np.diff(c.fpr) * (np.array(c.tpr[1:]) + np.array(c.tpr[:-1])) / 2))
    assert area == pytest.approx(iv.estimate, abs=1e-12)
    assert c.fpr[0] == c.tpr[0] == 0.0 and c.fpr[-1] == c.tpr[-1] == 1.0


def test_delong_se_agrees_with_a_bootstrap() -> None:
    rng = np.random.default_rng(7)
    pos, neg = rng.normal(0.8, 1, 120), rng.normal(0, 1, 150)
    s, y = np.r_[pos, neg], np.r_[np.ones(120), np.zeros(150)]
    se = float(auc_delong(s, y).method.split("SE ")[1])
    boots = []
    for _ in range(600):
        bp, bn = rng.choice(pos, 120), rng.choice(neg, 150)
        boots.append(stats.mannwhitneyu(bp, bn).statistic / (120 * 150))
    assert se == pytest.approx(float(np.std(boots, ddof=1)), rel=0.12)


def test_interval_covers_the_known_auc_of_a_binormal_model() -> None:
    true = stats.norm.cdf(1 / math.sqrt(2))  # N(1, 1) vs N(0, 1): AUC = Phi(d / sqrt 2)
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(300):
        s = np.r_[rng.normal(1, 1, 40), rng.normal(0, 1, 60)]
        iv = auc_delong(s, np.r_[np.ones(40), np.zeros(60)])
        assert 0 < iv.low <= iv.estimate <= iv.high < 1
        hits += iv.low <= true <= iv.high
    assert 0.91 <= hits / 300 <= 0.98  # nominal 95 %


def test_one_class_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="events"):
        auc_delong([0.1, 0.2], [1, 1])
