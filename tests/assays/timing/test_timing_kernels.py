"""The compiled ordering kernels against their definitions, bit for bit, on the real cohort.

The fit's speed comes from sharing work (window statistics of the full set reused
for every leave-one-out set, one fused pass for densities, aggregation and arg-max,
O(1) broken-stick fits per breakpoint); these tests recompute each quantity the
direct way (every window of every reduced set; numpy aggregation; a least-squares
solve per breakpoint) and require the same numbers.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from decidua.assays.timing import GENES, load_endotime_training_data, segmented_threshold
from decidua.assays.timing.density import _aggregate
from decidua.assays.timing.kernels import _SD_FLOOR as SD_FLOOR
from decidua.assays.timing.kernels import _assign_times, _loo_densities, _window_stats
from decidua.assays.timing.ordering import _with_pseudo
from decidua.assays.timing.threshold import _broken_stick_rss_ranks, bootstrap_thresholds


@numba.njit(cache=True)
def _window_stats_direct(t, x, gw):  # pragma: no cover - compiled
    """Definition: median time, mean and tent-weighted SD of every window, one gene at a time."""
    n, g = x.shape
    m = n - gw + 1
    med = np.empty(m)
    mean = np.empty((m, g))
    sd = np.empty((m, g))
    w = np.empty(gw)
    half = gw // 2
    for k in range(m):
        first = t[k]
        last = t[k + gw - 1]
        mt = 0.5 * (t[k + half - 1] + t[k + half]) if gw % 2 == 0 else t[k + half]
        med[k] = mt
        wsum = 0.0
        for i in range(gw):
            ti = t[k + i]
            if ti == mt:
                wi = 1.0
            elif ti < mt:
                wi = abs(first - ti) / abs(first - mt)
            else:
                wi = abs(last - ti) / abs(last - mt)
            w[i] = wi
            wsum += wi
        for j in range(g):
            s = 0.0
            sw = 0.0
            for i in range(gw):
                s += x[k + i, j]
                sw += w[i] * x[k + i, j]
            mu = s / gw
            wm = sw / wsum
            v = 0.0
            for i in range(gw):
                d = x[k + i, j] - wm
                v += w[i] * d * d
            mean[k, j] = mu
            sd[k, j] = max(math.sqrt(v / wsum), SD_FLOOR)
    return med, mean, sd


@numba.njit(cache=True)
def _loo_densities_direct(t, x, pos, gw):  # pragma: no cover - compiled
    """Definition: drop each point, recompute every window of the rest, evaluate densities."""
    n, g = x.shape
    nu = pos.shape[0]
    m = n - 1 - gw + 1
    med_out = np.empty((nu, m))
    dens = np.empty((nu, m, g))
    rt = np.empty(n - 1)
    rx = np.empty((n - 1, g))
    c = 1.0 / math.sqrt(2.0 * math.pi)
    for u in range(nu):
        p = pos[u]
        j = 0
        for i in range(n):
            if i != p:
                rt[j] = t[i]
                for q in range(g):
                    rx[j, q] = x[i, q]
                j += 1
        med, mean, sd = _window_stats_direct(rt, rx, gw)
        for q in range(g):
            tot = 0.0
            for k in range(m):
                z = (x[p, q] - mean[k, q]) / sd[k, q]
                d = c * math.exp(-0.5 * z * z) / sd[k, q]
                dens[u, k, q] = d
                tot += d
            if tot > 0:
                for k in range(m):
                    dens[u, k, q] /= tot
        for k in range(m):
            med_out[u, k] = med[k]
    return med_out, dens


def _broken_stick_rss_direct(y: np.ndarray, psis: np.ndarray) -> np.ndarray:
    """Definition: least squares of ``y ~ 1 + x + (x - psi)_+`` per psi, residuals summed."""
    x = np.arange(1, len(y) + 1, dtype=float)
    out = np.empty(len(psis))
    for k, psi in enumerate(psis):
        design = np.column_stack([np.ones_like(x), x, np.clip(x - psi, 0, None)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        out[k] = ((design @ coef - y) ** 2).sum()
    return out


@pytest.fixture(scope="module")
def scaled() -> tuple[np.ndarray, np.ndarray]:
    """Scaled −ΔCt of the EndoTime cohort (real data) and jittered LH days as times."""
    df = load_endotime_training_data()
    inv = -df[list(GENES)].to_numpy(float)
    x = (inv - inv.min(0)) / (inv.max(0) - inv.min(0))
    times = df["LH"].to_numpy(float) + np.random.default_rng(5).uniform(-0.5, 0.5, len(df))
    return times, x


@pytest.mark.parametrize(("gw", "aw"), [(80, 80), (50, 40), (20, 20)])
def test_shared_window_kernels_equal_their_definition(scaled, gw: int, aw: int) -> None:  # type: ignore[no-untyped-def]
    times, x = scaled
    st, sx, pos = _with_pseudo(times, x, gw)
    med, dens = _loo_densities(st, sx, pos, gw)
    med_d, dens_d = _loo_densities_direct(st, sx, pos, gw)
    np.testing.assert_array_equal(med, med_d)
    np.testing.assert_array_equal(dens, dens_d)
    btime, score = _aggregate(med_d, dens_d, aw)
    direct = btime[np.arange(len(times)), np.argmax(score, axis=1)]
    np.testing.assert_array_equal(_assign_times(st, sx, pos, gw, aw), direct)
    for a, b in zip(_window_stats(st, sx, gw), _window_stats_direct(st, sx, gw), strict=True):
        np.testing.assert_array_equal(a, b)


def test_broken_stick_rss_agrees_with_least_squares() -> None:
    """Real-looking scores (a flat run, then a rise): O(1) sums vs a solve per breakpoint."""
    rng = np.random.default_rng(2)
    y = np.sort(np.r_[rng.gamma(4, 0.15, 200), 1.2 + rng.gamma(2, 0.4, 57)])
    psis = np.r_[np.arange(2.0, len(y) - 1.0 + 1e-9, 1.0), np.arange(190, 210, 0.01)]
    fast = _broken_stick_rss_ranks(y, psis)
    direct = _broken_stick_rss_direct(y, psis)
    np.testing.assert_allclose(fast, direct, rtol=1e-9, atol=1e-9)
    assert int(np.argmin(fast)) == int(np.argmin(direct))


def test_bootstrap_thresholds_equal_one_by_one() -> None:
    """The parallel bootstrap draws the same resamples, in order, as a loop of single fits."""
    scores = np.random.default_rng(4).gamma(3, 0.3, 101)
    got = bootstrap_thresholds(scores, np.random.default_rng(9), 25)
    rng = np.random.default_rng(9)
    want = [segmented_threshold(scores[rng.integers(0, len(scores), len(scores))])[0] for _ in got]
    np.testing.assert_array_equal(got, want)
