"""Leave-one-batch-out calibration of a reference's placement interval and out-of-phase
probability (split-conformal mass levels; Platt map), and the held-out scores they use.

The generic statistics (conformal quantile, Platt scaling, reliability) are in
:mod:`decidua.stats.calibration`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from decidua.assays.timing.constants import (
    CALIBRATION_LEVELS,
    CALIBRATION_STEP,
    HOURS_PER_DAY,
    INTERVAL_LEVEL,
    OUT_OF_PHASE_LOGIT_EPS,
)
from decidua.assays.timing.validation import _validate_arrays, validate_timing_table
from decidua.errors import ModelError
from decidua.stats.calibration import (
    KeyAccess,
    Reliability,
    platt_apply,
    platt_fit,
    reliability,
)
from decidua.stats.calibration import conformal_quantile as _conformal_mass

if TYPE_CHECKING:
    from decidua.assays.timing.reference import TimingReference


@dataclass(frozen=True)
class OutOfPhaseCalibration(KeyAccess):
    """Platt map of the out-of-phase probability with its raw and cross-validated reliability.

    Attributes
    ----------
    coef
        ``(a, b)`` of :func:`~decidua.stats.calibration.platt_fit` on all held-out masses.
    logit_eps
        Clip of the raw mass before the logit.
    raw, cross_validated
        Reliability of the raw held-out masses and of the map fitted on the other folds.
    method, target
        What was fitted, against what.

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> oop = load_default_reference().calibration.out_of_phase
    >>> len(oop.coef), oop.cross_validated.n, oop.cross_validated.ece < oop.raw.ece
    (2, 257, True)
    """

    method: str
    target: str
    coef: tuple[float, float]
    logit_eps: float
    raw: Reliability
    cross_validated: Reliability

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "target": self.target,
            "coef": list(self.coef),
            "logit_eps": self.logit_eps,
            "raw": self.raw.to_dict(),
            "cross_validated": self.cross_validated.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OutOfPhaseCalibration:
        a, b = d["coef"]
        return cls(
            method=d["method"],
            target=d["target"],
            coef=(a, b),
            logit_eps=d["logit_eps"],
            raw=Reliability.from_dict(d["raw"]),
            cross_validated=Reliability.from_dict(d["cross_validated"]),
        )


@dataclass(frozen=True)
class HeldOutPredictions(KeyAccess):
    """Per-biopsy leave-one-batch-out results (cohort order).

    Attributes
    ----------
    ids, batch
        Biopsy IDs and their batch (the fold that held them out).
    estimated_lh_day
        Estimate when placed on the reference fitted without their batch.
    score, score_unknown_batch
        Smallest central density mass whose interval holds the full-cohort estimate,
        placed as a new batch and as lone biopsies of an unknown batch.
    out_of_phase_raw, out_of_phase_event
        Raw out-of-phase mass and the full-cohort fit's out-of-phase call (None in
        reference format /2).

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> held = load_default_reference().calibration.held_out
    >>> len(held.ids), sorted(set(held.batch))[:3]
    (257, ['1', '2', '3'])
    """

    ids: tuple[str, ...]
    batch: tuple[str, ...]
    estimated_lh_day: tuple[float, ...]
    score: tuple[float, ...]
    score_unknown_batch: tuple[float, ...]
    out_of_phase_raw: tuple[float, ...] | None = None
    out_of_phase_event: tuple[bool, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ID": list(self.ids),
            "BATCH": list(self.batch),
            "estimated_lh_day": list(self.estimated_lh_day),
            "score": list(self.score),
            "score_unknown_batch": list(self.score_unknown_batch),
        }
        if self.out_of_phase_raw is not None:
            d["out_of_phase_raw"] = list(self.out_of_phase_raw)
        if self.out_of_phase_event is not None:
            d["out_of_phase_event"] = list(self.out_of_phase_event)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeldOutPredictions:
        raw, event = d.get("out_of_phase_raw"), d.get("out_of_phase_event")
        return cls(
            ids=tuple(d["ID"]),
            batch=tuple(d["BATCH"]),
            estimated_lh_day=tuple(d["estimated_lh_day"]),
            score=tuple(d["score"]),
            score_unknown_batch=tuple(d["score_unknown_batch"]),
            out_of_phase_raw=None if raw is None else tuple(raw),
            out_of_phase_event=None if event is None else tuple(event),
        )


@dataclass(frozen=True)
class TimingCalibration(KeyAccess):
    """Leave-one-batch-out calibration of a reference (:meth:`TimingReference.calibrate`).

    Attributes
    ----------
    level
        Nominal coverage of the placement interval (``INTERVAL_LEVEL``).
    mass_level, mass_level_unknown_batch
        Central density mass giving that coverage for a new batch and for lone
        biopsies of an unknown batch (split-conformal quantiles of the scores).
    mass_levels
        ``{case: {level: mass}}`` for every level of ``CALIBRATION_LEVELS``.
    summary
        ``{case: {level: {...}}}``: coverage and median width before and after
        calibration, in sample and cross-validated (per fold too).
    step
        Resolution of the mass grid.
    folds
        The batches, in fold order.
    held_out_abs_error_hours
        Median and 95th percentile of |held-out − full-cohort estimate| (hours).
    held_out
        The per-biopsy held-out results.
    out_of_phase
        The Platt map of the out-of-phase probability, or None (raw mass).
    method, target, seed
        What was calibrated, against what, with which fold seed.

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> cal = load_default_reference().calibration
    >>> cal.level, cal.mass_level, len(cal.folds)
    (0.95, 0.6, 9)
    >>> TimingCalibration.from_dict(cal.to_dict()) == cal
    True
    """

    method: str
    target: str
    seed: int
    level: float
    mass_level: float
    mass_level_unknown_batch: float
    mass_levels: Mapping[str, Mapping[str, float]]
    step: float
    folds: tuple[str, ...]
    summary: Mapping[str, Mapping[str, Mapping[str, Any]]]
    held_out_abs_error_hours: Mapping[str, float]
    held_out: HeldOutPredictions
    out_of_phase: OutOfPhaseCalibration | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``calibration`` block of the reference file)."""
        d: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "seed": self.seed,
            "level": self.level,
            "mass_level": self.mass_level,
            "mass_level_unknown_batch": self.mass_level_unknown_batch,
            "mass_levels": {k: dict(v) for k, v in self.mass_levels.items()},
            "step": self.step,
            "folds": list(self.folds),
            "summary": {
                case: {lev: dict(row) for lev, row in by_level.items()}
                for case, by_level in self.summary.items()
            },
            "held_out_abs_error_hours": dict(self.held_out_abs_error_hours),
            "held_out": self.held_out.to_dict(),
        }
        if self.out_of_phase is not None:
            d["out_of_phase"] = self.out_of_phase.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimingCalibration:
        """Inverse of :meth:`to_dict` (formats /2 and /3)."""
        oop = d.get("out_of_phase")
        return cls(
            method=d["method"],
            target=d["target"],
            seed=d["seed"],
            level=d["level"],
            mass_level=d["mass_level"],
            mass_level_unknown_batch=d["mass_level_unknown_batch"],
            mass_levels=d["mass_levels"],
            step=d["step"],
            folds=tuple(d["folds"]),
            summary=d["summary"],
            held_out_abs_error_hours=d["held_out_abs_error_hours"],
            held_out=HeldOutPredictions.from_dict(d["held_out"]),
            out_of_phase=None if oop is None else OutOfPhaseCalibration.from_dict(oop),
        )


