"""The interval type shared by every Decidua result (risk, timing, CFU, methylation, …).

An estimate is never reported without its uncertainty: results carry an
:class:`Interval` with the point estimate, the two limits, the level and the
method that produced them, so that a report can say exactly what the
interval means.

Examples
--------
>>> from decidua.stats import Interval
>>> iv = Interval(estimate=0.30, low=0.21, high=0.41, level=0.95, method="beta posterior")
>>> iv.contains(0.25)
True
>>> iv.to_dict()["high"]
0.41
>>> Interval.from_dict(iv.to_dict()) == iv
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval.

    Attributes
    ----------
    estimate
        The point estimate (mean, median or MLE: the producing function says which).
    low, high
        Lower and upper limits (``low <= estimate <= high`` where the estimate is finite).
    level
        Nominal coverage in 0-1 (e.g. 0.95).
    method
        How the limits were computed, in a few words (e.g. ``"exact Poisson (Garwood)"``).

    Examples
    --------
    >>> iv = Interval(estimate=2.0, low=1.5, high=3.0, level=0.9, method="Wald")
    >>> iv.width, iv.contains(3.5)
    (1.5, False)
    >>> iv.summary()
    {'estimate': 2.0, 'low': 1.5, 'high': 3.0, 'level': 0.9}
    >>> Interval(estimate=1.0, low=2.0, high=0.0)
    Traceback (most recent call last):
    ...
    ValueError: interval low 2.0 is above high 0.0
    """

    estimate: float
    low: float
    high: float
    level: float = 0.95
    method: str = ""

    def __post_init__(self) -> None:
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"interval level must be in (0, 1), got {self.level!r}")
        lo, hi = float(self.low), float(self.high)
        if not (math.isnan(lo) or math.isnan(hi)) and lo > hi:
            raise ValueError(f"interval low {lo!r} is above high {hi!r}")

    @property
    def width(self) -> float:
        """``high - low``."""
        return float(self.high) - float(self.low)

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the closed interval."""
        return float(self.low) <= float(value) <= float(self.high)

    def summary(self) -> dict[str, Any]:
        """estimate / low / high / level (the fitted-object ``summary()`` shape)."""
        return {
            "estimate": float(self.estimate),
            "low": float(self.low),
            "high": float(self.high),
            "level": float(self.level),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready)."""
        d = asdict(self)
        for key in ("estimate", "low", "high", "level"):
            d[key] = float(d[key])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interval:
        """Inverse of :meth:`to_dict`."""
        return cls(
            estimate=float(data["estimate"]),
            low=float(data["low"]),
            high=float(data["high"]),
            level=float(data.get("level", 0.95)),
            method=str(data.get("method", "")),
        )
