"""Standard curves: 4PL / 5PL fits (unweighted and weighted), back-calculation, curve QC.

What is fitted
--------------
By default, as plate-reader software does (SoftMax Pro, Gen5), the curve is
fitted to the **mean response of each standard concentration** over its
unmasked replicates, the zero standard included; ``fit_to="replicates"``
fits every replicate instead.

Weights (``weights=``)
----------------------
``"none"``
    Ordinary least squares.
``"1/y2"``
    ``w = 1 / y^2`` with ``y`` the observed (mean) response; ``|y|`` is floored
    at 0.1 % of the largest ``|y|`` so that a zero-standard OD of ~0 cannot
    take all the weight.
``"1/var"``
    ``w = n / s^2`` (fitting means) or ``w = 1 / s^2`` (fitting replicates),
    ``s^2`` the replicate variance of that standard; needs two or more
    replicates per standard; variances are floored at 1 % of the median
    positive variance.
``"power"``
    Power of the mean, ``Var(y) = sigma^2 * mu^(2 theta)`` (Finney DJ.
    Radioligand assay. Biometrics 1976;32:721-740; the variance model of
    Davidian M, Giltinan DM, Nonlinear Models for Repeated Measurement Data,
    1995, ch. 2). ``theta`` is estimated by regressing ``log SD`` on
    ``log mean`` over standards with replicates (three or more needed, else
    ``theta = 1``), clipped to ``[0, 2]``; weights ``1 / mu^(2 theta)`` use the
    fitted mean and are iterated (three reweighting passes, IRLS).

Starting values
---------------
``a`` and ``d`` from the responses at the lowest and highest concentration
(pushed 1-10 % of the span outward), then ``b`` and ``c`` from the linear
regression ``log((a - y) / (y - d)) = b log x - b log c`` over the
standards strictly between them; the 5PL starts from the 4PL fit with
``g = 1``. Internally ``b``, ``c`` (and ``g``) are optimised on the log
scale, keeping them positive; Jacobians are analytic.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import stdtrit

from decidua.assays.elisa import models
from decidua.assays.elisa.nls import NLSResult, central_jacobian, covariance, fit_nls
from decidua.errors import InputError, ModelError
from decidua.stats import Interval

FORMAT_VERSION = 1
WEIGHTS = ("none", "1/y2", "1/var", "power")
MODELS = ("4pl", "5pl")
FIT_TO = ("mean", "replicates")

#: Floor of |y| for 1/y^2 weights, as a fraction of the largest |y|.
Y2_FLOOR_FRACTION = 1e-3
#: Floor of replicate variances for 1/var weights, as a fraction of the median positive variance.
VAR_FLOOR_FRACTION = 1e-2
#: IRLS passes for the power-of-the-mean weights.
POWER_PASSES = 3


@dataclass(frozen=True)
class StandardPoint:
    """QC of one standard concentration.

    Attributes
    ----------
    concentration
        Nominal concentration (assay units, in the well).
    n
        Unmasked replicates.
    mean_response, sd_response, cv_pct
        Replicate mean, SD and CV % of the response (CV NaN with one replicate).
    back_calculated
        Concentration read back from the curve at the mean response (NaN when
        the mean lies beyond an asymptote).
    replicate_back_calculated
        Each replicate read back from the curve.
    recovery_pct
        ``100 * back_calculated / concentration`` (NaN for the zero standard).
    conc_cv_pct
        CV % of the replicates' back-calculated concentrations (NaN unless all
        are finite and there are two or more).
    residual
        Mean response minus fitted response.
    """

    concentration: float
    n: int
    mean_response: float
    sd_response: float
    cv_pct: float
    back_calculated: float
    replicate_back_calculated: tuple[float, ...]
    recovery_pct: float
    conc_cv_pct: float
    residual: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as ``None``)."""
        return {
            "concentration": _num(self.concentration),
            "n": self.n,
            "mean_response": _num(self.mean_response),
            "sd_response": _num(self.sd_response),
            "cv_pct": _num(self.cv_pct),
            "back_calculated": _num(self.back_calculated),
            "replicate_back_calculated": [_num(v) for v in self.replicate_back_calculated],
            "recovery_pct": _num(self.recovery_pct),
            "conc_cv_pct": _num(self.conc_cv_pct),
            "residual": _num(self.residual),
        }


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def mean_sd(values: Any) -> tuple[float, float]:
    """Mean and sample SD (NaN with fewer than two values) of a short sequence, in plain Python
    (numpy's reductions cost more than the arithmetic for a handful of replicates)."""
    v = values.tolist() if isinstance(values, np.ndarray) else [float(t) for t in values]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(v) / n
    if n < 2:
        return m, float("nan")
    return m, math.sqrt(sum((t - m) ** 2 for t in v) / (n - 1))


