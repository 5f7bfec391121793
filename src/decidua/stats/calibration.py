"""Generic calibration statistics: Platt scaling, reliability (ECE, Brier), conformal quantile.

Shared by every result that reports a probability or a calibrated interval (the
timing out-of-phase probability and placement interval today). Pure: numpy and
scipy (the Platt fit uses statsmodels' GLM, imported when called); no database,
web or CLI code.

Examples
--------
>>> import numpy as np
>>> from decidua.stats.calibration import platt_apply, reliability
>>> p = np.array([0.1, 0.4, 0.6, 0.9])
>>> platt_apply(p, (0.0, 1.0)).round(6).tolist()  # the identity map
[0.1, 0.4, 0.6, 0.9]
>>> r = reliability(p, np.array([0, 0, 1, 1]))
>>> round(r["brier"], 4), round(r["ece"], 4), r["n"], r["events"]
(0.085, 0.25, 4, 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from decidua.errors import ModelError

#: Probabilities are clipped to [eps, 1 - eps] before the logit of Platt scaling, so that a
#: raw probability of exactly 0 or 1 maps to a finite logit.
LOGIT_EPS = 1e-6
#: Equal-width bins of the reliability table and of the expected calibration error (ECE;
#: Naeini, Cooper & Hauskrecht, AAAI 2015; Guo et al., ICML 2017).
RELIABILITY_BINS = 10


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """Split-conformal quantile: the ``ceil((n + 1) level)``-th smallest score, at most 1.

    Vovk, Gammerman & Shafer, *Algorithmic Learning in a Random World* (2005);
    Lei et al., JASA 2018. Scores are in [0, 1] (e.g. a density mass); when
    ``ceil((n + 1) level) > n`` the quantile is 1.

    Examples
    --------
    >>> conformal_quantile(np.arange(1, 20) / 20, 0.9)
    0.9
    >>> conformal_quantile(np.array([0.2, 0.5]), 0.9)
    1.0
    """
    s = np.sort(np.asarray(scores, float))
    k = int(math.ceil((len(s) + 1) * level - 1e-9))
    if k > len(s):
        return 1.0
    return float(min(s[k - 1], 1.0))


def logit(p: np.ndarray, eps: float = LOGIT_EPS) -> np.ndarray:
    """``log(p / (1 - p))`` of ``p`` clipped to ``[eps, 1 - eps]``.

    Examples
    --------
    >>> logit(np.array([0.5, 0.0])).round(3).tolist()
    [0.0, -13.816]
    """
    q = np.clip(np.asarray(p, float), eps, 1 - eps)
    return np.log(q / (1 - q))


def platt_fit(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling of probabilities: ``P(y=1) = 1 / (1 + exp(-(a + b logit p)))``.

    Maximum likelihood with Platt's smoothed targets (Platt 1999: positives
    ``(N+ + 1) / (N+ + 2)``, negatives ``1 / (N- + 2)``), which keeps the fit
    finite when the raw probabilities separate the classes, fitted as a binomial
    GLM with fractional responses (statsmodels).

    Parameters
    ----------
    p
        Raw probabilities (clipped to ``[eps, 1 - eps]`` before the logit).
    y
        Observed events (0/1).

    Returns
    -------
    a, b
        Intercept and slope on the logit scale.

    Raises
    ------
    ModelError
        Without both events and non-events.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 4000)
    >>> y = rng.random(4000) < 1 / (1 + np.exp(-(-1.0 + 2.0 * logit(p))))
    >>> a, b = platt_fit(p, y)
    >>> abs(a - -1.0) < 0.2, abs(b - 2.0) < 0.2  # the map the events were drawn with
    (True, True)
    """
    import statsmodels.api as sm

    y = np.asarray(y, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ModelError("Platt scaling needs both events and non-events")
    target = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    design = np.column_stack([np.ones(len(target)), logit(p)])
    fit = sm.GLM(target, design, family=sm.families.Binomial()).fit()
    a, b = (float(v) for v in fit.params)
    return a, b


def platt_apply(p: np.ndarray, coef: Sequence[float]) -> np.ndarray:
    """Apply a Platt map from :func:`platt_fit`.

    Parameters
    ----------
    p
        Raw probabilities (clipped to ``[eps, 1 - eps]`` before the logit).
    coef
        ``(a, b)``: intercept and slope on the logit scale.

    Returns
    -------
    numpy.ndarray
        Calibrated probabilities; NaN where ``p`` is NaN.

    Examples
    --------
    >>> platt_apply(np.array([0.5, np.nan]), (1.0, 2.0)).round(4).tolist()
    [0.7311, nan]
    """
    a, b = float(coef[0]), float(coef[1])
    p = np.asarray(p, float)
    out = 1.0 / (1.0 + np.exp(-(a + b * logit(p))))
    return np.where(np.isnan(p), np.nan, out)


class KeyAccess:
    """Read-only dict-style access (``obj["key"]``, ``get``, ``keys``, ``in``) to a frozen
    record's JSON form (:meth:`to_dict`), for code written against the earlier plain dicts.

    Examples
    --------
    >>> r = Reliability(brier=0.1, ece=0.02, n=10, events=2, table=())
    >>> r["ece"], r.get("missing", "-"), "brier" in r
    (0.02, '-', True)
    """

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def keys(self) -> Any:
        return self.to_dict().keys()

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()


@dataclass(frozen=True)
class ReliabilityBin:
    """One non-empty bin of a reliability table: ``[low, high)`` (the last bin closed).

    Examples
    --------
    >>> ReliabilityBin(0.0, 0.1, 4, 0.05, 0.0).to_dict()["n"]
    4
    """

    low: float
    high: float
    n: int
    mean_predicted: float
    observed: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reliability(KeyAccess):
    """Calibration of probabilities against observed events.

    Attributes
    ----------
    brier
        Brier score (mean squared error of the probabilities).
    ece
        Expected calibration error: bin-size-weighted mean of
        |mean prediction - observed rate| over equal-width bins.
    n, events
        Predictions and observed events.
    table
        The non-empty bins.

    Examples
    --------
    >>> r = reliability([0.2, 0.8], [0, 1])
    >>> Reliability.from_dict(r.to_dict()) == r
    True
    """

    brier: float
    ece: float
    n: int
    events: int
    table: tuple[ReliabilityBin, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``brier``, ``ece``, ``n``, ``events``, ``table`` (list of bins)."""
        return {
            "brier": self.brier,
            "ece": self.ece,
            "n": self.n,
            "events": self.events,
            "table": [b.to_dict() for b in self.table],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reliability:
        """Inverse of :meth:`to_dict`."""
        return cls(
            brier=d["brier"],
            ece=d["ece"],
            n=d["n"],
            events=d["events"],
            table=tuple(ReliabilityBin(**row) for row in d["table"]),
        )


def reliability(p: np.ndarray, y: np.ndarray, bins: int = RELIABILITY_BINS) -> Reliability:
    """Reliability table, expected calibration error and Brier score of probabilities.

    Parameters
    ----------
    p
        Predicted probabilities.
    y
        Observed events (0/1).
    bins
        Equal-width bins on [0, 1] (the last one closed).

    Returns
    -------
    Reliability
        Brier score, ECE (Naeini, Cooper & Hauskrecht, AAAI 2015; Guo et al.,
        ICML 2017), counts and the table of non-empty bins; also readable as a
        dict (``r["ece"]``).

    Examples
    --------
    Two bins are filled: 0.1 predicted where half the cases had the event, 0.9
    where all did; ECE = 0.5 * |0.1 - 0.5| + 0.5 * |0.9 - 1.0| = 0.25.

    >>> r = reliability([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1])
    >>> round(r["ece"], 6), round(r["brier"], 6), r["events"], len(r["table"])
    (0.25, 0.21, 3, 2)
    >>> [b.n for b in r.table], round(r.ece, 6)
    ([2, 2], 0.25)
    """
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    ece = 0.0
    for k in range(bins):
        m = idx == k
        if not m.any():
            continue
        mp, ob = float(p[m].mean()), float(y[m].mean())
        ece += m.mean() * abs(mp - ob)
        table.append(
            ReliabilityBin(
                low=k / bins,
                high=(k + 1) / bins,
                n=int(m.sum()),
                mean_predicted=mp,
                observed=ob,
            )
        )
    return Reliability(
        brier=float(np.mean((p - y) ** 2)),
        ece=float(ece),
        n=len(p),
        events=int(y.sum()),
        table=tuple(table),
    )


__all__ = [
    "LOGIT_EPS",
    "RELIABILITY_BINS",
    "KeyAccess",
    "Reliability",
    "ReliabilityBin",
    "conformal_quantile",
    "logit",
    "platt_apply",
    "platt_fit",
    "reliability",
]
