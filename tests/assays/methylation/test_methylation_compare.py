"""Group comparison and stemness score on simulated beta-binomial data with known truth.

Generator: for each region a true level ``p0`` ~ U(0.05, 0.95); samples draw their
own level from Beta with mean ``p`` and intra-class correlation ``phi`` (the
beta-binomial dispersion), then ``y ~ Binomial(n, level)`` with ``n`` ~ U{10..60}.
Regions listed in ``shifted`` have ``p`` raised by ``delta`` in group "rpl".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from decidua.assays.methylation import compare_groups, stemness_score
from decidua.errors import InputError, ModelError


def simulate(seed: int, n_regions: int = 400, per_group: int = 6, phi: float = 0.02,
             delta: float = 0.0, n_shifted: int = 0) -> tuple[pd.DataFrame, pd.DataFrame,
                                                              pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0.05, 0.95, n_regions)
    shifted = np.zeros(n_regions, bool)
    shifted[:n_shifted] = True
    samples = [f"c{i}" for i in range(per_group)] + [f"r{i}" for i in range(per_group)]
    groups = pd.Series(["control"] * per_group + ["rpl"] * per_group, index=samples)
    y = np.zeros((len(samples), n_regions))
    n = rng.integers(10, 61, (len(samples), n_regions)).astype(float)
    for i, g in enumerate(groups):
        p = np.clip(p0 + (delta * shifted if g == "rpl" else 0.0), 0.01, 0.99)
        a = p * (1 - phi) / phi
        b = (1 - p) * (1 - phi) / phi
        level = rng.beta(a, b)
        y[i] = rng.binomial(n[i].astype(int), level)
    cols = [f"reg{j}" for j in range(n_regions)]
    return (pd.DataFrame(y, index=samples, columns=cols),
            pd.DataFrame(n, index=samples, columns=cols), groups, shifted)


def test_null_p_values_are_calibrated() -> None:
    y, n, groups, _ = simulate(11, n_regions=2000)
    res = compare_groups(y, n, groups, group_1="rpl", group_2="control")
    frac = np.mean(res.p_value < 0.05)
    assert 0.02 < frac < 0.08
    assert np.mean(res.fdr < 0.05) < 0.01


def test_shifted_regions_are_detected_and_fdr_is_bh() -> None:
    y, n, groups, shifted = simulate(12, delta=0.3, n_shifted=40)
    res = compare_groups(y, n, groups, group_1="rpl", group_2="control")
    hits = res.fdr < 0.05
    assert hits[shifted].mean() > 0.8
    assert hits[~shifted].mean() < 0.02
    assert np.median(res.difference[shifted]) > 0.2
    np.testing.assert_allclose(res.fdr, multipletests(res.p_value, method="fdr_bh")[1])
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["region", "mean_rpl", "mean_control"]


def test_dispersion_estimate_tracks_truth() -> None:
    low = compare_groups(*simulate(13, phi=0.005)[:3]).dispersion
    high = compare_groups(*simulate(13, phi=0.1)[:3]).dispersion
    assert np.median(high) > 5 * np.median(low)
    assert 0.05 < np.median(high) < 0.2


def test_binomial_limit_matches_two_proportion_variance() -> None:
    """With phi = 0 the Wald variance is the sum of binomial variances of group means."""
    y = pd.DataFrame([[5, 1], [7, 2], [2, 8], [3, 9]], index=list("abcd"), columns=["x", "y"])
    n = pd.DataFrame([[10, 10], [10, 10], [10, 10], [10, 10]], index=list("abcd"),
                     columns=["x", "y"])
    groups = ["g1", "g1", "g2", "g2"]
    res = compare_groups(y, n, groups, prior_df=1e9)  # dispersion pinned to the prior
    p1, p2 = 0.6, 0.25
    assert res.mean_1[0] == pytest.approx(p1) and res.mean_2[0] == pytest.approx(p2)
    phi = res.dispersion[0]
    v = p1 * (1 - p1) * (1 + 9 * phi) / 10 / 2 + p2 * (1 - p2) * (1 + 9 * phi) / 10 / 2
    assert res.statistic[0] == pytest.approx((p1 - p2) / np.sqrt(v))


def test_compare_input_errors() -> None:
    y, n, groups, _ = simulate(14, n_regions=5, per_group=3)
    with pytest.raises(InputError):
        compare_groups(y, n.iloc[:, :3], groups)
    with pytest.raises(InputError):
        compare_groups(y, n, ["a"] * len(y))
    with pytest.raises(ModelError):
        compare_groups(y.iloc[:4], n.iloc[:4], ["a", "b", "b", "b"])


def test_stemness_score_orders_samples_by_signature_loss() -> None:
    rng = np.random.default_rng(15)
    regions = [f"ca{i}" for i in range(30)]
    ref = pd.DataFrame(rng.normal(0.05, 0.005, (8, 30)), index=[f"ctl{i}" for i in range(8)],
                       columns=regions)
    loss = pd.DataFrame(rng.normal(0.035, 0.005, (3, 30)), index=["rpl0", "rpl1", "rpl2"],
                        columns=regions)
    matrix = pd.concat([ref, loss])
    res = stemness_score(matrix, reference=list(ref.index))
    scores = res.to_frame().set_index("sample").score
    assert scores[list(ref.index)].abs().mean() < 1.0
    assert (scores[["rpl0", "rpl1", "rpl2"]] < -2).all()
    assert scores[list(ref.index)].mean() == pytest.approx(0.0, abs=1e-9)
    sub = stemness_score(matrix, reference=list(ref.index), regions=regions[:5])
    assert (sub.n_regions == 5).all()
    with pytest.raises(ModelError):
        stemness_score(matrix, reference=["ctl0"])
