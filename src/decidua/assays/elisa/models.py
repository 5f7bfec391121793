"""Four- and five-parameter logistic curves: values, analytic Jacobians, inverses.

Parameterisation (the one the checks, Gen5 and the R package drc use)::

    4PL:  y = d + (a - d) / (1 + (x / c) ** b)
    5PL:  y = d + (a - d) / (1 + (x / c) ** b) ** g

``a`` is the response at zero concentration, ``d`` the response at infinite
concentration, ``c`` the inflection point (for the 4PL the concentration of
the mid response ``(a + d) / 2``), ``b`` the slope (> 0; the direction of the
curve is carried by the sign of ``d - a``), ``g`` the asymmetry (5PL, > 0;
``g = 1`` is the 4PL).

In drc's letters (Ritz C, Baty F, Streibig JC, Gerhard D. Dose-response
analysis using R. PLoS ONE 2015;10:e0146021) ``LL.4`` is
``c_drc + (d_drc - c_drc) / (1 + exp(b_drc (log x - log e_drc)))``: our
``a, b, c, d`` are drc's ``d, b, e, c`` (and ``g`` is drc's ``f`` for ``LL.5``).

Functions are pure numpy and vectorised over ``x``; ``x = 0`` is allowed
(``(0 / c) ** b = 0`` for ``b > 0``).
"""

from __future__ import annotations

import numpy as np

#: Parameter names of each model, in the order used by arrays.
PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "4pl": ("a", "b", "c", "d"),
    "5pl": ("a", "b", "c", "d", "g"),
}


def _u_logr(x: np.ndarray, b: float, c: float) -> tuple[np.ndarray, np.ndarray]:
    """``u = (x/c)^b`` and ``log(x/c)`` with ``log`` set to 0 where ``x = 0``."""
    x = np.asarray(x, dtype=float)
    pos = x > 0
    logr = np.zeros_like(x)
    np.log(np.divide(x, c, out=np.ones_like(x), where=pos), out=logr, where=pos)
    with np.errstate(over="ignore", invalid="ignore"):
        u = np.where(pos, np.exp(b * logr), 0.0)
    return u, logr


def logistic4(x: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """4PL response at concentrations ``x``."""
    u, _ = _u_logr(x, b, c)
    return d + (a - d) / (1.0 + u)


def logistic5(x: np.ndarray, a: float, b: float, c: float, d: float, g: float) -> np.ndarray:
    """5PL response at concentrations ``x``."""
    u, _ = _u_logr(x, b, c)
    return d + (a - d) * (1.0 + u) ** (-g)


def response(model: str, x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Response of ``model`` (``"4pl"`` / ``"5pl"``) with parameter array ``params``."""
    if model == "4pl":
        return logistic4(x, *params[:4])
    return logistic5(x, *params[:5])


def jacobian(model: str, x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Analytic Jacobian ``d y / d params`` (rows: points, columns: parameters)."""
    a, b, c, d = (float(v) for v in params[:4])
    u, logr = _u_logr(x, b, c)
    den = 1.0 + u
    if model == "4pl":
        inv = 1.0 / den
        common = (a - d) * u * inv * inv
        return np.column_stack((inv, -common * logr, common * (b / c), 1.0 - inv))
    g = float(params[4])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        pw = den ** (-g)
    common = (a - d) * g * pw / den * u
    return np.column_stack(
        (pw, -common * logr, common * (b / c), 1.0 - pw, -(a - d) * pw * np.log(den))
    )


def inverse(model: str, y: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Concentration giving response ``y`` (NaN unless ``y`` lies strictly between a and d)."""
    a, b, c, d = (float(v) for v in params[:4])
    y = np.asarray(y, dtype=float)
    lo, hi = (a, d) if a < d else (d, a)
    with np.errstate(all="ignore"):
        ratio = (a - d) / (y - d)
        if model == "5pl":
            ratio = ratio ** (1.0 / float(params[4]))
        out = c * (ratio - 1.0) ** (1.0 / b)
    # outside (lo, hi), or where rounding leaves ratio <= 1: no concentration
    bad = (y <= lo) | (y >= hi) | ~(ratio > 1.0) | ~np.isfinite(out)
    if bad.any():
        out = np.where(bad, np.nan, out)
    return out


def inverse_gradient(model: str, y: float, params: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of :func:`inverse` with respect to the parameters."""
    p = np.asarray(params, dtype=float)
    grad = np.empty(p.size)
    for i in range(p.size):
        h = eps * max(abs(p[i]), 1e-12)
        up, dn = p.copy(), p.copy()
        up[i] += h
        dn[i] -= h
        grad[i] = (inverse(model, np.array([y]), up)[0] - inverse(model, np.array([y]), dn)[0]) / (
            2 * h
        )
    return grad


__all__ = [
    "PARAM_NAMES", "inverse", "inverse_gradient", "jacobian", "logistic4", "logistic5", "response",
]
