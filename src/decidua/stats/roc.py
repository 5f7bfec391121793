"""ROC curve and the area under it with DeLong's interval (generic; numpy and scipy).

The AUC is the Mann-Whitney probability that a random event scores above a random
non-event (ties count one half). Its variance is DeLong's nonparametric estimate
(DeLong, DeLong & Clarke-Pearson, Biometrics 1988;44:837-845) from the structural
components, computed through midranks (Sun & Xu, IEEE Signal Process Lett
2014;21:1389-1393); the interval is normal on the logit scale of the AUC, so it stays
inside (0, 1) (a common choice, e.g. Qin & Hotilovac, Stat Methods Med Res 2008).

Examples
--------
>>> import numpy as np
>>> auc = auc_delong(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
>>> auc.estimate
0.75
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from decidua.errors import ModelError
from decidua.stats.intervals import Interval


@dataclass(frozen=True)
class RocCurve:
    """Empirical ROC curve: false- and true-positive rates at each distinct threshold
    (a case is positive when its score is at or above the threshold), from (0, 0) to (1, 1).

    Examples
    --------
    >>> c = roc_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    >>> c.fpr, c.tpr
    ((0.0, 0.0, 0.5, 0.5, 1.0), (0.0, 0.5, 0.5, 1.0, 1.0))
    """

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    thresholds: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"fpr": list(self.fpr), "tpr": list(self.tpr),
                "thresholds": list(self.thresholds)}


def _split(scores: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, float)
    e = np.asarray(y).astype(bool)
    if s.shape != e.shape or s.ndim != 1:
        raise ModelError("scores and outcomes must be 1-d and of the same length")
    if not np.isfinite(s).all():
        raise ModelError("scores must be finite")
    pos, neg = s[e], s[~e]
    if not len(pos) or not len(neg):
        raise ModelError(f"need events and non-events (events {len(pos)}, "
                         f"non-events {len(neg)})")
    return pos, neg


def roc_curve(scores: Any, y: Any) -> RocCurve:
    """The empirical ROC curve of ``scores`` against 0/1 outcomes ``y``.

    Raises
    ------
    ModelError
        No events or no non-events, or non-finite scores.

    Examples
    --------
    >>> roc_curve([1, 2], [0, 1]).tpr
    (0.0, 1.0, 1.0)
    """
    pos, neg = _split(scores, y)
    th = np.unique(np.concatenate([pos, neg]))[::-1]
    tpr = [0.0] + [float((pos >= t).mean()) for t in th]
    fpr = [0.0] + [float((neg >= t).mean()) for t in th]
    return RocCurve(tuple(fpr), tuple(tpr), (math.inf, *(float(t) for t in th)))


def auc_delong(scores: Any, y: Any, level: float = 0.95) -> Interval:
    """AUC with DeLong's standard error and a logit-scale normal interval.

    Raises
    ------
    ModelError
        No events or no non-events, or non-finite scores.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(200), np.zeros(200)]
    >>> s = np.r_[rng.normal(1, 1, 200), rng.normal(0, 1, 200)]  # true AUC 0.760
    >>> iv = auc_delong(s, y)
    >>> iv.low < 0.760 < iv.high, iv.method.split(";")[0]
    (True, 'DeLong (1988)')
    """
    from scipy import stats

    pos, neg = _split(scores, y)
    m, n = len(pos), len(neg)
    all_ranks = stats.rankdata(np.concatenate([pos, neg]))
    v10 = (all_ranks[:m] - stats.rankdata(pos)) / n           # per event: share of
    v01 = 1.0 - (all_ranks[m:] - stats.rankdata(neg)) / m     # non-events it beats
    auc = float(v10.mean())
    var = (float(np.var(v10, ddof=1)) / m if m > 1 else 0.0) + (
        float(np.var(v01, ddof=1)) / n if n > 1 else 0.0)
    z = float(stats.norm.ppf(0.5 + level / 2))
    if 0.0 < auc < 1.0 and var > 0:
        lg = math.log(auc / (1 - auc))
        se_lg = math.sqrt(var) / (auc * (1 - auc))
        low, high = (1 / (1 + math.exp(-(lg - z * se_lg))), 1 / (1 + math.exp(-(lg + z * se_lg))))
    else:
        low = high = auc
    return Interval(auc, low, high, level,
                    f"DeLong (1988); logit-scale normal interval; SE {math.sqrt(var):.4f}")
