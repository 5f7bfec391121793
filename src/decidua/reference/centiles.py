"""Reference centiles of a per-biopsy marker by cycle day (what "usual" is for that day).

Two kinds of reference, each recorded with its source, population and counting
protocol (:class:`ReferenceInfo`), never compared across protocols:

- :class:`DayCentiles` — fitted from data (a clinic's stored results, or a
  public training set): a location-scale model by day with an empirical
  distribution of the standardised residuals (semi-parametric centiles). The
  mean is quadratic in day and the variance linear in day (both least squares,
  variance floored), so the shape of the distribution (skew, heavy tails) comes
  from the data rather than from a normal assumption. Values may be modelled on
  a log or logit scale (CFU %, uNK %). This is the shape of Warwick's public
  CentileGraph (centiles by LH day per marker), with our own estimator.
- :class:`RangeReference` — a published range valid only on some days and
  under one protocol (uNK % at LH+7-9 by Tuckerman et al. 2007): a value is
  below, within or above the range; no centile is claimed.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> day = rng.integers(5, 13, 400).astype(float)
>>> value = 10 - 0.8 * day + rng.normal(0, 1, 400)
>>> ref = DayCentiles(ReferenceInfo("X", "test", "synthetic", "none")).fit(day, value)
>>> round(float(ref.centile([8.0], [10 - 6.4])[0]), 1)
0.5
>>> DayCentiles.from_dict(ref.to_dict()).centile([8.0], [3.6]).round(3).tolist() == \\
...     ref.centile([8.0], [3.6]).round(3).tolist()
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decidua.errors import InputError, ModelError

#: Format of a saved :class:`DayCentiles` (bump on change; keep a reader for old ones).
FORMAT_VERSION = 1
#: Fewest reference values a fit accepts (our choice: below this the tails are guesses).
MIN_REFERENCE_VALUES = 30
#: Variance floor, as a share of the overall residual variance (our choice: keeps the
#: linear variance model positive at days with few values).
VARIANCE_FLOOR_SHARE = 0.05
#: Scales a value may be modelled on.
TRANSFORMS = ("identity", "log", "logit")
#: Offset added before log / logit of a percentage (our choice: 0 % stays finite).
PCT_OFFSET = 0.05


@dataclass(frozen=True)
class ReferenceInfo:
    """What a reference is: marker, source, population, protocol and what "day" means.

    Attributes
    ----------
    marker
        Marker name (``"IGFBP1"``, ``"unk_pct"``, ``"cfu_pct"``).
    source
        Where the values come from (paper, data set, ``"clinic fit"``).
    population
        Who the reference women are (``"clinic population (RPL clinic patients)"``).
    protocol
        Measurement / counting protocol; values under another protocol are not compared.
    time_basis
        ``"lh_day"`` (reported LH+ day) or ``"estimated_lh_day"`` (timing placement).
    label
        Short label printed beside a centile (e.g. ``"clinic-population centile"``).
    """

    marker: str
    source: str
    population: str
    protocol: str
    time_basis: str = "lh_day"
    label: str = "clinic-population centile"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DayCentileParams:
    """Fitted state of :class:`DayCentiles` (public, typed)."""

    transform: str
    mean_coef: tuple[float, ...]      # quadratic in day, highest power first
    var_coef: tuple[float, ...]       # linear in day, highest power first
    var_floor: float
    residuals: tuple[float, ...]      # sorted standardised residuals
    day_min: float
    day_max: float
    n: int


def _forward(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "identity":
        return values
    if transform == "log":
        return np.log(values + PCT_OFFSET)
    p = (values + PCT_OFFSET) / (100.0 + 2 * PCT_OFFSET)
    return np.log(p / (1 - p))


def _inverse(values: np.ndarray, transform: str) -> np.ndarray:
    """Inverse of :func:`_forward`."""
    if transform == "identity":
        return values
    if transform == "log":
        return np.exp(values) - PCT_OFFSET
    return (100.0 + 2 * PCT_OFFSET) / (1 + np.exp(-values)) - PCT_OFFSET


class DayCentiles:
    """Centiles of a marker by cycle day, fitted from reference values.

    Parameters
    ----------
    info
        What the reference is (recorded with every centile it gives).
    transform
        ``"identity"`` (ΔCq), ``"log"`` (CFU %) or ``"logit"`` (a percentage of cells).
    """

    def __init__(self, info: ReferenceInfo, transform: str = "identity") -> None:
        if transform not in TRANSFORMS:
            raise InputError(f"unknown transform {transform!r}; choose from {TRANSFORMS}")
        self.info = info
        self.transform = transform
        self.params: DayCentileParams | None = None
        self._version: str | None = None
        self._arrays: tuple[np.ndarray, ...] | None = None

    def fit(self, day: Iterable[float], value: Iterable[float]) -> DayCentiles:
        """Fit on reference (day, value) pairs; non-finite pairs are dropped.

        Raises
        ------
        ModelError
            Fewer than :data:`MIN_REFERENCE_VALUES` values, or fewer than 3 distinct days.
        """
        t = np.asarray(list(day), float)
        x = np.asarray(list(value), float)
        if t.shape != x.shape:
            raise InputError("day and value must have the same length")
        ok = np.isfinite(t) & np.isfinite(x)
        t, x = t[ok], x[ok]
        if len(t) < MIN_REFERENCE_VALUES:
            raise ModelError(f"{self.info.marker}: {len(t)} reference values; at least "
                             f"{MIN_REFERENCE_VALUES} are needed for centiles")
        if len(np.unique(t)) < 3:
            raise ModelError(f"{self.info.marker}: reference values on fewer than 3 days")
        y = _forward(x, self.transform)
        mean_coef = np.linalg.lstsq(np.vander(t, 3), y, rcond=None)[0]
        resid = y - np.vander(t, 3) @ mean_coef
        var_coef = np.linalg.lstsq(np.vander(t, 2), resid**2, rcond=None)[0]
        floor = float(VARIANCE_FLOOR_SHARE * np.mean(resid**2)) or 1e-12
        var = np.maximum(np.vander(t, 2) @ var_coef, floor)
        z = np.sort(resid / np.sqrt(var))
        self.params = DayCentileParams(
            self.transform, tuple(float(c) for c in mean_coef),
            tuple(float(c) for c in var_coef), floor, tuple(float(v) for v in z),
            float(t.min()), float(t.max()), int(len(t)))
        self._version = self._arrays = None
        return self

    def _req(self) -> DayCentileParams:
        if self.params is None:
            raise ModelError(f"{self.info.marker}: the centile reference is not fitted")
        return self.params

    def _fitted_arrays(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            p = self._req()
            pos = (np.arange(1, p.n + 1) - 0.5) / p.n
            self._arrays = (np.asarray(p.mean_coef), np.asarray(p.var_coef),
                            np.asarray(p.residuals), pos)
        return self._arrays

    def _z(self, day: np.ndarray, value: np.ndarray) -> np.ndarray:
        p = self._req()
        mean_coef, var_coef, _, _ = self._fitted_arrays()
        t = np.clip(day, p.day_min, p.day_max)
        y = _forward(value, p.transform)
        mu = np.vander(t, 3) @ mean_coef
        var = np.maximum(np.vander(t, 2) @ var_coef, p.var_floor)
        return (y - mu) / np.sqrt(var)

    def centile(self, day: Iterable[float] | float, value: Iterable[float] | float) -> np.ndarray:
        """Centile (0-1) of each value on its day (days outside the fit are clipped to it).

        The empirical CDF of the reference's standardised residuals (Hazen plotting
        positions, linear between them); beyond the extremes half a position.
        """
        p = self._req()
        t = np.atleast_1d(np.asarray(day, float))
        x = np.atleast_1d(np.asarray(value, float))
        z = self._z(t, x)
        n = p.n
        _, _, residuals, pos = self._fitted_arrays()
        return np.interp(z, residuals, pos, left=0.25 / n, right=1 - 0.25 / n)

    def value_at(self, day: Iterable[float] | float, centile: float) -> np.ndarray:
        """The value at ``centile`` (0-1) on each day: the inverse of :meth:`centile`
        (for a centile chart's lines).

        The quantile of the reference's standardised residuals (Hazen positions, linear
        between them; beyond the extreme positions the extreme residual: no tail is
        extrapolated), scaled by the day's mean and SD, back on the value's scale.
        Days outside the fit are clipped to it, as in :meth:`centile`.

        Raises
        ------
        InputError
            ``centile`` not strictly between 0 and 1.
        """
        if not 0.0 < float(centile) < 1.0:
            raise InputError("centile must be strictly between 0 and 1", column="centile",
                             value=centile)
        p = self._req()
        mean_coef, var_coef, residuals, pos = self._fitted_arrays()
        t = np.clip(np.atleast_1d(np.asarray(day, float)), p.day_min, p.day_max)
        z = float(np.interp(float(centile), pos, residuals))
        y = np.vander(t, 3) @ mean_coef + z * np.sqrt(
            np.maximum(np.vander(t, 2) @ var_coef, p.var_floor))
        return _inverse(y, p.transform)

    def in_range(self, day: float) -> bool:
        """Whether the day lies within the days the reference was fitted on."""
        p = self._req()
        return p.day_min <= day <= p.day_max

    @property
    def version(self) -> str:
        """``<marker> sha256:<12 hex>`` of the saved form (changes with any refit)."""
        if self._version is None:
            blob = json.dumps(self.to_dict(), sort_keys=True).encode()
            self._version = f"{self.info.marker} sha256:{hashlib.sha256(blob).hexdigest()[:12]}"
        return self._version

    def summary(self) -> dict[str, Any]:
        """Fitted size and day range with the reference's description."""
        p = self._req()
        return {**self.info.to_dict(), "n": p.n, "day_min": p.day_min, "day_max": p.day_max,
                "transform": p.transform}

    def to_dict(self) -> dict[str, Any]:
        p = self._req()
        return {"format_version": FORMAT_VERSION, "kind": "day_centiles",
                "info": self.info.to_dict(), "params": {
                    **asdict(p), "mean_coef": list(p.mean_coef), "var_coef": list(p.var_coef),
                    "residuals": list(p.residuals)}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayCentiles:
        if d.get("format_version") != FORMAT_VERSION or d.get("kind") != "day_centiles":
            raise ModelError(f"unsupported centile reference format "
                             f"{d.get('kind')!r} version {d.get('format_version')!r}")
        p = d["params"]
        ref = cls(ReferenceInfo(**d["info"]), p["transform"])
        ref.params = DayCentileParams(
            p["transform"], tuple(p["mean_coef"]), tuple(p["var_coef"]), float(p["var_floor"]),
            tuple(p["residuals"]), float(p["day_min"]), float(p["day_max"]), int(p["n"]))
        return ref

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))
        return out

    @classmethod
    def load(cls, path: str | Path) -> DayCentiles:
        p = Path(path)
        if not p.exists():
            raise InputError("centile reference not found", file=str(p))
        return cls.from_dict(json.loads(p.read_text()))


@dataclass(frozen=True)
class RangeReference:
    """A published reference range, valid on some days and under one protocol only.

    Examples
    --------
    >>> r = RangeReference(ReferenceInfo("unk_pct", "s", "p", "CD56 IHC"), 2.2, 13.9, 7, 9)
    >>> r.classify(8, 15.0), r.classify(8, 5.0), r.classify(11, 5.0)
    ('high', None, 'day outside LH+7-9')
    """

    info: ReferenceInfo
    low: float
    high: float
    day_min: int
    day_max: int

    @property
    def version(self) -> str:
        return (f"{self.info.marker} range {self.low:g}-{self.high:g} "
                f"LH+{self.day_min}-{self.day_max}")

    def classify(self, day: float | None, value: float) -> str | None:
        """``"low"``, ``"high"``, ``None`` (within), or a reason the range does not apply."""
        if day is None or not self.day_min <= day <= self.day_max:
            return f"day outside LH+{self.day_min}-{self.day_max}"
        if value > self.high:
            return "high"
        if value < self.low:
            return "low"
        return None
