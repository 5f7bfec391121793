"""Log-log (power-law) standard curve: ``y = A x^B`` fitted as a straight line in
``log10 y`` against ``log10 x`` (pure).

Plate-reader software offers this curve for assays whose standards show no
plateau (SoftMax Pro calls it "Log-Log"); a 4PL does not converge on them. As
for the 4PL here, the curve is by default fitted to the mean response of each
standard concentration (its unmasked replicates averaged), by ordinary least
squares on the logs; standards with a zero or negative concentration or
response have no logarithm and are left out (named in ``dropped``).
Back-calculation: ``x = (y / A)^(1/B)``; a response <= 0 has no concentration.

Checked (tests/assays/elisa/test_loglog.py) against SoftMax Pro's own printed
back-calculated concentrations of a real export (allotropy's
``MD_SMP_absorbance_endpoint_example01``, tests/data/elisa/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from decidua.errors import InputError

MODEL = "loglog"


@dataclass(frozen=True)
class LogLogCurve:
    """A fitted power-law curve ``y = a * x**b`` (``a`` = response at x = 1, ``b`` = slope
    on log-log axes), its R² on the log scale and the points it was fitted to.

    Examples
    --------
    >>> c = fit_loglog([1, 10, 100], [0.02, 0.4, 8.0])
    >>> round(c.a, 6), round(c.b, 6), round(c.r2_log, 6)
    (0.02, 1.30103, 1.0)
    >>> round(float(c.concentration(0.4)), 6)
    10.0
    """

    a: float
    b: float
    r2_log: float
    n_points: int
    dropped: tuple[float, ...] = ()

    def predict(self, concentration: Any) -> np.ndarray:
        """Response at each concentration."""
        return self.a * np.asarray(concentration, dtype=float) ** self.b

    def concentration(self, response: Any) -> np.ndarray:
        """Back-calculated concentration of each response (NaN for a response <= 0)."""
        y = np.asarray(response, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(y > 0, (np.where(y > 0, y, 1.0) / self.a) ** (1.0 / self.b),
                            np.nan)

    def to_dict(self) -> dict[str, Any]:
        return {"model": MODEL, "params": {"a": self.a, "b": self.b}, "r2_log": self.r2_log,
                "n_points": self.n_points, "dropped": list(self.dropped)}


def fit_loglog(concentration: Any, response: Any, *, replicates: bool = False) -> LogLogCurve:
    """Fit ``log10 y = log10 a + b log10 x`` by least squares.

    Parameters
    ----------
    concentration, response
        The standards' wells (one value each; replicates share a concentration).
    replicates
        Fit every well instead of the mean response of each concentration.

    Raises
    ------
    InputError
        Fewer than 2 distinct concentrations with positive concentration and mean
        response, lengths that differ, or all responses equal (no slope).

    Examples
    --------
    >>> round(fit_loglog([1, 1, 10, 10], [1.0, 3.0, 20.0, 20.0]).a, 9)  # means 2 and 20
    2.0
    """
    x = np.asarray(concentration, dtype=float)
    y = np.asarray(response, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError("concentration and response must be 1-D of equal length",
                         column="concentration")
    if not replicates:
        levels = np.unique(x[np.isfinite(x)])
        y = np.array([np.nanmean(y[x == v]) for v in levels])
        x = levels
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    dropped = tuple(float(v) for v in x[~ok])
    lx, ly = np.log10(x[ok]), np.log10(y[ok])
    if np.unique(lx).size < 2:
        raise InputError("a log-log curve needs at least 2 distinct standard concentrations "
                         "with positive concentration and response", column="concentration")
    if np.ptp(ly) == 0:
        raise InputError("all standards at one response: no log-log slope", column="od")
    b, log_a = np.polyfit(lx, ly, 1)
    resid = ly - (log_a + b * lx)
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot
    return LogLogCurve(float(10.0 ** log_a), float(b), r2 if math.isfinite(r2) else math.nan,
                       int(ok.sum()), dropped)
