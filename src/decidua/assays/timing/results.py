"""Result objects of the timing method: a reference fit's per-biopsy estimates, a placement."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from decidua.assays.timing.constants import HOURS_PER_DAY, INTERVAL_LEVEL
from decidua.stats import Interval


@dataclass(frozen=True)
class TimingFitResult:
    """Per-biopsy estimates of a reference fit and how the iteration ended.

    Attributes
    ----------
    ids, batch, lh_day
        Biopsy identifiers, batches, reported LH+ day.
    pseudotime
        EndoTime's ``pLH``: ranks spread evenly over the LH range (days).
    estimated_lh_day, estimated_hours
        EndoTime's ``eLH`` and the same in hours after the LH surge.
    asynchrony_score, asynchronous
        SD (days) across genes of the per-gene density peaks; flag above threshold.
    asynchrony_threshold
        Threshold used for the flag (days).
    stop_reason
        ``"converged"``, ``"cap reached"`` or ``"oscillating"``.
    distances
        Euclidean distance between successive orderings, per iteration.

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> res = load_default_reference().result
    >>> res.stop_reason, res.iterations, len(res.ids)
    ('oscillating', 19, 257)
    >>> res.to_frame().columns[:4].tolist()
    ['ID', 'pseudotime', 'estimated_lh_day', 'estimated_hours']
    """

    ids: tuple[str, ...]
    batch: tuple[str, ...]
    lh_day: np.ndarray
    pseudotime: np.ndarray
    estimated_lh_day: np.ndarray
    asynchrony_score: np.ndarray
    asynchronous: np.ndarray
    asynchrony_threshold: float
    stop_reason: str
    distances: tuple[float, ...]

    @property
    def estimated_hours(self) -> np.ndarray:
        return self.estimated_lh_day * HOURS_PER_DAY

    @property
    def iterations(self) -> int:
        return len(self.distances)

    def to_frame(self) -> pd.DataFrame:
        """Table with the CLI's ``estimates.csv`` columns (plus BATCH and LH)."""
        return pd.DataFrame(
            {
                "ID": list(self.ids),
                "pseudotime": self.pseudotime,
                "estimated_lh_day": self.estimated_lh_day,
                "estimated_hours": self.estimated_hours,
                "asynchrony_score": self.asynchrony_score,
                "asynchronous": self.asynchronous.astype(bool),
                "BATCH": list(self.batch),
                "LH": self.lh_day,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stop_reason": self.stop_reason,
            "iterations": self.iterations,
            "distances": list(self.distances),
            "asynchrony_threshold": self.asynchrony_threshold,
            "n_biopsies": len(self.ids),
            "n_asynchronous": int(self.asynchronous.sum()),
        }


@dataclass(frozen=True)
class Placement:
    """New biopsies placed on a frozen reference.

    Attributes
    ----------
    ids
        Biopsy identifiers.
    pseudotime, estimated_lh_day
        Point estimates (days).
    interval_low, interval_high
        Nominal ``INTERVAL_LEVEL`` interval of the estimated LH day (days); calibrated
        on held-out batches when the reference carries a calibration.
    asynchrony_score, asynchronous
        As in the fit, against the reference threshold.
    out_of_phase_probability
        Probability that the reference would put the biopsy further from its
        reported LH day than the cohort's ``OUT_OF_PHASE_QUANTILE`` of |eLH − LH|
        (NaN when no LH day was given): the density mass beyond that distance,
        Platt-calibrated on held-out batches when the reference carries the map
        (``out_of_phase_calibrated``), else the raw mass.
    batch_shift_source
        Per biopsy: ``"reference"``, ``"new batch"`` or ``"unknown (no shift)"``.
    warnings
        Human-readable warnings (e.g. small unknown batch).
    interval_calibrated
        Whether the interval comes from a calibrated reference (see
        :meth:`TimingReference.calibrate`).
    out_of_phase_calibrated
        Whether the out-of-phase probability is Platt-calibrated.

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference, load_endotime_training_data
    >>> p = load_default_reference().place(load_endotime_training_data().iloc[:1])
    >>> iv = p.intervals[0]
    >>> iv.level, iv.low <= iv.estimate <= iv.high, p.interval_calibrated
    (0.95, True, True)
    >>> sorted(p.to_dict()["biopsies"][0])[:4]
    ['ID', 'asynchronous', 'asynchrony_score', 'batch_shift']
    """

    ids: tuple[str, ...]
    lh_day: np.ndarray
    pseudotime: np.ndarray
    estimated_lh_day: np.ndarray
    interval_low: np.ndarray
    interval_high: np.ndarray
    asynchrony_score: np.ndarray
    asynchronous: np.ndarray
    out_of_phase_probability: np.ndarray
    batch_shift_source: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    interval_calibrated: bool = False
    out_of_phase_calibrated: bool = False

    @property
    def estimated_hours(self) -> np.ndarray:
        return self.estimated_lh_day * HOURS_PER_DAY

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """Per biopsy: estimated LH day with its ``INTERVAL_LEVEL`` interval."""
        method = (
            "central density mass, calibrated by leave-one-batch-out"
            if self.interval_calibrated
            else "central density mass (uncalibrated)"
        )
        return tuple(
            Interval(float(e), float(lo), float(hi), level=INTERVAL_LEVEL, method=method)
            for e, lo, hi in zip(
                self.estimated_lh_day, self.interval_low, self.interval_high, strict=True
            )
        )

    def summary(self) -> list[dict[str, Any]]:
        """Per biopsy: ``ID`` and the estimated LH day as estimate / low / high / level."""
        return [
            {"ID": bid, **iv.summary()} for bid, iv in zip(self.ids, self.intervals, strict=True)
        ]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "ID": list(self.ids),
                "LH": self.lh_day,
                "pseudotime": self.pseudotime,
                "estimated_lh_day": self.estimated_lh_day,
                "estimated_hours": self.estimated_hours,
                "interval_low": self.interval_low,
                "interval_high": self.interval_high,
                "asynchrony_score": self.asynchrony_score,
                "asynchronous": self.asynchronous.astype(bool),
                "out_of_phase_probability": self.out_of_phase_probability,
                "batch_shift_source": list(self.batch_shift_source),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"biopsies": [...], "warnings": [...]}``."""
        rows = []
        for i, bid in enumerate(self.ids):
            oop = float(self.out_of_phase_probability[i])
            rows.append(
                {
                    "ID": bid,
                    "estimated_lh_day": round(float(self.estimated_lh_day[i]), 4),
                    "estimated_hours": round(float(self.estimated_hours[i]), 2),
                    "interval": [
                        round(float(self.interval_low[i]), 4),
                        round(float(self.interval_high[i]), 4),
                    ],
                    "asynchrony_score": round(float(self.asynchrony_score[i]), 4),
                    "asynchronous": bool(self.asynchronous[i]),
                    "interval_level": INTERVAL_LEVEL,
                    "interval_calibrated": self.interval_calibrated,
                    "out_of_phase_probability": None if math.isnan(oop) else round(oop, 4),
                    "out_of_phase_calibrated": self.out_of_phase_calibrated,
                    "batch_shift": self.batch_shift_source[i],
                }
            )
        return {"biopsies": rows, "warnings": list(self.warnings)}


# --------------------------------------------------------------------------------------