def _out_of_phase_calibration(
    raw: np.ndarray, event: np.ndarray, fold_of: np.ndarray, n_folds: int
) -> OutOfPhaseCalibration | None:
    """Platt map of the held-out out-of-phase masses, with cross-validated reliability.

    None when some fold's complement has no out-of-phase (or no in-phase) biopsy:
    the probability then stays the raw mass.
    """
    cv = np.empty(len(raw))
    try:
        for k in range(n_folds):
            f = fold_of == k
            cv[f] = platt_apply(raw[f], platt_fit(raw[~f], event[~f]))
    except ModelError:
        return None
    return OutOfPhaseCalibration(
        method="Platt scaling (logistic on logit of the raw mass, Platt's smoothed targets)",
        target="|estimated_lh_day - LH| > out_of_phase_days in the full-cohort fit",
        coef=platt_fit(raw, event),
        logit_eps=OUT_OF_PHASE_LOGIT_EPS,
        raw=reliability(raw, event),
        cross_validated=reliability(cv, event),
    )


def _calibration_summary(
    case: str,
    score: np.ndarray,
    fold_of: np.ndarray,
    folds: Sequence[tuple[np.ndarray, TimingReference, dict[str, Any], np.ndarray]],
) -> tuple[dict[str, Any], dict[str, float]]:
    """Coverage and median width before/after calibration, per nominal level.

    ``coverage_cross_validated`` calibrates on the other folds' scores and
    counts the held-out fold's biopsies covered (an honest estimate, unlike the
    in-sample coverage of the final mass level).
    """
    n = len(score)
    n_folds = len(folds)

    def widths(mass_of_fold: Sequence[float]) -> np.ndarray:
        w = np.empty(n)
        for (idx, fr, parts, est), m in zip(folds, mass_of_fold, strict=True):
            lo, hi = est.copy(), est.copy()
            for btime, post in parts[case]:
                lo_k, hi_k = fr._interval(btime, post, m)
                lo, hi = np.minimum(lo, lo_k), np.maximum(hi, hi_k)
            w[idx] = hi - lo
        return w

    summary: dict[str, Any] = {}
    mass_levels: dict[str, float] = {}
    for level in CALIBRATION_LEVELS:
        m_all = _conformal_mass(score, level)
        cv = [_conformal_mass(score[fold_of != k], level) for k in range(n_folds)]
        cv_cov = float(np.mean(score <= np.asarray(cv)[fold_of] + 1e-12))
        mass_levels[f"{level:g}"] = m_all
        summary[f"{level:g}"] = {
            "coverage_uncalibrated": float(np.mean(score <= level + 1e-12)),
            "width_uncalibrated_median_days": float(np.median(widths([level] * n_folds))),
            "mass_level": m_all,
            "coverage_in_sample": float(np.mean(score <= m_all + 1e-12)),
            "width_median_days": float(np.median(widths([m_all] * n_folds))),
            "coverage_cross_validated": cv_cov,
            "width_cross_validated_median_days": float(np.median(widths(cv))),
            "coverage_cross_validated_by_fold": [
                float(np.mean(score[fold_of == k] <= cv[k] + 1e-12)) for k in range(n_folds)
            ],
        }
    return summary, mass_levels


