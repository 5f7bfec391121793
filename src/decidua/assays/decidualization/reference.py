"""A clinic's decidualization reference (centiles by culture day) and the response class.

No published per-day reference values exist for PRL / IGFBP1 fold change in
cAMP + MPA cultures, and culture protocols differ between laboratories, so
Decidua ships none: a reference is **fitted from a clinic's own stored
cultures** (those it takes as reference, e.g. control women), one per biopsy.

Model (per marker and culture day ``t > 0``): the log fold change over day 0
across reference cultures is taken as normal with mean ``m`` and SD ``s`` from
``n`` cultures; a new culture's centile on that day is the Student-t
predictive probability ``T_{n-1}((log FC - m) / (s sqrt(1 + 1/n)))``, which
widens the band for a small reference. The band drawn and stored for a day is
the predictive ``lower``-``upper`` centile range (default 10th-90th) on the
fold-change scale (:class:`~decidua.stats.Interval`).

Response class of a culture: the median of its centiles over every
(marker, day) the reference covers; **blunted** below ``lower``, **excessive**
above ``upper``, **normal** otherwise; each marker also gets its own class
from the median over its days. The thresholds are the clinic's choice
(defaults 0.10 / 0.90), recorded with the call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from decidua.assays.decidualization.course import CultureCourse
from decidua.errors import InputError, ModelError
from decidua.stats import Interval

FORMAT_VERSION = 1
MIN_CULTURES = 3
CLASSES = ("blunted", "normal", "excessive")


@dataclass(frozen=True)
class DayReference:
    """The reference distribution of log fold change of one marker on one day."""

    marker: str
    day: float
    n: int
    mean_log_fold: float
    sd_log_fold: float

    def centile(self, fold: float) -> float:
        """Predictive centile (0-1) of a fold change on this day."""
        if not fold > 0:
            return 0.0
        scale = self.sd_log_fold * math.sqrt(1.0 + 1.0 / self.n)
        return float(sps.t.cdf((math.log(fold) - self.mean_log_fold) / scale, self.n - 1))

    def quantile(self, p: float) -> float:
        """Fold change at predictive centile ``p``."""
        scale = self.sd_log_fold * math.sqrt(1.0 + 1.0 / self.n)
        return float(math.exp(self.mean_log_fold + scale * sps.t.ppf(p, self.n - 1)))


@dataclass(frozen=True)
class MarkerCall:
    """One marker's class in one culture."""

    marker: str
    response_class: str
    median_centile: float
    day_centiles: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"marker": self.marker, "response_class": self.response_class,
                "median_centile": self.median_centile,
                "day_centiles": [{"day": d, "centile": c} for d, c in self.day_centiles]}


@dataclass(frozen=True)
class ResponseCall:
    """A culture's response class against a reference.

    Attributes
    ----------
    culture
        Culture (biopsy code).
    response_class
        ``normal``, ``blunted`` or ``excessive``.
    median_centile
        Median centile over every (marker, day) the reference covers.
    markers
        Each marker's own class.
    lower, upper
        The centile thresholds used.
    reference_version
        Label of the reference (who fitted it, from what).
    """

    culture: str
    response_class: str
    median_centile: float
    markers: tuple[MarkerCall, ...]
    lower: float
    upper: float
    reference_version: str

    def to_dict(self) -> dict[str, Any]:
        return {"culture": self.culture, "response_class": self.response_class,
                "median_centile": self.median_centile,
                "markers": [m.to_dict() for m in self.markers], "lower": self.lower,
                "upper": self.upper, "reference_version": self.reference_version}


def _classify(c: float, lower: float, upper: float) -> str:
    if c < lower:
        return "blunted"
    if c > upper:
        return "excessive"
    return "normal"


