"""SA-β-gal staining: percentage of senescent (blue) cells with an exact binomial interval.

Senescence-associated β-galactosidase activity at pH 6 (Dimri GP, Lee X,
Basile G, et al. A biomarker that identifies senescent human cells in
culture and in aging skin in vivo. PNAS 1995;92:9363-9367) is scored by
counting stained and total cells in fields of view. In decidualizing
endometrial stromal cultures an excess of SA-β-gal-positive (senescent)
decidual cells marks a pro-senescent decidual response (Lucas ES, Vrljicak P,
Muter J, et al. Recurrent pregnancy loss is associated with a pro-senescent
decidual response during the peri-implantation window. Commun Biol
2020;3:37).

The interval is Clopper-Pearson's exact binomial interval (Clopper CJ,
Pearson ES. Biometrika 1934;26:404-413) from beta quantiles:
``low = Beta(a/2; x, n - x + 1)``, ``high = Beta(1 - a/2; x + 1, n - x)``,
with ``low = 0`` when ``x = 0`` and ``high = 1`` when ``x = n``. Pooling fields
sums the counts (cells are the sampling unit); the between-field spread is
reported separately, since fields are not independent binomial samples when
staining varies across a well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy.special import betaincinv

from decidua.errors import InputError, Problem
from decidua.stats import Interval

METHOD = "exact binomial (Clopper-Pearson)"


@dataclass(frozen=True)
class SABGalResult:
    """SA-β-gal % positive.

    Attributes
    ----------
    positive, total
        Counts of stained cells and of all cells (summed over fields).
    positive_pct
        Interval of the percentage positive (estimate ``100 x / n``), exact binomial.
    n_fields
        Fields pooled.
    field_pct
        Each field's % positive (NaN for a field with no cells).
    field_sd_pct
        SD of the fields' % positive (NaN with fewer than two fields).
    """

    positive: int
    total: int
    positive_pct: Interval
    n_fields: int = 1
    field_pct: tuple[float, ...] = ()
    field_sd_pct: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "positive": self.positive,
            "total": self.total,
            "positive_pct": self.positive_pct.to_dict(),
            "n_fields": self.n_fields,
            "field_pct": [None if math.isnan(v) else v for v in self.field_pct],
            "field_sd_pct": None if math.isnan(self.field_sd_pct) else self.field_sd_pct,
        }


def clopper_pearson(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence limits (proportions, 0-1) for ``x`` successes in ``n``."""
    alpha = 1.0 - level
    low = 0.0 if x == 0 else float(betaincinv(x, n - x + 1, alpha / 2))
    high = 1.0 if x == n else float(betaincinv(x + 1, n - x, 1 - alpha / 2))
    return low, high


def _check(positive: Any, total: Any, where: str | None) -> list[Problem]:
    problems = []
    prefix = f"{where}: " if where else ""
    for name, v in (("positive", positive), ("total", total)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v != int(v):
            problems.append(Problem(f"{prefix}{name} must be a whole number", column=name,
                                    value=v))
        elif v < 0:
            problems.append(Problem(f"{prefix}{name} must not be negative", column=name, value=v))
    if not problems and positive > total:
        problems.append(Problem(f"{prefix}positive cells exceed the total", column="positive",
                                value=positive))
    return problems


def sabgal_percent(positive: int, total: int, level: float = 0.95) -> SABGalResult:
    """% SA-β-gal-positive cells from one count, with an exact binomial interval.

    Raises
    ------
    InputError
        Negative or non-integer counts, positive > total, total = 0.
    """
    problems = _check(positive, total, None)
    if problems:
        raise InputError(problems)
    x, n = int(positive), int(total)
    if n == 0:
        raise InputError("no cells counted (total = 0)", column="total", value=total)
    lo, hi = clopper_pearson(x, n, level)
    iv = Interval(100.0 * x / n, 100.0 * lo, 100.0 * hi, level, METHOD)
    return SABGalResult(x, n, iv, 1, (100.0 * x / n,))


def sabgal_fields(
    positive: Sequence[int], total: Sequence[int], level: float = 0.95,
    fields: Sequence[str] | None = None,
) -> SABGalResult:
    """Pool per-field counts (sums) and give the exact interval plus the field-to-field SD.

    Raises
    ------
    InputError
        For every bad field (naming it), different lengths, or no cells at all.
    """
    if len(positive) != len(total):
        raise InputError("positive and total counts differ in length")
    if not positive:
        raise InputError("no fields given")
    names = list(fields) if fields is not None else [f"field {i + 1}" for i in range(len(total))]
    problems = [p for x, n, f in zip(positive, total, names, strict=True) for p in _check(x, n, f)]
    if problems:
        raise InputError(problems)
    xs, ns = [int(v) for v in positive], [int(v) for v in total]
    pooled = sabgal_percent(sum(xs), sum(ns), level)
    pct = [100.0 * x / n if n else float("nan") for x, n in zip(xs, ns, strict=True)]
    ok = [v for v in pct if not math.isnan(v)]
    sd = (
        math.sqrt(sum((v - sum(ok) / len(ok)) ** 2 for v in ok) / (len(ok) - 1))
        if len(ok) > 1 else float("nan")
    )
    return SABGalResult(pooled.positive, pooled.total, pooled.positive_pct, len(xs), tuple(pct), sd)


__all__ = ["METHOD", "SABGalResult", "clopper_pearson", "sabgal_fields", "sabgal_percent"]