def _held_out_scores(
    ref: TimingReference,
    held: pd.DataFrame,
    target: np.ndarray,
    grid: np.ndarray,
    *,
    unknown_batch: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Place held-out biopsies and score them against target times.

    With ``unknown_batch=False`` the biopsies are placed as one new batch (its
    own shift, as :meth:`TimingReference.place` does for >= ``MIN_NEW_BATCH_SIZE``);
    with ``True`` each is placed as a lone biopsy of an unknown batch (median
    reference shift, interval widened over ± one SD of the reference shifts).

    Returns the estimated LH days, each biopsy's score (smallest mass in
    ``grid`` whose interval, widened to hold the estimate, contains the target;
    1 if none does), and the (bin times, densities) whose intervals are united.
    """
    if unknown_batch:
        _, _, dct = _validate_arrays(held, ref.genes, None, False, None)[1:]
        default_shift, shift_sd = ref._shift_stats()
        xs = ref._scale_array(dct) + default_shift
        offsets = [0.0, -shift_sd, shift_sd] if shift_sd > 0 else [0.0]
    else:
        _, _, xs, _, _, _, _ = ref._prepare(held, False, None)
        offsets = [0.0]
    pt, _, _, _ = ref._place_core(xs)
    est = ref.to_lh_day(pt)
    parts = [ref._place_core(xs + o)[2:] for o in offsets]
    score = np.ones(len(est))
    for m in grid[::-1]:
        lo, hi = est.copy(), est.copy()
        for btime, post in parts:
            lo_k, hi_k = ref._interval(btime, post, float(m))
            lo, hi = np.minimum(lo, lo_k), np.maximum(hi, hi_k)
        score[(lo <= target) & (target <= hi)] = m
    return est, score, parts


def calibrate(
    ref: TimingReference,
    df: pd.DataFrame,
    *,
    seed: int | None = None,
    progress: Any = None,
    file: str | None = None,
) -> TimingCalibration:
    """The leave-one-batch-out calibration of :meth:`TimingReference.calibrate`.

    Returns the calibration (see that method for the method and the
    parameters); the reference itself is not changed.

    Raises
    ------
    ModelError
        Fewer than 3 batches, or ``df`` is not the fitted cohort.

    Examples
    --------
    Nine refits of the default ensemble take several seconds, so this is not run here:

    >>> from decidua.assays.timing import TimingReference, load_endotime_training_data
    >>> data = load_endotime_training_data()
    >>> cal = calibrate(TimingReference().fit(data, seed=1), data)  # doctest: +SKIP
    >>> cal.mass_level  # doctest: +SKIP
    0.6
    """
    res = ref._require()
    data = validate_timing_table(df, ref.genes, file=file)
    if tuple(data["ID"]) != res.ids:
        raise ModelError("calibrate() needs the cohort the reference was fitted on")
    st = ref._fitted()
    seed = st.seed if seed is None else seed
    if seed is None:
        raise ModelError("give the seed of the fold fits (the reference has none stored)")
    batches = np.asarray(res.batch, dtype=object)
    labels = list(dict.fromkeys(batches))
    if len(labels) < 3:
        raise ModelError(
            f"leave-one-batch-out calibration needs at least 3 batches ({len(labels)} found)"
        )
    # the folds are fitted exactly like the reference (same cap, even if fit() overrode it)
    cap = int(st.max_iterations_used or ref.max_iterations)
    full = res.estimated_lh_day
    grid = np.round(np.arange(1, int(round(1 / CALIBRATION_STEP)) + 1) * CALIBRATION_STEP, 10)
    n = len(full)
    scores = {"new batch": np.ones(n), "unknown batch": np.ones(n)}
    held_est = np.empty(n)
    held_oop = np.empty(n)
    lh = res.lh_day
    cut = float(st.out_of_phase_days)
    folds: list[tuple[np.ndarray, TimingReference, dict[str, Any], np.ndarray]] = []
    for k, b in enumerate(labels):
        idx = np.flatnonzero(batches == b)
        fold_ref = ref._clone().fit(
            df.iloc[np.flatnonzero(batches != b)], seed=seed, max_iterations=cap
        )
        parts: dict[str, Any] = {}
        for case, unknown in (("new batch", False), ("unknown batch", True)):
            est, sc, parts[case] = _held_out_scores(
                fold_ref, df.iloc[idx], full[idx], grid, unknown_batch=unknown
            )
            scores[case][idx] = sc
            if not unknown:
                held_est[idx] = est
                # the fold stands in for the full reference: same out-of-phase cut
                btime, post = parts[case][0]
                held_oop[idx] = fold_ref._out_of_phase(btime, post, lh[idx], cut=cut)
        folds.append((idx, fold_ref, parts, held_est[idx].copy()))
        if progress is not None:
            progress(k + 1, len(labels))
    fold_of = np.empty(n, dtype=int)
    for k, (idx, *_) in enumerate(folds):
        fold_of[idx] = k
    summary: dict[str, Any] = {}
    mass_levels: dict[str, dict[str, float]] = {}
    for case, score in scores.items():
        summary[case], mass_levels[case] = _calibration_summary(case, score, fold_of, folds)

    err_h = np.abs(held_est - full) * HOURS_PER_DAY
    event = np.abs(full - lh) > cut
    return TimingCalibration(
        method=(
            "leave-one-batch-out split-conformal calibration of the central density mass "
            "(score: smallest mass whose interval holds the full-cohort estimate)"
        ),
        target="estimated_lh_day of the full-cohort fit",
        seed=seed,
        level=INTERVAL_LEVEL,
        mass_level=_conformal_mass(scores["new batch"], INTERVAL_LEVEL),
        mass_level_unknown_batch=_conformal_mass(scores["unknown batch"], INTERVAL_LEVEL),
        mass_levels=mass_levels,
        step=CALIBRATION_STEP,
        folds=tuple(str(b) for b in labels),
        summary=summary,
        held_out_abs_error_hours={
            "median": float(np.median(err_h)),
            "q95": float(np.quantile(err_h, 0.95)),
        },
        held_out=HeldOutPredictions(
            ids=tuple(res.ids),
            batch=tuple(str(b) for b in batches),
            estimated_lh_day=tuple(held_est.tolist()),
            score=tuple(scores["new batch"].tolist()),
            score_unknown_batch=tuple(scores["unknown batch"].tolist()),
            out_of_phase_raw=tuple(held_oop.tolist()),
            out_of_phase_event=tuple(event.tolist()),
        ),
        out_of_phase=_out_of_phase_calibration(held_oop, event, fold_of, len(folds)),
    )