class DecidualizationReference:
    """Centiles of log fold change by marker and culture day, fitted from reference cultures.

    Examples
    --------
    >>> from decidua.assays.decidualization.synthetic import synthetic_cultures
    >>> from decidua.assays.decidualization import time_courses
    >>> ref_df, _ = synthetic_cultures(40, seed=1, class_probs=(0, 1, 0))
    >>> ref = DecidualizationReference(version="demo").fit(time_courses(ref_df))
    >>> sorted(ref.markers), ref.days("PRL")
    (['IGFBP1', 'PRL'], (2.0, 4.0, 8.0))
    """

    def __init__(self, *, lower: float = 0.10, upper: float = 0.90, version: str = "") -> None:
        if not 0.0 < lower < upper < 1.0:
            raise InputError(f"centile thresholds must satisfy 0 < lower < upper < 1 "
                             f"(got {lower}, {upper})")
        self.lower = float(lower)
        self.upper = float(upper)
        self.version = version
        self.days_ref: dict[tuple[str, float], DayReference] = {}
        self.n_cultures = 0

    @property
    def markers(self) -> tuple[str, ...]:
        return tuple(sorted({m for m, _ in self.days_ref}))

    def days(self, marker: str) -> tuple[float, ...]:
        return tuple(sorted(d for m, d in self.days_ref if m == marker))

    def fit(self, cultures: Iterable[CultureCourse]) -> DecidualizationReference:
        """Fit from reference cultures (one per biopsy).

        Raises
        ------
        ModelError
            A (marker, day) seen in fewer than 3 cultures (no SD), or zero spread.
        """
        logs: dict[tuple[str, float], list[float]] = {}
        cultures = list(cultures)
        for c in cultures:
            for mc in c.markers:
                for d, f in zip(mc.days, mc.fold_change, strict=True):
                    if d > 0 and f > 0:
                        logs.setdefault((mc.marker, d), []).append(math.log(f))
        if not logs:
            raise ModelError("no post-day-0 fold changes to fit a decidualization reference from")
        fitted = {}
        for key, vals in sorted(logs.items()):
            if len(vals) < MIN_CULTURES:
                continue
            arr = np.asarray(vals)
            sd = float(arr.std(ddof=1))
            if not sd > 0:
                raise ModelError(f"marker {key[0]} day {key[1]:g}: all {len(vals)} reference "
                                 "cultures have the same fold change (no spread)")
            fitted[key] = DayReference(key[0], key[1], len(vals), float(arr.mean()), sd)
        if not fitted:
            raise ModelError(f"no marker and day seen in at least {MIN_CULTURES} reference "
                             "cultures")
        self.days_ref = fitted
        self.n_cultures = len(cultures)
        return self

    def _require(self) -> None:
        if not self.days_ref:
            raise ModelError("decidualization reference is not fitted")

    def day_reference(self, marker: str, day: float) -> DayReference:
        self._require()
        try:
            return self.days_ref[(marker, float(day))]
        except KeyError:
            raise ModelError(f"the reference has no marker {marker!r} on day {day:g}") from None

    def centile(self, marker: str, day: float, fold: float) -> float:
        """Predictive centile (0-1) of a fold change."""
        return self.day_reference(marker, day).centile(fold)

    def band(self, marker: str, day: float) -> Interval:
        """The reference band (fold change) on a day: median and lower-upper centiles."""
        r = self.day_reference(marker, day)
        return Interval(estimate=r.quantile(0.5), low=r.quantile(self.lower),
                        high=r.quantile(self.upper), level=self.upper - self.lower,
                        method=f"Student-t predictive on log fold change, n={r.n}")

    def classify(self, culture: CultureCourse,
                 markers: Sequence[str] | None = None) -> ResponseCall:
        """Class one culture (markers default: every marker the reference and culture share).

        Raises
        ------
        ModelError
            No (marker, day) of the culture is covered by the reference.
        """
        self._require()
        calls = []
        allc: list[float] = []
        for mc in culture.markers:
            if markers is not None and mc.marker not in markers:
                continue
            dc = [(d, self.days_ref[(mc.marker, d)].centile(f))
                  for d, f in zip(mc.days, mc.fold_change, strict=True)
                  if (mc.marker, d) in self.days_ref]
            if not dc:
                continue
            med = float(np.median([c for _, c in dc]))
            calls.append(MarkerCall(mc.marker, _classify(med, self.lower, self.upper), med,
                                    tuple(dc)))
            allc.extend(c for _, c in dc)
        if not allc:
            raise ModelError(f"culture {culture.culture!r}: none of its markers and days is "
                             f"covered by the reference ({', '.join(self.markers)})")
        med = float(np.median(allc))
        return ResponseCall(culture=culture.culture,
                            response_class=_classify(med, self.lower, self.upper),
                            median_centile=med, markers=tuple(calls), lower=self.lower,
                            upper=self.upper, reference_version=self.version)

    # persistence
    def to_dict(self) -> dict[str, Any]:
        self._require()
        return {"format_version": FORMAT_VERSION, "kind": "decidualization_reference",
                "version": self.version, "lower": self.lower, "upper": self.upper,
                "n_cultures": self.n_cultures,
                "days": [{"marker": r.marker, "day": r.day, "n": r.n,
                          "mean_log_fold": r.mean_log_fold, "sd_log_fold": r.sd_log_fold}
                         for r in self.days_ref.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecidualizationReference:
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"decidualization reference format {data.get('format_version')!r} "
                             f"is not {FORMAT_VERSION}")
        ref = cls(lower=data["lower"], upper=data["upper"], version=data.get("version", ""))
        ref.n_cultures = int(data.get("n_cultures", 0))
        ref.days_ref = {(d["marker"], float(d["day"])): DayReference(
            d["marker"], float(d["day"]), int(d["n"]), float(d["mean_log_fold"]),
            float(d["sd_log_fold"])) for d in data["days"]}
        return ref

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> DecidualizationReference:
        """Read a reference written by :meth:`save`."""
        p = Path(path)
        if not p.exists():
            raise InputError("decidualization reference not found", file=str(p))
        return cls.from_dict(json.loads(p.read_text()))
