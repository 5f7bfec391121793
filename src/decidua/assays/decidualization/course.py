"""One decidualization culture: fold change over day 0, AUC, time to half-maximal response.

A culture is one biopsy's stromal cells treated with cAMP + MPA and sampled on
several days (day 0 = before treatment). For each marker:

- **fold change** over day 0. ELISA concentrations (``scale="concentration"``):
  ``FC(t) = C(t) / C(0)`` with replicate wells averaged first (arithmetic mean).
  qPCR (``scale="delta_cq"``, ΔCq against a reference gene): ``FC(t) =
  2 ** -(ΔCq(t) - ΔCq(0))`` (the 2^-ΔΔCq method, Livak KJ, Schmittgen TD.
  Methods 2001;25:402-408; replicate ΔCq averaged first).
- **area under the curve** of the fold change against culture day by the
  trapezoid rule from day 0 to the last sampled day, in fold x days
  (``auc_fold_days``). A culture that does not respond (FC = 1 throughout) has
  AUC = last day; compare AUCs only between cultures sampled on the same days.
- **time to half-maximal response** ``t_half_max_days``: the first time the
  response ``FC - 1`` reaches half its maximum over the sampled days, linearly
  interpolated between the two sampled days that bracket it; NaN when the
  fold change never rises above 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decidua.errors import InputError, Problem

SCALES = ("concentration", "delta_cq")
REQUIRED_COLUMNS = ("culture", "marker", "day", "value")


@dataclass(frozen=True)
class MarkerCourse:
    """One marker in one culture.

    Attributes
    ----------
    culture, marker
        Culture (biopsy code) and marker (e.g. ``PRL``).
    scale
        ``concentration`` (ELISA) or ``delta_cq`` (qPCR).
    days
        Sampled culture days, ascending, day 0 first.
    values
        Replicate mean per day (concentration or ΔCq as given).
    n_replicates
        Replicates averaged per day.
    fold_change
        Fold change over day 0 per day (1.0 on day 0).
    auc_fold_days
        Trapezoid area under the fold-change curve from day 0 to the last day.
    peak_fold, peak_day
        Largest fold change and the day it was seen.
    t_half_max_days
        Time to half-maximal response (NaN when there is no rise).
    """

    culture: str
    marker: str
    scale: str
    days: tuple[float, ...]
    values: tuple[float, ...]
    n_replicates: tuple[int, ...]
    fold_change: tuple[float, ...]
    auc_fold_days: float
    peak_fold: float
    peak_day: float
    t_half_max_days: float

    def fold_at(self, day: float) -> float:
        """Fold change on a sampled day (KeyError if that day was not sampled)."""
        for d, f in zip(self.days, self.fold_change, strict=True):
            if d == day:
                return f
        raise KeyError(f"culture {self.culture!r} marker {self.marker!r}: day {day} not sampled")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None)."""
        def num(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {"culture": self.culture, "marker": self.marker, "scale": self.scale,
                "days": list(self.days), "values": list(self.values),
                "n_replicates": list(self.n_replicates),
                "fold_change": list(self.fold_change), "auc_fold_days": self.auc_fold_days,
                "peak_fold": self.peak_fold, "peak_day": self.peak_day,
                "t_half_max_days": num(self.t_half_max_days)}


@dataclass(frozen=True)
class CultureCourse:
    """Every marker of one culture."""

    culture: str
    markers: tuple[MarkerCourse, ...] = field(default_factory=tuple)

    def marker(self, name: str) -> MarkerCourse:
        """The course of one marker (KeyError if absent)."""
        for mc in self.markers:
            if mc.marker == name:
                return mc
        raise KeyError(f"culture {self.culture!r} has no marker {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"culture": self.culture, "markers": [m.to_dict() for m in self.markers]}


def _half_max_time(days: np.ndarray, fold: np.ndarray) -> float:
    resp = fold - 1.0
    top = float(resp.max())
    if not top > 0:
        return math.nan
    half = top / 2.0
    i = int(np.argmax(resp >= half))
    if i == 0:
        return float(days[0])
    d0, d1, r0, r1 = days[i - 1], days[i], resp[i - 1], resp[i]
    return float(d0 + (half - r0) * (d1 - d0) / (r1 - r0))


def marker_course(
    days: Sequence[float],
    values: Sequence[float],
    *,
    culture: str = "",
    marker: str = "",
    scale: str = "concentration",
) -> MarkerCourse:
    """Summarise one marker's time course (replicates: repeat the day).

    Parameters
    ----------
    days, values
        Culture day and measured value, one pair per replicate; day 0 must be present.
    scale
        ``concentration`` (positive, e.g. ng/mL) or ``delta_cq``.

    Raises
    ------
    InputError
        Unknown scale, no day 0, a negative day, a non-finite value, a
        concentration <= 0 on day 0 or < 0 on any day.

    Examples
    --------
    >>> mc = marker_course([0, 2, 4, 8], [10, 20, 40, 50], marker="PRL")
    >>> mc.fold_change, mc.auc_fold_days, mc.t_half_max_days
    ((1.0, 2.0, 4.0, 5.0), 27.0, 3.0)
    """
    where = f"culture {culture!r} marker {marker!r}"
    if scale not in SCALES:
        raise InputError(f"{where}: unknown scale {scale!r}; choose from {', '.join(SCALES)}",
                         column="scale", value=scale)
    d = np.asarray(days, dtype=float)
    v = np.asarray(values, dtype=float)
    if d.shape != v.shape or d.ndim != 1 or d.size == 0:
        raise InputError(f"{where}: days and values must be two equal, non-empty sequences")
    problems = []
    for di, vi in zip(d, v, strict=True):
        if not math.isfinite(di) or di < 0:
            problems.append(Problem(f"{where}: day must be a number >= 0", column="day",
                                    value=float(di)))
        if not math.isfinite(vi):
            problems.append(Problem(f"{where}: value on day {di:g} is not a number",
                                    column="value", value=float(vi)))
        elif scale == "concentration" and vi < 0:
            problems.append(Problem(f"{where}: negative concentration on day {di:g}",
                                    column="value", value=float(vi)))
    if problems:
        raise InputError(problems)
    uniq = np.unique(d)
    if uniq[0] != 0:
        raise InputError(f"{where}: no day-0 (untreated) measurement to take fold changes from",
                         column="day")
    means = np.array([v[d == u].mean() for u in uniq])
    counts = tuple(int((d == u).sum()) for u in uniq)
    if scale == "concentration":
        if not means[0] > 0:
            raise InputError(f"{where}: day-0 concentration is {means[0]:g}; a fold change "
                             "needs a positive baseline", column="value", value=float(means[0]))
        fold = means / means[0]
    else:
        fold = 2.0 ** -(means - means[0])
    auc = float(np.sum((fold[1:] + fold[:-1]) * np.diff(uniq)) / 2.0) if uniq.size > 1 else 0.0
    k = int(np.argmax(fold))
    return MarkerCourse(
        culture=culture, marker=marker, scale=scale, days=tuple(float(x) for x in uniq),
        values=tuple(float(x) for x in means), n_replicates=counts,
        fold_change=tuple(float(x) for x in fold), auc_fold_days=auc,
        peak_fold=float(fold[k]), peak_day=float(uniq[k]),
        t_half_max_days=_half_max_time(uniq, fold))


def time_courses(frame: Any) -> tuple[CultureCourse, ...]:
    """Summarise every culture in a long table.

    Parameters
    ----------
    frame
        pandas DataFrame with columns ``culture, marker, day, value`` and
        optionally ``scale`` (``concentration`` by default); one row per replicate.

    Returns
    -------
    One :class:`CultureCourse` per culture, sorted by culture then marker.

    Raises
    ------
    InputError
        Missing columns; a marker given on two scales in one culture; any
        problem :func:`marker_course` refuses (all reported, with the row).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"time course table needs the columns {', '.join(REQUIRED_COLUMNS)} "
                         f"(missing: {', '.join(missing)})")
    import pandas as pd

    df = frame.copy()
    file_rows = frame.attrs.get("rows")
    bad = []
    for col in ("day", "value"):
        num = pd.to_numeric(df[col], errors="coerce")
        for i in [int(k) for k in (num.isna() & df[col].notna()).to_numpy().nonzero()[0]]:
            row = file_rows[i] if file_rows and i < len(file_rows) else i + 1
            bad.append(Problem(f"{col} is not a number", row=row, column=col,
                               value=df[col].iloc[i]))
        df[col] = num
    if bad:
        raise InputError(bad)
    if "scale" not in df.columns:
        df["scale"] = "concentration"
    df["culture"] = df["culture"].astype(str)
    df["marker"] = df["marker"].astype(str)
    out = []
    problems: list[Problem] = []
    for culture, cdf in df.groupby("culture", sort=True):
        courses = []
        for marker, mdf in cdf.groupby("marker", sort=True):
            scales = sorted(set(mdf["scale"]))
            if len(scales) != 1:
                problems.append(Problem(f"culture {culture!r} marker {marker!r} is given on "
                                        f"two scales ({', '.join(map(str, scales))})",
                                        column="scale"))
                continue
            try:
                courses.append(marker_course(
                    mdf["day"].to_numpy(dtype=float), mdf["value"].to_numpy(dtype=float),
                    culture=str(culture), marker=str(marker), scale=str(scales[0])))
            except InputError as exc:
                problems.extend(exc.problems)
        out.append(CultureCourse(culture=str(culture), markers=tuple(courses)))
    if problems:
        raise InputError(problems)
    return tuple(out)
