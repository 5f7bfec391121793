"""Weighted nonlinear least squares: a thin, checked layer over ``scipy.optimize.least_squares``.

The curve fits use it; it is tested on its own against the NIST StRD
nonlinear-regression reference data (Rat43, "higher difficulty", from both
certified starting points): NIST Statistical Reference Datasets, Nonlinear
Regression, Ratkowsky3 / Rat43 (Ratkowsky DA. Nonlinear Regression Modeling.
Marcel Dekker 1983, pp. 62 and 88).

Standard errors are the usual ones: ``cov = s^2 (J' W J)^-1`` with
``s^2 = RSS_w / (n - p)`` (the convention of NIST's certified standard
deviations, R's ``nls`` and drc).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, leastsq

from decidua.errors import ModelError


@dataclass(frozen=True)
class NLSResult:
    """Result of :func:`fit_nls`.

    Attributes
    ----------
    params
        Fitted parameters.
    cov
        Parameter covariance matrix (NaN where singular).
    rss
        Weighted residual sum of squares.
    df
        Residual degrees of freedom ``n - p``.
    nfev
        Function evaluations used.
    status
        scipy's termination status (> 0: converged).
    """

    params: np.ndarray
    cov: np.ndarray
    rss: float
    df: int
    nfev: int
    status: int

    @property
    def residual_se(self) -> float:
        """Residual standard error ``sqrt(RSS / df)``."""
        return float(np.sqrt(self.rss / self.df)) if self.df > 0 else float("nan")

    @property
    def se(self) -> np.ndarray:
        """Parameter standard errors."""
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))


def central_jacobian(f: Callable[[np.ndarray], np.ndarray], p: np.ndarray, *,
                     rel_step: float, floor: float) -> np.ndarray:
    """Jacobian of the vector function ``f`` at ``p`` by central differences, one column
    per parameter: step ``rel_step * max(|p_i|, floor)`` on either side.

    Examples
    --------
    >>> import numpy as np
    >>> j = central_jacobian(lambda p: np.array([p[0] * p[1], p[0] ** 2]),
    ...                      np.array([2.0, 3.0]), rel_step=1e-6, floor=1e-3)
    >>> np.round(j, 6).tolist()
    [[3.0, 2.0], [4.0, 0.0]]
    """
    cols = []
    for i in range(p.size):
        h = rel_step * max(abs(p[i]), floor)
        up, dn = p.copy(), p.copy()
        up[i] += h
        dn[i] -= h
        cols.append(np.ravel((f(up) - f(dn)) / (2 * h)))
    return np.column_stack(cols)


def covariance(jac: np.ndarray, rss: float, df: int) -> np.ndarray:
    """``s^2 (J'J)^-1`` from a (weighted) Jacobian, NaN when singular or ``df <= 0``."""
    p = jac.shape[1]
    if df <= 0:
        return np.full((p, p), np.nan)
    try:
        # via SVD: robust for the badly scaled Jacobians of logistic curves
        _, s, vt = np.linalg.svd(jac, full_matrices=False)
    except np.linalg.LinAlgError:
        return np.full((p, p), np.nan)
    if s.size == 0 or s[-1] <= s[0] * 1e-13:
        return np.full((p, p), np.nan)
    inv = (vt.T / s**2) @ vt
    return inv * (rss / df)


def fit_nls(
    model: Callable[[np.ndarray, np.ndarray], np.ndarray],
    jac: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    x: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    xtol: float = 1e-12,
    ftol: float = 1e-12,
    max_nfev: int | None = None,
    want_cov: bool = True,
) -> NLSResult:
    """Minimise ``sum w_i (y_i - model(x_i, p))^2`` by Levenberg-Marquardt (MINPACK).

    Parameters
    ----------
    model
        ``model(x, p) -> y``.
    jac
        ``jac(x, p) -> dy/dp`` (n x p), or ``None`` for finite differences.
    x, y
        Data.
    p0
        Starting values.
    weights
        Non-negative weights ``w_i`` (``None``: all 1).
    xtol, ftol, max_nfev
        Convergence tolerances and the evaluation budget (MINPACK's).
    want_cov
        Compute the covariance (``False``: NaN, for callers that compute their own).

    Raises
    ------
    ModelError
        When the optimiser fails or returns non-finite parameters.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    sw = np.ones_like(y) if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    p0 = np.asarray(p0, dtype=float)

    def resid(p: np.ndarray) -> np.ndarray:
        return sw * (model(x, p) - y)

    def wjac(p: np.ndarray) -> np.ndarray:
        if jac is not None:
            return sw[:, None] * jac(x, p)
        return central_jacobian(resid, p, rel_step=1e-7, floor=1e-3)

    with np.errstate(all="ignore"):
        if y.size >= p0.size:
            # MINPACK lmder / lmdif through scipy.optimize.leastsq (least_squares(method="lm")
            # runs the same code with more Python around it)
            try:
                params, _, info, msg, ier = leastsq(
                    resid, p0, Dfun=(lambda p: sw[:, None] * jac(x, p)) if jac else None,
                    full_output=True, xtol=xtol, ftol=ftol, gtol=0.0,
                    maxfev=max_nfev or 200 * (p0.size + 1),
                )
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                raise ModelError(f"nonlinear fit failed: {exc}") from exc
            fvec, nfev, status = info["fvec"], int(info["nfev"]), int(ier)
            if ier not in (1, 2, 3, 4) or not np.all(np.isfinite(params)):
                raise ModelError(f"nonlinear fit did not converge: {msg}")
        else:
            try:
                res = least_squares(resid, p0, jac=(lambda p: sw[:, None] * jac(x, p))
                                    if jac else "2-point", method="trf", xtol=xtol, ftol=ftol,
                                    max_nfev=max_nfev)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                raise ModelError(f"nonlinear fit failed: {exc}") from exc
            if res.status <= 0 or not np.all(np.isfinite(res.x)):
                raise ModelError(f"nonlinear fit did not converge: {res.message}")
            params, fvec, nfev, status = res.x, res.fun, int(res.nfev), int(res.status)
        rss = float(np.sum(fvec**2))
        if not np.isfinite(rss):
            raise ModelError("nonlinear fit did not converge: non-finite residuals")
        df = int(y.size - p0.size)
        cov = covariance(wjac(params), rss, df) if want_cov else np.full((p0.size,) * 2, np.nan)
    return NLSResult(params=np.asarray(params), cov=cov, rss=rss, df=df, nfev=nfev, status=status)


__all__ = ["NLSResult", "covariance", "fit_nls"]