def _group(conc: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    order = np.argsort(conc, kind="stable")
    c, r = conc[order], resp[order]
    levels, starts = np.unique(c, return_index=True)
    return levels, np.split(r, starts[1:])


def starting_values(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """4PL starting values ``[a, b, c, d]`` from (mean) responses ``y`` at concentrations ``x``.

    See the module docstring for the rule.
    """
    order = np.argsort(x)
    x, y = x[order], y[order]
    span = float(y[-1] - y[0])
    if span == 0:
        span = float(np.ptp(y)) or 1.0
    a0 = float(y[0] - (0.01 if x[0] == 0 else 0.1) * span)
    d0 = float(y[-1] + 0.1 * span)
    lo, hi = min(a0, d0), max(a0, d0)
    sel = (x > 0) & (y > lo) & (y < hi)
    if sel.sum() >= 2:
        lx = np.log(x[sel])
        z = np.log((a0 - y[sel]) / (y[sel] - d0))
        lxc = lx - lx.mean()
        slope = float(lxc @ (z - z.mean()) / (lxc @ lxc))
        intercept = float(z.mean() - slope * lx.mean())
        b0 = float(slope) if slope > 0 else 1.0
        c0 = float(np.exp(-intercept / b0)) if slope > 0 else float(np.exp(lx.mean()))
    else:
        pos = x[x > 0]
        b0, c0 = 1.0, float(np.exp(np.log(pos).mean())) if pos.size else 1.0
    c0 = float(np.clip(c0, x[x > 0].min() / 1e3 if np.any(x > 0) else 1e-9,
                       x.max() * 1e3 if x.max() > 0 else 1e9))
    return np.array([a0, b0, c0, d0])


def _internal_fns(model: str, x: np.ndarray):  # type: ignore[no-untyped-def]
    """Model and Jacobian in the internal parameters (a, log b, log c, d[, log g]) at fixed ``x``.

    ``log x`` is computed once; ``x = 0`` (the zero standard) gives ``u = 0``.
    """
    pos = x > 0
    lx = np.where(pos, np.log(np.where(pos, x, 1.0)), 0.0)
    zero = ~pos
    any_zero = bool(zero.any())

    def to_nat(t: np.ndarray) -> np.ndarray:
        p = np.array(t, dtype=float)
        p[1] = math.exp(min(t[1], 700.0))
        p[2] = math.exp(min(t[2], 700.0))
        if model == "5pl":
            p[4] = math.exp(min(t[4], 700.0))
        return p

    def _u(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        b = math.exp(min(t[1], 700.0))
        logr = lx - t[2]
        u = np.exp(np.minimum(b * logr, 700.0))
        if any_zero:
            u[zero] = 0.0
            logr = np.where(zero, 0.0, logr)
        return u, logr, b

    if model == "4pl":

        def f(_x: np.ndarray, t: np.ndarray) -> np.ndarray:
            u, _, _ = _u(t)
            return t[3] + (t[0] - t[3]) / (1.0 + u)

        def j(_x: np.ndarray, t: np.ndarray) -> np.ndarray:
            u, logr, b = _u(t)
            inv = 1.0 / (1.0 + u)
            common = (t[0] - t[3]) * u * inv * inv
            # d/dlog b = b d/db; d/dlog c = c d/dc = (a - d) u b / D^2
            return np.column_stack((inv, -common * logr * b, common * b, 1.0 - inv))

        return to_nat, f, j

    def f5(_x: np.ndarray, t: np.ndarray) -> np.ndarray:
        u, _, _ = _u(t)
        g = math.exp(min(t[4], 700.0))
        with np.errstate(over="ignore", divide="ignore"):
            return t[3] + (t[0] - t[3]) * (1.0 + u) ** (-g)

    def j5(_x: np.ndarray, t: np.ndarray) -> np.ndarray:
        u, logr, b = _u(t)
        g = math.exp(min(t[4], 700.0))
        den = 1.0 + u
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            pw = den ** (-g)
            common = (t[0] - t[3]) * g * pw / den * u
            dg = -(t[0] - t[3]) * pw * np.log(den) * g
            return np.column_stack((pw, -common * logr * b, common * b, 1.0 - pw, dg))

    return to_nat, f5, j5


def _to_internal(model: str, p: np.ndarray) -> np.ndarray:
    t = np.array(p, dtype=float)
    t[1], t[2] = math.log(p[1]), math.log(p[2])
    if model == "5pl":
        t[4] = math.log(p[4])
    return t


class StandardCurve:
    """A 4PL / 5PL standard curve: ``fit(...)`` returns self.

    Parameters
    ----------
    model
        ``"4pl"`` or ``"5pl"``.
    weights
        ``"none"``, ``"1/y2"``, ``"1/var"`` or ``"power"`` (module docstring).
    fit_to
        ``"mean"`` (default: mean response per standard) or ``"replicates"``.
    level
        Coverage of the parameter intervals (Wald, t with the residual df).

    Attributes (after ``fit``)
    --------------------------
    params
        ``{"a", "b", "c", "d"[, "g"]}``.
    param_intervals
        Parameter -> :class:`~decidua.stats.Interval` (NaN limits when not estimable).
    r2
        ``1 - SS_res / SS_tot`` on the fitted points (unweighted, as plate-reader software reports).
    residual_se, df
        Weighted residual standard error and its degrees of freedom.
    theta
        Power-of-the-mean exponent (``"power"`` weights only, else ``None``).
    standards
        One :class:`StandardPoint` per concentration, in increasing concentration.
    """

    def __init__(
        self, model: str = "4pl", weights: str = "none", fit_to: str = "mean", level: float = 0.95
    ) -> None:
        if model not in MODELS:
            raise InputError(
                f"model must be one of {', '.join(MODELS)}", column="model", value=model
            )
        if weights not in WEIGHTS:
            raise InputError(
                f"weights must be one of {', '.join(WEIGHTS)}", column="weights", value=weights
            )
        if fit_to not in FIT_TO:
            raise InputError(
                f"fit_to must be one of {', '.join(FIT_TO)}", column="fit_to", value=fit_to
            )
        self.model = model
        self.weights = weights
        self.fit_to = fit_to
        self.level = level
        self.params: dict[str, float] = {}
        self.param_intervals: dict[str, Interval] = {}
        self.cov: np.ndarray | None = None
        self.r2 = float("nan")
        self.residual_se = float("nan")
        self.df = 0
        self.theta: float | None = None
        self.standards: tuple[StandardPoint, ...] = ()
        self.nfev = 0

    # ------------------------------------------------------------------ fitting
    @property
    def param_array(self) -> np.ndarray:
        """Parameters as an array in :data:`models.PARAM_NAMES` order."""
        return np.array([self.params[k] for k in models.PARAM_NAMES[self.model]])

    def fit(self, concentration: np.ndarray, response: np.ndarray) -> StandardCurve:
        """Fit to the replicate responses of the standards (masked replicates already removed).

        Parameters
        ----------
        concentration
            Nominal concentration of each replicate (0 allowed: the zero standard).
        response
            Response (OD) of each replicate.

        Raises
        ------
        InputError
            Non-finite values, negative concentrations, too few distinct
            concentrations, a flat response, or weights that need replicates
            when there are none.
        ModelError
            When the optimiser does not converge.
        """
        x_all = np.asarray(concentration, dtype=float).ravel()
        y_all = np.asarray(response, dtype=float).ravel()
        if x_all.shape != y_all.shape:
            raise InputError("concentration and response differ in length")
        if not (np.all(np.isfinite(x_all)) and np.all(np.isfinite(y_all))):
            raise InputError("standard concentrations and responses must be finite numbers")
        if np.any(x_all < 0):
            raise InputError("standard concentrations must be >= 0", column="concentration")
        levels, groups = _group(x_all, y_all)
        k = len(models.PARAM_NAMES[self.model])
        if levels.size < k + 1:
            raise InputError(
                f"a {self.model.upper()} needs at least {k + 1} distinct standard concentrations, "
                f"got {levels.size}",
                column="concentration",
            )
        msd = [mean_sd(g) for g in groups]
        means = np.array([m for m, _ in msd])
        if np.ptp(means) == 0:
            raise InputError(
                "all standards have the same response", column="od", value=float(means[0])
            )
        n_rep = np.array([g.size for g in groups])
        var = np.array([s * s for _, s in msd])

        if self.fit_to == "mean":
            x, y, n_w = levels, means, n_rep.astype(float)
            var_pt = var
        else:
            x, y, n_w = x_all[np.argsort(x_all, kind="stable")], np.concatenate(groups), None
            var_pt = np.repeat(var, n_rep)

        w = self._static_weights(y, var_pt, n_w, n_rep)
        p0 = starting_values(levels, means)
        to_nat, f, j = _internal_fns("4pl", x)
        res = fit_nls(f, j, x, y, _to_internal("4pl", p0), w, want_cov=False)
        if self.weights == "power":
            self.theta = _power_theta(means, var)
            for _ in range(POWER_PASSES):
                mu = np.abs(f(x, res.params))
                mu = np.maximum(mu, Y2_FLOOR_FRACTION * mu.max())
                w = mu ** (-2.0 * self.theta) * (n_w if n_w is not None else 1.0)
                res = fit_nls(f, j, x, y, res.params, w, want_cov=False)
        if self.model == "5pl":
            to_nat, f, j = _internal_fns("5pl", x)
            t0 = np.append(res.params, 0.0)
            res = fit_nls(f, j, x, y, t0, w, want_cov=False)
            if self.weights == "power":
                for _ in range(POWER_PASSES):
                    mu = np.abs(f(x, res.params))
                    mu = np.maximum(mu, Y2_FLOOR_FRACTION * mu.max())
                    w = mu ** (-2.0 * self.theta) * (n_w if n_w is not None else 1.0)
                    res = fit_nls(f, j, x, y, res.params, w, want_cov=False)
        p = to_nat(res.params)
        self._set_fit(p, x, y, w, res)
        self._set_standards(levels, groups, means, msd)
        return self

    def _static_weights(
        self, y: np.ndarray, var_pt: np.ndarray, n_w: np.ndarray | None, n_rep: np.ndarray
    ) -> np.ndarray | None:
        if self.weights in ("none", "power"):
            return None
        if self.weights == "1/y2":
            ay = np.abs(y)
            ay = np.maximum(ay, Y2_FLOOR_FRACTION * ay.max())
            return 1.0 / ay**2
        # 1/var
        if np.any(n_rep < 2):
            raise InputError(
                "1/var weights need two or more unmasked replicates of every standard",
                column="weights",
                value="1/var",
            )
        pos = var_pt[var_pt > 0]
        floor = VAR_FLOOR_FRACTION * (np.median(pos) if pos.size else 1.0)
        v = np.maximum(var_pt, floor)
        return (n_w if n_w is not None else 1.0) / v

    def _set_fit(
        self, p: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, res: NLSResult
    ) -> None:
        names = models.PARAM_NAMES[self.model]
        self.params = {k: float(v) for k, v in zip(names, p, strict=True)}
        fitted = models.response(self.model, x, p)
        ss_res = float(np.sum((y - fitted) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        self.r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
        self.df = res.df
        self.residual_se = res.residual_se
        self.nfev = res.nfev
        sw = np.ones_like(y) if w is None else np.sqrt(w)
        jac = sw[:, None] * models.jacobian(self.model, x, p)
        self.cov = covariance(jac, res.rss, res.df)
        se = np.sqrt(np.clip(np.diag(self.cov), 0, None))
        tq = float(stdtrit(self.df, 0.5 + self.level / 2)) if self.df > 0 else float("nan")
        self.param_intervals = {
            k: Interval(
                estimate=float(v), low=float(v - tq * s) if np.isfinite(s) else float("nan"),
                high=float(v + tq * s) if np.isfinite(s) else float("nan"),
                level=self.level, method=f"Wald, t with {self.df} df",
            )
            for k, v, s in zip(names, p, se, strict=True)
        }

    def _set_standards(
        self, levels: np.ndarray, groups: list[np.ndarray], means: np.ndarray,
        msd: list[tuple[float, float]],
    ) -> None:
        p = self.param_array
        both = models.inverse(self.model, np.concatenate([means, *groups]), p).tolist()
        backs, reps_all = both[: len(groups)], both[len(groups) :]
        fitted = models.response(self.model, levels, p).tolist()
        pts = []
        start = 0
        nan = float("nan")
        for conc, g, (mean, sd), back, fit_y in zip(levels.tolist(), groups, msd, backs, fitted,
                                                      strict=True):
            n = g.size
            reps = reps_all[start : start + n]
            start += n
            finite = all(r == r for r in reps)  # NaN != NaN
            rmean, rsd = mean_sd(reps) if finite else (nan, nan)
            conc_cv = 100 * rsd / rmean if n > 1 and finite and rmean > 0 else nan
            pts.append(
                StandardPoint(
                    concentration=conc, n=n, mean_response=mean, sd_response=sd,
                    cv_pct=100 * sd / abs(mean) if n > 1 and mean != 0 else nan,
                    back_calculated=back, replicate_back_calculated=tuple(reps),
                    recovery_pct=100 * back / conc if conc > 0 else nan,
                    conc_cv_pct=conc_cv, residual=mean - fit_y,
                )
            )
        self.standards = tuple(pts)

    # ------------------------------------------------------------------ using the fit
    def _check(self) -> None:
        if not self.params:
            raise ModelError("the standard curve is not fitted")

    def predict(self, concentration: np.ndarray) -> np.ndarray:
        """Fitted response at ``concentration``."""
        self._check()
        return models.response(self.model, np.asarray(concentration, dtype=float), self.param_array)

    def concentration(self, response: np.ndarray) -> np.ndarray:
        """Concentration in the well for each response (NaN beyond an asymptote)."""
        self._check()
        return models.inverse(self.model, np.asarray(response, dtype=float), self.param_array)

    def concentration_interval(self, response: float) -> Interval:
        """Back-calculated concentration with a delta-method interval from the parameter covariance.

        The interval reflects the curve's uncertainty only (not the response's
        own measurement error); NaN limits beyond an asymptote or with a
        singular covariance.
        """
        self._check()
        est = float(self.concentration(np.array([response]))[0])
        if not math.isfinite(est) or self.cov is None or not np.all(np.isfinite(self.cov)):
            nan = float("nan")
            return Interval(est, nan, nan, self.level, "delta method (curve only)")
        grad = models.inverse_gradient(self.model, response, self.param_array)
        se = float(np.sqrt(max(grad @ self.cov @ grad, 0.0)))
        tq = float(stdtrit(self.df, 0.5 + self.level / 2))
        return Interval(est, max(est - tq * se, 0.0), est + tq * se, self.level,
                        "delta method (curve only)")

    def concentration_intervals(
        self, mean_response: np.ndarray, n: np.ndarray, var_response: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inverse-prediction intervals for the concentrations of mean responses (vectorised).

        ``Var(x) = g' Sigma g + (dx/dy)^2 s^2 / n`` (delta method): the curve's
        parameter covariance ``Sigma`` through the gradient ``g`` of the inverse,
        plus the measurement error of a mean of ``n`` replicates with variance
        ``s^2`` (``NaN`` variance: the curve term only). t quantile with the
        curve's residual df. Returns ``(estimate, low, high)``; NaN beyond the
        asymptotes or with a singular covariance; ``low`` clipped at 0.
        """
        self._check()
        y = np.asarray(mean_response, dtype=float)
        p = self.param_array
        est = models.inverse(self.model, y, p)
        nan = np.full_like(y, np.nan)
        if self.cov is None or not np.all(np.isfinite(self.cov)) or self.df <= 0:
            return est, nan, nan
        grads = central_jacobian(lambda q: models.inverse(self.model, y, q), p,
                                 rel_step=1e-6, floor=1e-12)
        var_curve = np.einsum("ij,jk,ik->i", grads, self.cov, grads)
        hy = 1e-6 * abs(p[3] - p[0])
        dxdy = (models.inverse(self.model, y + hy, p) - models.inverse(self.model, y - hy, p)) / (
            2 * hy
        )
        meas = np.where(np.isfinite(var_response), dxdy**2 * var_response / np.maximum(n, 1), 0.0)
        se = np.sqrt(np.clip(var_curve + meas, 0, None))
        tq = float(stdtrit(self.df, 0.5 + self.level / 2))
        return est, np.maximum(est - tq * se, 0.0), est + tq * se

    def direction(self) -> int:
        """+1 when the response rises with concentration, -1 when it falls."""
        self._check()
        return 1 if self.params["d"] > self.params["a"] else -1

    def summary(self) -> dict[str, Any]:
        """Parameters with estimate / low / high / level, plus R^2 and residual SE."""
        self._check()
        return {
            "model": self.model,
            "weights": self.weights,
            "fit_to": self.fit_to,
            "params": {k: iv.summary() for k, iv in self.param_intervals.items()},
            "r2": _num(self.r2),
            "residual_se": _num(self.residual_se),
            "df": self.df,
            "theta": self.theta,
        }

    def to_dict(self) -> dict[str, Any]:
        """Versioned JSON-ready dict (inverse: :meth:`from_dict`)."""
        self._check()
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "weights": self.weights,
            "fit_to": self.fit_to,
            "level": self.level,
            "params": dict(self.params),
            "param_intervals": {k: iv.to_dict() for k, iv in self.param_intervals.items()},
            "cov": None if self.cov is None else self.cov.tolist(),
            "r2": self.r2,
            "residual_se": self.residual_se,
            "df": self.df,
            "theta": self.theta,
            "standards": [s.to_dict() for s in self.standards],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StandardCurve:
        """Rebuild a fitted curve from :meth:`to_dict` output."""
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"unsupported standard-curve format {data.get('format_version')!r}")
        obj = cls(data["model"], data["weights"], data["fit_to"], data["level"])
        obj.params = {k: float(v) for k, v in data["params"].items()}
        obj.param_intervals = {k: Interval.from_dict(v) for k, v in data["param_intervals"].items()}
        obj.cov = None if data["cov"] is None else np.array(data["cov"], dtype=float)
        obj.r2 = float(data["r2"])
        obj.residual_se = float(data["residual_se"])
        obj.df = int(data["df"])
        obj.theta = data["theta"]

        def f(v: Any) -> float:
            return float("nan") if v is None else float(v)

        obj.standards = tuple(
            StandardPoint(
                concentration=f(s["concentration"]), n=int(s["n"]),
                mean_response=f(s["mean_response"]), sd_response=f(s["sd_response"]),
                cv_pct=f(s["cv_pct"]), back_calculated=f(s["back_calculated"]),
                replicate_back_calculated=tuple(f(v) for v in s["replicate_back_calculated"]),
                recovery_pct=f(s["recovery_pct"]), conc_cv_pct=f(s["conc_cv_pct"]),
                residual=f(s["residual"]),
            )
            for s in data["standards"]
        )
        return obj

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, allow_nan=True))

    @classmethod
    def load(cls, path: str | Path) -> StandardCurve:
        """Read a curve written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _power_theta(means: np.ndarray, var: np.ndarray) -> float:
    """Power-of-the-mean exponent from replicate SDs (``log SD = k + theta log mean``)."""
    sd = np.sqrt(var)
    ok = np.isfinite(sd) & (sd > 0) & (means > 0)
    if ok.sum() < 3:
        return 1.0
    theta = float(np.polyfit(np.log(means[ok]), np.log(sd[ok]), 1)[0])
    return float(np.clip(theta, 0.0, 2.0))


__all__ = ["FIT_TO", "MODELS", "WEIGHTS", "StandardCurve", "StandardPoint", "starting_values"]
