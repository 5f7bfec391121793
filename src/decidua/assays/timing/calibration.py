"""Leave-one-batch-out calibration of a reference's placement interval and out-of-phase
probability (split-conformal mass levels; Platt map), and the held-out scores they use.

The generic statistics (conformal quantile, Platt scaling, reliability) are in
:mod:`decidua.stats.calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from decidua.stats.calibration import conformal_quantile as _conformal_mass
from decidua.stats.calibration import platt_apply, platt_fit, reliability

if TYPE_CHECKING:
    from decidua.assays.timing.reference import TimingReference


def _out_of_phase_calibration(
    raw: np.ndarray, event: np.ndarray, fold_of: np.ndarray, n_folds: int
) -> dict[str, Any] | None:
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
    return {
        "method": "Platt scaling (logistic on logit of the raw mass, Platt's smoothed targets)",
        "target": "|estimated_lh_day - LH| > out_of_phase_days in the full-cohort fit",
        "coef": list(platt_fit(raw, event)),
        "logit_eps": OUT_OF_PHASE_LOGIT_EPS,
        "raw": reliability(raw, event),
        "cross_validated": reliability(cv, event),
    }


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
) -> dict[str, Any]:
    """The leave-one-batch-out calibration of :meth:`TimingReference.calibrate`.

    Returns the JSON-ready calibration (see that method for the method and the
    parameters); the reference itself is not changed.

    Raises
    ------
    ModelError
        Fewer than 3 batches, or ``df`` is not the fitted cohort.
    """
    res = ref._require()
    data = validate_timing_table(df, ref.genes, file=file)
    if tuple(data["ID"]) != res.ids:
        raise ModelError("calibrate() needs the cohort the reference was fitted on")
    seed = ref._state["seed"] if seed is None else seed
    if seed is None:
        raise ModelError("give the seed of the fold fits (the reference has none stored)")
    batches = np.asarray(res.batch, dtype=object)
    labels = list(dict.fromkeys(batches))
    if len(labels) < 3:
        raise ModelError(
            f"leave-one-batch-out calibration needs at least 3 batches ({len(labels)} found)"
        )
    # the folds are fitted exactly like the reference (same cap, even if fit() overrode it)
    cap = int(ref._state.get("max_iterations_used", ref.max_iterations))
    full = res.estimated_lh_day
    grid = np.round(np.arange(1, int(round(1 / CALIBRATION_STEP)) + 1) * CALIBRATION_STEP, 10)
    n = len(full)
    scores = {"new batch": np.ones(n), "unknown batch": np.ones(n)}
    held_est = np.empty(n)
    held_oop = np.empty(n)
    lh = res.lh_day
    cut = float(ref._state["out_of_phase_days"])
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
    calibration: dict[str, Any] = {
        "method": (
            "leave-one-batch-out split-conformal calibration of the central density mass "
            "(score: smallest mass whose interval holds the full-cohort estimate)"
        ),
        "target": "estimated_lh_day of the full-cohort fit",
        "seed": seed,
        "level": INTERVAL_LEVEL,
        "mass_level": _conformal_mass(scores["new batch"], INTERVAL_LEVEL),
        "mass_level_unknown_batch": _conformal_mass(scores["unknown batch"], INTERVAL_LEVEL),
        "mass_levels": mass_levels,
        "step": CALIBRATION_STEP,
        "folds": [str(b) for b in labels],
        "summary": summary,
        "held_out_abs_error_hours": {
            "median": float(np.median(err_h)),
            "q95": float(np.quantile(err_h, 0.95)),
        },
        "held_out": {
            "ID": list(res.ids),
            "BATCH": [str(b) for b in batches],
            "estimated_lh_day": held_est.tolist(),
            "score": scores["new batch"].tolist(),
            "score_unknown_batch": scores["unknown batch"].tolist(),
            "out_of_phase_raw": held_oop.tolist(),
            "out_of_phase_event": event.tolist(),
        },
    }
    oop_cal = _out_of_phase_calibration(held_oop, event, fold_of, len(folds))
    if oop_cal is not None:
        calibration["out_of_phase"] = oop_cal
    return calibration
