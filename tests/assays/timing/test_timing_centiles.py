"""Timing-adjusted centiles on real data, checked against an independent LP solver."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy.optimize import linprog

from decidua.assays.timing import (
    CENTILE_GRID,
    TimingCentiles,
    TimingReference,
    plot_centiles,
)
from decidua.assays.timing.centiles import _bspline_basis
from decidua.errors import ModelError


@pytest.fixture(scope="module")
def marker_data(reference: TimingReference, training):  # type: ignore[no-untyped-def]
    """A real per-biopsy marker: IGFBP1 ΔCt against the reference's estimated LH day."""
    est = reference.estimates()
    return est["estimated_lh_day"].to_numpy(), training["IGFBP1"].to_numpy(float)


@pytest.fixture(scope="module")
def centiles(marker_data) -> TimingCentiles:  # type: ignore[no-untyped-def]
    t, v = marker_data
    return TimingCentiles("IGFBP1").fit(t, v)


def test_in_sample_coverage(centiles: TimingCentiles, marker_data) -> None:  # type: ignore[no-untyped-def]
    t, v = marker_data
    q = centiles.curves(t)
    for col, level in (("p5", 0.05), ("p10", 0.10), ("p50", 0.50), ("p90", 0.90), ("p95", 0.95)):
        below = float((v < q[col].to_numpy()).mean())
        assert abs(below - level) < 0.04, (col, below)


def test_median_matches_independent_linear_programme(centiles, marker_data) -> None:  # type: ignore[no-untyped-def]
    """The median curve equals the LP solution of the same quantile regression (HiGHS)."""
    t, v = marker_data
    basis = _bspline_basis(t, centiles.knots)
    n, k = basis.shape
    q = 0.5
    # minimise q*u+ + (1-q)*u-  s.t.  B b + u+ - u- = v ;  b free, u >= 0
    c = np.concatenate([np.zeros(k), np.full(n, q), np.full(n, 1 - q)])
    a_eq = np.hstack([basis, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * k + [(0, None)] * (2 * n)
    lp = linprog(c, A_eq=a_eq, b_eq=v, bounds=bounds, method="highs")
    assert lp.success
    j = CENTILE_GRID.index(0.5)
    ours = basis @ centiles.coef[j]
    lp_fit = basis @ lp.x[:k]

    # same objective value (quantile regression optima can be non-unique)
    def loss(fit: np.ndarray) -> float:
        r = v - fit
        return float(np.sum(np.where(r >= 0, q * r, (q - 1) * r)))

    assert loss(ours) == pytest.approx(loss(lp_fit), rel=1e-4)


def test_scores_are_monotone_and_bounded(centiles: TimingCentiles) -> None:
    values = np.linspace(-5, 25, 61)
    sc = centiles.score(np.full(len(values), 8.0), values)
    assert np.all(np.diff(sc.centile) >= -1e-12)
    assert np.all((sc.centile > 0) & (sc.centile < 1))
    assert np.all(np.diff(sc.z_score) >= -1e-12)
    mid = centiles.curves([8.0])["p50"].iloc[0]
    assert centiles.score([8.0], [mid]).centile[0] == pytest.approx(0.5, abs=0.03)


def test_save_load(centiles: TimingCentiles, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = centiles.save(tmp_path / "c.json")
    back = TimingCentiles.load(path)
    grid = np.linspace(6, 11, 7)
    assert np.array_equal(back.quantiles(grid), centiles.quantiles(grid))


def test_too_few_values() -> None:
    with pytest.raises(ModelError):
        TimingCentiles().fit(np.arange(10.0), np.arange(10.0))


def test_plot(centiles: TimingCentiles) -> None:
    fig = plot_centiles(centiles, 8.0, 12.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
