"""uNK % (CD56+ cells of stromal cells) from field counts, with an overdispersed interval.

Counts come from several microscope fields of one section (Lash et al., J Reprod
Immunol 2016;116:50: 10 random fields at x400, % of stromal cells). Fields differ
more than binomial sampling allows (uNK cells cluster around vessels and glands),
so the interval uses a beta-binomial variance: with fields i = 1..m, CD56+ k_i of
n_i stromal cells, pooled p = sum k / sum n and the intra-field correlation rho
estimated by moments (Kish design effect deff = 1 + (n_bar - 1) rho, rho >= 0),

    var(p) = p (1 - p) / N * deff,   N = sum n_i,

and a Wald interval on the logit scale (delta method), back-transformed so that it
stays inside 0-100 %. With one field rho cannot be estimated: the interval is
binomial and says so.

Examples
--------
>>> est = unk_percent([5, 9, 3, 12], [100, 110, 95, 105])
>>> round(est.unk_pct, 2), est.n_fields, est.interval.method.split(" (")[0]
(7.07, 4, 'beta-binomial Wald on the logit scale')
>>> est.interval.low < est.unk_pct < est.interval.high
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

from decidua.errors import InputError
from decidua.stats.intervals import Interval

#: Continuity offset (cells) for a pooled count of 0 or N on the logit scale (our choice).
LOGIT_OFFSET = 0.5


@dataclass(frozen=True)
class UnkEstimate:
    """% CD56+ of stromal cells over the fields counted, with its interval.

    Attributes
    ----------
    cd56_positive, stromal_cells
        Totals over the fields.
    unk_pct
        100 x cd56_positive / stromal_cells.
    rho
        Estimated intra-field correlation (0 = binomial; ``None`` with one field).
    design_effect
        1 + (mean field size - 1) x rho.
    n_fields
        Fields counted.
    interval
        The % with its limits (:class:`~decidua.stats.Interval`).
    """

    cd56_positive: int
    stromal_cells: int
    unk_pct: float
    rho: float | None
    design_effect: float
    n_fields: int
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"cd56_positive": self.cd56_positive, "stromal_cells": self.stromal_cells,
                "unk_pct": self.unk_pct, "rho": self.rho, "design_effect": self.design_effect,
                "n_fields": self.n_fields, "interval": self.interval.to_dict()}


@lru_cache(maxsize=64)
def _normal_quantile(q: float) -> float:
    """The standard normal quantile (scipy's, cached: a screening run asks for one level
    thousands of times and ``norm.ppf`` costs a fraction of a millisecond each)."""
    return float(stats.norm.ppf(q))


def unk_percent(cd56_positive: Sequence[int], stromal_cells: Sequence[int], *,
                level: float = 0.95) -> UnkEstimate:
    """% CD56+ of stromal cells with a beta-binomial (overdispersed) interval.

    Parameters
    ----------
    cd56_positive, stromal_cells
        Per field: CD56+ cells and stromal cells counted (CD56+ among them).
    level
        Interval level (0-1).

    Raises
    ------
    InputError
        No fields, unequal lengths, negative counts, CD56+ above the total, no cells.
    """
    k = np.asarray(cd56_positive, dtype=float)
    n = np.asarray(stromal_cells, dtype=float)
    if k.shape != n.shape or k.ndim != 1 or len(k) == 0:
        raise InputError("uNK counts: one CD56+ count and one stromal count per field")
    if (k < 0).any() or (n < 0).any():
        raise InputError("uNK counts cannot be negative")
    if (k > n).any():
        raise InputError("uNK counts: CD56+ cells above the stromal cells of a field")
    big_n, big_k, m = float(n.sum()), float(k.sum()), len(k)
    if big_n <= 0:
        raise InputError("uNK counts: no stromal cells counted")
    p = big_k / big_n
    rho: float | None = None
    deff = 1.0
    if m >= 2:
        # moment estimator of the intra-class correlation (Fleiss, Statistical Methods for
        # Rates and Proportions, 3rd ed. 2003, ch. 15): between-field vs within-field MS
        n_bar = big_n / m
        n0 = (big_n - (n**2).sum() / big_n) / (m - 1)
        pi = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
        msb = float((n * (pi - p) ** 2).sum() / (m - 1))
        msw = float((k * (1 - pi)).sum() / (big_n - m)) if big_n > m else 0.0
        denom = msb + (n0 - 1) * msw
        rho = max(0.0, (msb - msw) / denom) if denom > 0 else 0.0
        deff = 1.0 + (n_bar - 1.0) * rho
    pk = (big_k + LOGIT_OFFSET) / (big_n + 2 * LOGIT_OFFSET) if big_k in (0, big_n) else p
    se_logit = math.sqrt(deff / (big_n * pk * (1 - pk)))
    zq = _normal_quantile(0.5 + level / 2)
    centre = math.log(pk / (1 - pk))
    lo = 100.0 / (1 + math.exp(-(centre - zq * se_logit)))
    hi = 100.0 / (1 + math.exp(-(centre + zq * se_logit)))
    method = ("beta-binomial Wald on the logit scale (moment dispersion over "
              f"{m} fields)" if m >= 2 else "binomial Wald on the logit scale (one field: "
              "no field-to-field dispersion estimable)")
    pct = 100.0 * p
    iv = Interval(pct, min(lo, pct), max(hi, pct), level, method)
    return UnkEstimate(int(big_k), int(big_n), pct, rho, deff, m, iv)
