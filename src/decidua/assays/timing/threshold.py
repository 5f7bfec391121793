"""The asynchrony threshold: a two-segment (broken-stick) fit to the sorted scores."""

from __future__ import annotations

import math

import numba
import numpy as np

from decidua.errors import ModelError


@numba.njit(cache=True)
def _broken_stick_rss_ranks(y, psis):  # pragma: no cover - compiled
    """:func:`_broken_stick_rss` for ``x = 1..n`` in O(1) per ``psi`` (compiled).

    The normal equations of ``y ~ 1 + x + (x - psi)_+`` only need sums of ``1, x,
    x^2, y, x y`` over the ranks above ``psi``, kept as suffix sums. ``y`` is
    centred first, and the RSS is ``y'y - 2 c'b + c'A c`` for the solved ``c``,
    which is second-order in the error of ``c`` (like summing the residuals).
    Agrees with the direct form to rounding (~1e-12 relative).
    """
    n = y.shape[0]
    ybar = 0.0
    for i in range(n):
        ybar += y[i]
    ybar /= n
    yy = 0.0
    sxy = 0.0
    sx = 0.0
    sxx = 0.0
    # suffix sums over ranks i+1 for i >= j
    s0 = np.zeros(n + 1)
    s1 = np.zeros(n + 1)
    s2 = np.zeros(n + 1)
    t0 = np.zeros(n + 1)
    t1 = np.zeros(n + 1)
    for i in range(n - 1, -1, -1):
        xi = i + 1.0
        yc = y[i] - ybar
        s0[i] = s0[i + 1] + 1.0
        s1[i] = s1[i + 1] + xi
        s2[i] = s2[i + 1] + xi * xi
        t0[i] = t0[i + 1] + yc
        t1[i] = t1[i + 1] + xi * yc
    for i in range(n):
        xi = i + 1.0
        yc = y[i] - ybar
        yy += yc * yc
        sxy += xi * yc
        sx += xi
        sxx += xi * xi
    out = np.empty(psis.shape[0])
    for k in range(psis.shape[0]):
        psi = psis[k]
        # first 0-based index whose rank i + 1 exceeds psi
        j = int(math.floor(psi))
        if j < 0:
            j = 0
        if j > n:
            j = n
        c0, c1, c2 = s0[j], s1[j], s2[j]
        sh = c1 - psi * c0
        sxh = c2 - psi * c1
        shh = c2 - 2.0 * psi * c1 + psi * psi * c0
        shy = t1[j] - psi * t0[j]
        # A c = b with A = [[n, sx, sh], [sx, sxx, sxh], [sh, sxh, shh]], b = [0, sxy, shy]
        a00, a01, a02 = float(n), sx, sh
        a11, a12, a22 = sxx, sxh, shh
        b0, b1, b2 = 0.0, sxy, shy
        # Gaussian elimination (symmetric positive definite: no pivoting needed)
        l10 = a01 / a00
        l20 = a02 / a00
        m11 = a11 - l10 * a01
        m12 = a12 - l10 * a02
        m22 = a22 - l20 * a02
        r1 = b1 - l10 * b0
        r2 = b2 - l20 * b0
        l21 = m12 / m11
        m22 = m22 - l21 * m12
        r2 = r2 - l21 * r1
        x2 = r2 / m22
        x1 = (r1 - m12 * x2) / m11
        x0 = (b0 - a01 * x1 - a02 * x2) / a00
        cb = x0 * b0 + x1 * b1 + x2 * b2
        cac = (
            a00 * x0 * x0
            + a11 * x1 * x1
            + a22 * x2 * x2
            + 2.0 * (a01 * x0 * x1 + a02 * x0 * x2 + a12 * x1 * x2)
        )
        out[k] = yy - 2.0 * cb + cac
    return out


@numba.njit(cache=True)
def _threshold_sorted(y):  # pragma: no cover - compiled
    """:func:`segmented_threshold` of already sorted scores (n >= 6): threshold, psi."""
    n = y.shape[0]
    coarse = np.arange(2.0, n - 1.0 + 1e-9, 1.0)
    best = coarse[np.argmin(_broken_stick_rss_ranks(y, coarse))]
    fine = np.arange(max(2.0, best - 1.0), min(n - 1.0, best + 1.0) + 1e-9, 0.01)
    psi = fine[np.argmin(_broken_stick_rss_ranks(y, fine))]
    k = min(max(int(math.floor(psi + 0.5)) - 1, 1), n)
    return y[k - 1], psi


@numba.njit(cache=True, parallel=True)
def _bootstrap_thresholds(scores, idx):  # pragma: no cover - compiled
    """Broken-stick thresholds of the resamples ``scores[idx[b]]`` (in parallel)."""
    nb = idx.shape[0]
    out = np.empty(nb)
    for b in numba.prange(nb):
        out[b] = _threshold_sorted(np.sort(scores[idx[b]]))[0]
    return out


def bootstrap_thresholds(scores: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Thresholds of ``n_boot`` bootstrap resamples of ``scores`` (drawn in order from ``rng``).

    Examples
    --------
    >>> y = np.r_[np.full(40, 1.0), np.linspace(1.1, 5.0, 20)]
    >>> th = bootstrap_thresholds(y, np.random.default_rng(0), 20)
    >>> th.shape, bool((th >= 1.0).all())
    ((20,), True)
    """
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    # one draw per resample, in order: the same random stream as drawing them one by one
    idx = np.empty((n_boot, n), dtype=np.int64)
    for b in range(n_boot):
        idx[b] = rng.integers(0, n, n)
    return _bootstrap_thresholds(scores, idx)


def segmented_threshold(scores: np.ndarray) -> tuple[float, float]:
    """Asynchrony threshold from a two-segment (broken-stick) fit to sorted scores.

    Fits ``y = a + b x + c (x - psi)_+`` by least squares to the sorted scores
    against their rank ``x = 1..n``, with ``psi`` found by exhaustive search on a
    0.01-rank grid (whole ranks first, then 0.01 around the best): the global
    optimum that R's ``segmented`` (Muggeo, Stat Med 2003) approaches iteratively.
    As in EndoTime, the threshold is the sorted score at rank
    ``round(psi) - 1``.

    Returns
    -------
    threshold, psi

    Examples
    --------
    >>> y = np.r_[np.full(30, 1.0), 1.0 + 0.5 * np.arange(1, 11)]  # a kink after rank 30
    >>> threshold, psi = segmented_threshold(y)
    >>> round(psi), threshold
    (30, 1.0)
    """
    y = np.sort(np.asarray(scores, dtype=float))
    n = len(y)
    if n < 6:
        raise ModelError("at least 6 biopsies are needed for an asynchrony threshold")
    # coarse search on whole ranks, then a 0.01 grid around the best
    coarse = np.arange(2.0, n - 1.0 + 1e-9, 1.0)
    best = coarse[int(np.argmin(_broken_stick_rss_ranks(y, coarse)))]
    fine = np.arange(max(2.0, best - 1.0), min(n - 1.0, best + 1.0) + 1e-9, 0.01)
    psi = float(fine[int(np.argmin(_broken_stick_rss_ranks(y, fine)))])
    k = min(max(int(np.floor(psi + 0.5)) - 1, 1), n)  # R's round(psi) - 1, 1-based
    return float(y[k - 1]), psi


