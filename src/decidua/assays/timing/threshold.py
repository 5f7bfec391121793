"""The asynchrony threshold: a two-segment (broken-stick) fit to the sorted scores."""

from __future__ import annotations

import numpy as np

from decidua.errors import ModelError


def _broken_stick_rss(x: np.ndarray, y: np.ndarray, psis: np.ndarray) -> np.ndarray:
    """Residual sum of squares of ``y ~ 1 + x + (x - psi)_+`` for each ``psi``."""
    n = len(x)
    hinge = np.clip(x[None, :] - psis[:, None], 0, None)  # (p, n)
    s1, sx, sxx = float(n), x.sum(), (x * x).sum()
    sh = hinge.sum(1)
    sxh = hinge @ x
    shh = (hinge * hinge).sum(1)
    sy, sxy = y.sum(), x @ y
    shy = hinge @ y
    a = np.empty((len(psis), 3, 3))
    a[:, 0, 0], a[:, 0, 1], a[:, 0, 2] = s1, sx, sh
    a[:, 1, 0], a[:, 1, 1], a[:, 1, 2] = sx, sxx, sxh
    a[:, 2, 0], a[:, 2, 1], a[:, 2, 2] = sh, sxh, shh
    b = np.stack([np.full(len(psis), sy), np.full(len(psis), sxy), shy], axis=1)
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    fitted = coef[:, :1] + coef[:, 1:2] * x[None, :] + coef[:, 2:3] * hinge
    return ((fitted - y[None, :]) ** 2).sum(1)


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
    """
    y = np.sort(np.asarray(scores, dtype=float))
    n = len(y)
    if n < 6:
        raise ModelError("at least 6 biopsies are needed for an asynchrony threshold")
    x = np.arange(1, n + 1, dtype=float)
    # coarse search on whole ranks, then a 0.01 grid around the best
    coarse = np.arange(2.0, n - 1.0 + 1e-9, 1.0)
    best = coarse[int(np.argmin(_broken_stick_rss(x, y, coarse)))]
    fine = np.arange(max(2.0, best - 1.0), min(n - 1.0, best + 1.0) + 1e-9, 0.01)
    psi = float(fine[int(np.argmin(_broken_stick_rss(x, y, fine)))])
    k = min(max(int(np.floor(psi + 0.5)) - 1, 1), n)  # R's round(psi) - 1, 1-based
    return float(y[k - 1]), psi


