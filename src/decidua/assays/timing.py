"""Endometrial timing from six-gene RT-qPCR (EndoTime-compatible).

Decidua's own implementation of the method published as EndoTime:

    Lipecki J, Mitchell AE, Muter J, Lucas ES, Makwana K, Fishwick K, Odendaal J,
    Hawkes A, Vrljicak P, Brosens JJ, Ott S. "EndoTime: non-categorical timing
    estimates for luteal endometrium." Human Reproduction 2022;37(4):747-761.
    doi:10.1093/humrep/deac006 (PMC8971653). Reference software: the R package
    ``endotime`` 1.0, github.com/AE-Mitchell/EndoTime, commit 8abb0ad (GPL-3).

No EndoTime code is used; the algorithm was re-expressed from its description
and the package's behaviour. In outline:

1. ΔCt values are inverted (−ΔCt, so larger means more expression), min-max
   scaled per gene over the cohort, and (optionally) shifted per qPCR batch so
   that every batch has the same grand mean (one scalar per batch).
2. Each biopsy starts at its reported LH+ day, ties broken by a uniform jitter
   of ±0.5 day and spread evenly by rank.
3. Iteration: for every biopsy, every *other* biopsy (plus linearly extrapolated
   pseudo-points beyond both ends) is sorted by current time; a window of
   ``gene_window`` neighbours slides along time, and for each window a normal
   density (unweighted mean, tent-weighted SD) gives the pseudo-likelihood of
   the biopsy's value for each gene. Per-gene density curves are normalised,
   mirrored at both ends, averaged over genes and over ``aggregate_window``
   consecutive windows; the biopsy moves to the time of the highest average.
   The new times are turned into ranks and spread evenly over the LH range.
   Windows shrink by 10 per iteration down to 20; the run stops when the
   Euclidean distance between successive time vectors is <= 2.
4. Asynchrony score: SD across genes of the per-gene density peaks (window 80).
   Threshold: the breakpoint of a two-segment linear fit to the sorted scores.
5. Estimated LH day: pseudotime ranks are mapped onto the sorted reported LH
   days and smoothed with a 21-biopsy tent kernel.

What Decidua adds: an iteration cap with a reported stop reason and a
principled default (the average of the orderings at the window floor, see
:data:`DEFAULT_FINAL`), seeded random tie-breaking instead of EndoTime's
row-order dependence, a seed ensemble (the orderings of several derived seeds averaged
per biopsy, :data:`DEFAULT_N_SEEDS`), a frozen, versioned reference that places new biopsies
without refitting (interval, out-of-phase probability, batch rules), a bagged
asynchrony threshold frozen with the reference, placement intervals calibrated
by leave-one-batch-out split-conformal prediction and a Platt-calibrated
out-of-phase probability (:meth:`TimingReference.calibrate`),
a default reference shipped with the package (:func:`load_default_reference`;
regenerate with ``python -m decidua.assays.timing --write-default-reference``),
timing-adjusted centiles for any marker, and compiled (numba) window
computations. Measured agreement with EndoTime and the reasons for each choice
are in ``docs/timing.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy import stats

from decidua.errors import InputError, ModelError, Problem

# --------------------------------------------------------------------------------------
# Constants (each with its source)
# --------------------------------------------------------------------------------------

#: Timing genes, in the order of EndoTime's vignette (``vignettes/endotime.Rmd``).
GENES: tuple[str, ...] = ("GPX3", "SLC15A2", "IL2RB", "CXCL14", "DPP4", "IGFBP1")
#: Initial width (biopsies) of the per-gene window; EndoTime ``endotime_train`` default.
DEFAULT_GENE_WINDOW = 80
#: Initial width (windows) of the aggregate window; EndoTime ``endotime_train`` default.
DEFAULT_AGGREGATE_WINDOW = 80
#: Window shrink per iteration and its floor; EndoTime ``.endometrium_ordering``.
WINDOW_STEP = 10
WINDOW_FLOOR = 20
#: Stop when successive orderings are this close (Euclidean, days); EndoTime ``euc`` default.
DEFAULT_EUCLIDEAN_STOP = 2.0
#: Half-width (biopsies) of the tent kernel mapping ranks to LH days; EndoTime
#: ``.convert_realtime`` (``bin_radius <- 10``).
LH_MAP_RADIUS = 10
#: Half-width of the uniform jitter that breaks ties between integer LH days; EndoTime
#: ``.enforce_monotony`` (``runif(-0.5, 0.5)``).
LH_JITTER_DAYS = 0.5
#: Hours per day, for ``estimated_hours`` (hours after the LH surge).
HOURS_PER_DAY = 24.0
#: Iteration cap.  Measured (docs/timing.md): on EndoTime's training data the distance
#: between successive orderings levels off at about 3-8 once the windows reach their
#: floor (iteration 7), so the R default never stops; 20 iterations give up to 14
#: orderings at the floor to average.
DEFAULT_MAX_ITERATIONS = 20
#: Orderings at the window floor without a new minimum distance before the run is
#: declared oscillating (Decidua's choice, docs/timing.md).
DEFAULT_PATIENCE = 5
#: How the final ordering is chosen ("average": mean time over all orderings computed
#: at the window floor, re-ranked).  Decidua's choice: it removes most of the
#: seed-to-seed wobble of a single ordering (docs/timing.md).
DEFAULT_FINAL = "average"
#: Seeds per fit (seed ensemble).  Decidua's choice: the orderings of ``DEFAULT_N_SEEDS``
#: seeds derived from the user's seed (:func:`ensemble_seeds`) are averaged per biopsy and
#: re-ranked; curves, scores and threshold come from the combined times.  Measured
#: (docs/timing.md, *Seed ensemble*): between disjoint seed sets the 95th percentile of
#: |Δ estimated time| falls from 14.4 h (single seeds) to 7.2 h.  ``n_seeds=1`` reproduces
#: the single fit of earlier versions exactly.
DEFAULT_N_SEEDS = 8
#: Smallest new qPCR batch that gets its own shift (Decidua's choice: with fewer
#: biopsies the batch mean is dominated by the biopsies' cycle days, not the run).
MIN_NEW_BATCH_SIZE = 10
#: Nominal coverage of the placement interval.  With a calibration (``calibrate``) the
#: interval is the central ``mass_level`` of the biopsy's density, ``mass_level`` chosen
#: so that this share of held-out biopsies is covered (docs/timing.md); without one it is
#: the central ``INTERVAL_LEVEL`` of the density (uncalibrated, conservative).
INTERVAL_LEVEL = 0.95
#: Nominal levels whose calibrated mass levels are stored in the reference.
CALIBRATION_LEVELS: tuple[float, ...] = (0.80, 0.90, 0.95)
#: Resolution of the density mass levels searched by the calibration.
CALIBRATION_STEP = 0.01
#: Seed of the default reference shipped with Decidua (``reference/endotime/reference.json``).
DEFAULT_REFERENCE_SEED = 1
#: Quantile of |estimated - reported| LH day in the reference that defines
#: "out of phase" for the out-of-phase probability (Decidua's choice).
OUT_OF_PHASE_QUANTILE = 0.95
#: Probabilities are clipped to [eps, 1 - eps] before the logit of Platt scaling, so that a
#: raw out-of-phase mass of exactly 0 or 1 maps to a finite logit.
OUT_OF_PHASE_LOGIT_EPS = 1e-6
#: Equal-width bins of the reliability table and of the expected calibration error (ECE;
#: Naeini, Cooper & Hauskrecht, AAAI 2015; Guo et al., ICML 2017).
RELIABILITY_BINS = 10
#: Bootstrap resamples of the cohort's scores for the bagged asynchrony threshold.
THRESHOLD_BOOTSTRAP = 200
#: Default threshold rule: "bagged" = median over bootstrap resamples of EndoTime's
#: broken-stick threshold (Breiman, "Bagging predictors", Mach Learn 1996); "segmented"
#: = the single broken-stick fit, as EndoTime.  Decidua's choice: the single fit's
#: breakpoint is poorly determined on a smooth score curve (docs/timing.md).
DEFAULT_THRESHOLD_RULE = "bagged"
#: Reference file format version; bump on any incompatible change.
#: /3: the calibration carries a Platt map for the out-of-phase probability.
MODEL_VERSION = "decidua.timing.reference/3"
#: Older versions this Decidua still reads (/1: no calibration, no provenance; /2: interval
#: calibration only, so the out-of-phase probability stays the raw density mass).
READABLE_MODEL_VERSIONS: tuple[str, ...] = (
    "decidua.timing.reference/1",
    "decidua.timing.reference/2",
    MODEL_VERSION,
)
CENTILES_VERSION = "decidua.timing.centiles/1"
#: Centiles reported by default (the issue's 5th/10th/50th/90th/95th).
STANDARD_CENTILES: tuple[float, ...] = (0.05, 0.10, 0.50, 0.90, 0.95)

REQUIRED_COLUMNS = ("ID", "LH")


# --------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------


def load_endotime_training_data() -> pd.DataFrame:
    """Return EndoTime's 257-biopsy training cohort (shipped, GPL-3; see its README)."""
    ref = resources.files("decidua.reference").joinpath("endotime/training_data.csv")
    with resources.as_file(ref) as path:
        return pd.read_csv(path, dtype={"ID": str})


def validate_timing_table(
    df: pd.DataFrame,
    genes: Sequence[str] = GENES,
    *,
    file: str | None = None,
    require_lh: bool = True,
    lh_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Check a cohort/biopsy table and return a clean copy.

    Parameters
    ----------
    df
        Table in EndoTime's layout: ``ID``, ``BATCH`` (optional for placement),
        ``LH`` (LH+ day), one ΔCt column per gene.
    genes
        Gene columns that must be present and numeric.
    file
        File name used in error messages.
    require_lh
        Whether the ``LH`` column must be present.
    lh_range
        If given, LH days outside ``[lo, hi]`` are refused.

    Returns
    -------
    pandas.DataFrame
        ``ID`` (str), ``BATCH`` (str or missing), ``LH`` (float), genes (float).

    Raises
    ------
    InputError
        Listing every problem (row numbers as a spreadsheet shows them).
    """
    ids, batch, lh, x = _validate_arrays(df, genes, file, require_lh, lh_range)
    cols: dict[str, Any] = {"ID": ids, "BATCH": batch, "LH": lh}
    cols.update({g: x[:, j] for j, g in enumerate(genes)})
    return pd.DataFrame(cols)


def _numeric_column(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Float values of a column and a mask of entries that are missing/not numbers."""
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    return values, ~np.isfinite(values)


def _validate_arrays(
    df: pd.DataFrame,
    genes: Sequence[str],
    file: str | None,
    require_lh: bool,
    lh_range: tuple[float, float] | None,
) -> tuple[list[str], list[str] | None, np.ndarray, np.ndarray]:
    """Array form of :func:`validate_timing_table` (IDs, batches, LH days, ΔCt matrix)."""
    problems: list[Problem] = []
    required = ["ID", *(["LH"] if require_lh else []), *genes]
    for col in required:
        if col not in df.columns:
            problems.append(Problem("required column is missing", file=file, column=col))
    if problems:
        raise InputError(problems)
    if len(df) == 0:
        raise InputError("the table has no biopsies", file=file)
    ids = [str(v).strip() for v in df["ID"].tolist()]
    batch = [str(v).strip() for v in df["BATCH"].tolist()] if "BATCH" in df.columns else None
    n = len(ids)
    x = np.empty((n, len(genes)))
    lh = np.full(n, np.nan)
    for col in ([("LH", -1)] if "LH" in df.columns else []) + [(g, j) for j, g in enumerate(genes)]:
        name, j = col
        values, bad = _numeric_column(df, name)
        if bad.any():
            what = "LH day" if name == "LH" else "ΔCt"
            for idx in np.flatnonzero(bad):
                rawv = df[name].iloc[idx]
                reason = "value is missing" if pd.isna(rawv) else "value is not a number"
                problems.append(Problem(f"{what} {reason}", file, int(idx) + 2, name, rawv))
        if j < 0:
            lh = values
        else:
            x[:, j] = values
    if len(set(ids)) != n:
        seen: set[str] = set()
        for idx, v in enumerate(ids):
            if v in seen:
                problems.append(Problem("duplicate biopsy ID", file, idx + 2, "ID", v))
            seen.add(v)
    if lh_range is not None:
        lo, hi = lh_range
        out_of_range = np.isfinite(lh) & ((lh < lo) | (lh > hi))
        for idx in np.flatnonzero(out_of_range):
            problems.append(
                Problem(
                    f"LH day outside the reference range LH+{lo:g}..LH+{hi:g}",
                    file,
                    int(idx) + 2,
                    "LH",
                    df["LH"].iloc[idx],
                )
            )
    if problems:
        raise InputError(problems)
    return ids, batch, lh, x


# --------------------------------------------------------------------------------------
# Compiled kernels
# --------------------------------------------------------------------------------------

_SD_FLOOR = 1e-9  # guards a zero-width window (identical values); EndoTime would give Inf/0


@numba.njit(cache=True)
def _window_stats(t, x, gw):  # pragma: no cover - compiled
    """Median time, mean and tent-weighted SD of every window of ``gw`` sorted points."""
    n, g = x.shape
    m = n - gw + 1
    med = np.empty(m)
    mean = np.empty((m, g))
    sd = np.empty((m, g))
    w = np.empty(gw)
    half = gw // 2
    for k in range(m):
        first = t[k]
        last = t[k + gw - 1]
        mt = 0.5 * (t[k + half - 1] + t[k + half]) if gw % 2 == 0 else t[k + half]
        med[k] = mt
        wsum = 0.0
        for i in range(gw):
            ti = t[k + i]
            if ti == mt:
                wi = 1.0
            elif ti < mt:
                wi = abs(first - ti) / abs(first - mt)
            else:
                wi = abs(last - ti) / abs(last - mt)
            w[i] = wi
            wsum += wi
        for j in range(g):
            s = 0.0
            sw = 0.0
            for i in range(gw):
                s += x[k + i, j]
                sw += w[i] * x[k + i, j]
            mu = s / gw
            wm = sw / wsum
            v = 0.0
            for i in range(gw):
                d = x[k + i, j] - wm
                v += w[i] * d * d
            mean[k, j] = mu
            sd[k, j] = max(math.sqrt(v / wsum), _SD_FLOOR)
    return med, mean, sd


@numba.njit(cache=True)
def _loo_densities(t, x, pos, gw):  # pragma: no cover - compiled
    """Leave-one-out normalised per-gene densities.

    For each point ``pos[u]`` of the sorted arrays ``t``/``x``, drop it, slide
    windows of ``gw`` over the rest and evaluate the normal density of its
    values; each gene's curve is normalised to sum 1.
    """
    n, g = x.shape
    nu = pos.shape[0]
    m = n - 1 - gw + 1
    med_out = np.empty((nu, m))
    dens = np.empty((nu, m, g))
    rt = np.empty(n - 1)
    rx = np.empty((n - 1, g))
    c = 1.0 / math.sqrt(2.0 * math.pi)
    for u in range(nu):
        p = pos[u]
        j = 0
        for i in range(n):
            if i != p:
                rt[j] = t[i]
                for q in range(g):
                    rx[j, q] = x[i, q]
                j += 1
        med, mean, sd = _window_stats(rt, rx, gw)
        for q in range(g):
            tot = 0.0
            xv = x[p, q]
            for k in range(m):
                z = (xv - mean[k, q]) / sd[k, q]
                d = c * math.exp(-0.5 * z * z) / sd[k, q]
                dens[u, k, q] = d
                tot += d
            if tot > 0:
                for k in range(m):
                    dens[u, k, q] /= tot
        for k in range(m):
            med_out[u, k] = med[k]
    return med_out, dens


def _densities_fixed(x_new: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Normalised per-gene densities of new biopsies (n, g) on frozen windows (m, g)."""
    z = (x_new[:, None, :] - mean[None, :, :]) / sd[None, :, :]
    d = np.exp(-0.5 * z * z) / sd[None, :, :]
    tot = d.sum(axis=1, keepdims=True)
    tot[tot == 0] = 1.0
    return d / tot


def _aggregate(med: np.ndarray, dens: np.ndarray, aw: int) -> tuple[np.ndarray, np.ndarray]:
    """Mirror the density curves at both ends and average them over ``aw`` windows.

    Parameters
    ----------
    med
        (n, m) window times (or (m,) shared by all biopsies).
    dens
        (n, m, g) normalised per-gene densities.
    aw
        Aggregate window (even).

    Returns
    -------
    bin_time, bin_score
        (n, m) bin median times and mean densities over genes and windows.
    """
    n, m, _ = dens.shape
    if med.ndim == 1:
        med = np.broadcast_to(med, (n, m))
    r = aw // 2
    if m < r + 2:
        raise ModelError(f"too few windows ({m}) for an aggregate window of {aw}")
    d = dens.mean(axis=2)
    lo_t = 2 * med[:, :1] - med[:, r:0:-1]
    lo_d = 2 * d[:, :1] - d[:, r:0:-1]
    hi_t = 2 * med[:, -1:] - med[:, m - 2 : m - 2 - r : -1]
    hi_d = 2 * d[:, -1:] - d[:, m - 2 : m - 2 - r : -1]
    et = np.concatenate([lo_t, med, hi_t], axis=1)
    ed = np.concatenate([lo_d, d, hi_d], axis=1)
    length = et.shape[1]
    nb = length - aw
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(ed, axis=1)], axis=1)
    score = (cs[:, aw : aw + nb] - cs[:, :nb]) / aw
    if aw % 2 == 0:
        btime = 0.5 * (et[:, aw // 2 - 1 : aw // 2 - 1 + nb] + et[:, aw // 2 : aw // 2 + nb])
    else:
        btime = et[:, aw // 2 : aw // 2 + nb]
    return btime, score


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


def _pseudo_points(times: np.ndarray, x: np.ndarray, gw: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear extrapolation of ``gw/2`` pseudo-biopsies beyond each end of the time axis."""
    n = len(times)
    half = gw // 2
    rank = stats.rankdata(times)
    slope, intercept = np.polyfit(rank, times, 1)
    new_rank = np.concatenate([np.arange(1 - half, 1), np.arange(n + 1, n + half + 1)])
    new_t = intercept + slope * new_rank
    design = np.column_stack([np.ones(n), times])
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    new_x = np.column_stack([np.ones(len(new_t)), new_t]) @ coef
    return new_t, new_x


def _with_pseudo(
    times: np.ndarray, x: np.ndarray, gw: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted times/values of biopsies plus pseudo-points, and each biopsy's sorted position."""
    pt, px = _pseudo_points(times, x, gw)
    all_t = np.concatenate([times, pt])
    all_x = np.vstack([x, px])
    order = np.argsort(all_t, kind="stable")
    pos = np.empty(len(all_t), dtype=np.int64)
    pos[order] = np.arange(len(all_t))
    return all_t[order], np.ascontiguousarray(all_x[order]), pos[: len(times)]


def _assign(times: np.ndarray, x: np.ndarray, gw: int, aw: int) -> np.ndarray:
    """One EndoTime ordering step: the time of peak aggregate density for each biopsy."""
    st, sx, pos = _with_pseudo(times, x, gw)
    med, dens = _loo_densities(st, sx, pos, gw)
    btime, score = _aggregate(med, dens, aw)
    return btime[np.arange(len(times)), np.argmax(score, axis=1)]


def _gene_peak_times(med: np.ndarray, dens: np.ndarray) -> np.ndarray:
    """(n, g) times of each gene's density peak."""
    idx = np.argmax(dens, axis=1)
    if med.ndim == 1:
        return med[idx]
    return np.take_along_axis(med, idx, axis=1)


def _even_ranks(raw: np.ndarray, tie_key: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Spread biopsies evenly over ``grid`` by rank of ``raw``, ties ordered by ``tie_key``."""
    order = np.lexsort((tie_key, raw))
    out = np.empty_like(raw)
    out[order] = grid
    return out


def _broken_stick_rss(x: np.ndarray, y: np.ndarray, psis: np.ndarray) -> np.ndarray:
    """Residual sum of squares of ``y ~ 1 + x + (x - psi)_+`` for each ``psi``."""
    n = len(x)
    hinge = np.clip(x[None, :] - psis[:, None], 0, None)  # (p, n)
    s1, sx, sxx = float(n), x.sum(), (x * x).sum()
    sh = hinge.sum(1)
    sxh = hinge @ x
    shh = (hinge * hinge).sum(1)
    sy, sxy = y.sum(), x @ y
    shy = hinge @ y
    a = np.empty((len(psis), 3, 3))
    a[:, 0, 0], a[:, 0, 1], a[:, 0, 2] = s1, sx, sh
    a[:, 1, 0], a[:, 1, 1], a[:, 1, 2] = sx, sxx, sxh
    a[:, 2, 0], a[:, 2, 1], a[:, 2, 2] = sh, sxh, shh
    b = np.stack([np.full(len(psis), sy), np.full(len(psis), sxy), shy], axis=1)
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    fitted = coef[:, :1] + coef[:, 1:2] * x[None, :] + coef[:, 2:3] * hinge
    return ((fitted - y[None, :]) ** 2).sum(1)


def segmented_threshold(scores: np.ndarray) -> tuple[float, float]:
    """Asynchrony threshold from a two-segment (broken-stick) fit to sorted scores.

    Fits ``y = a + b x + c (x - psi)_+`` by least squares to the sorted scores
    against their rank ``x = 1..n``, with ``psi`` found by exhaustive search on a
    0.01-rank grid (whole ranks first, then 0.01 around the best): the global
    optimum that R's ``segmented`` (Muggeo, Stat Med 2003) approaches iteratively.
    As in EndoTime, the threshold is the sorted score at rank
    ``round(psi) - 1``.

    Returns
    -------
    threshold, psi
    """
    y = np.sort(np.asarray(scores, dtype=float))
    n = len(y)
    if n < 6:
        raise ModelError("at least 6 biopsies are needed for an asynchrony threshold")
    x = np.arange(1, n + 1, dtype=float)
    # coarse search on whole ranks, then a 0.01 grid around the best
    coarse = np.arange(2.0, n - 1.0 + 1e-9, 1.0)
    best = coarse[int(np.argmin(_broken_stick_rss(x, y, coarse)))]
    fine = np.arange(max(2.0, best - 1.0), min(n - 1.0, best + 1.0) + 1e-9, 0.01)
    psi = float(fine[int(np.argmin(_broken_stick_rss(x, y, fine)))])
    k = min(max(int(np.floor(psi + 0.5)) - 1, 1), n)  # R's round(psi) - 1, 1-based
    return float(y[k - 1]), psi


def _tent_lh_map(n: int, lh: np.ndarray) -> np.ndarray:
    """EndoTime's rank -> LH-day mapping, with expected (not random) tie jitter.

    The sorted reported LH days, each tie group spread evenly over ±0.5 day (the
    expected order statistics of EndoTime's uniform jitter), extended linearly
    by ``LH_MAP_RADIUS`` at both ends and smoothed with a tent kernel.
    """
    r = LH_MAP_RADIUS
    lh_sorted = np.sort(lh)
    spread = np.empty(n)
    i = 0
    while i < n:
        j = i
        while j < n and lh_sorted[j] == lh_sorted[i]:
            j += 1
        k = j - i
        step = 2 * LH_JITTER_DAYS / k
        spread[i:j] = lh_sorted[i] - LH_JITTER_DAYS + (np.arange(k) + 0.5) * step
        i = j
    rank = np.arange(1, n + 1, dtype=float)
    bot = np.polyfit(rank[:r], spread[:r], 1)
    top = np.polyfit(rank[-r:], spread[-r:], 1)
    ext = np.concatenate(
        [
            np.polyval(bot, np.arange(1 - r, 1, dtype=float)),
            spread,
            np.polyval(top, np.arange(n + 1, n + r + 1, dtype=float)),
        ]
    )
    half = np.arange(r) / r
    w = np.concatenate([half, [1.0], half[::-1]])
    return np.convolve(ext, w[::-1], mode="valid") / w.sum()


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


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
# The reference
# --------------------------------------------------------------------------------------


def ensemble_seeds(seed: int, n_seeds: int) -> tuple[int, ...]:
    """Seeds of the members of a seed ensemble fitted with ``seed``.

    Parameters
    ----------
    seed
        The fit's seed (``--seed``), >= 0.
    n_seeds
        Ensemble size.

    Returns
    -------
    tuple of int
        ``n_seeds`` consecutive seeds starting at ``(seed + 1) * n_seeds``; ``(seed,)``
        when ``n_seeds == 1``. Different fit seeds give disjoint member sets, and no
        member seed equals the fit seed (whose stream breaks the ties of the combined
        ranking and draws the threshold bootstrap).
    """
    if n_seeds == 1:
        return (int(seed),)
    start = (int(seed) + 1) * int(n_seeds)
    return tuple(range(start, start + int(n_seeds)))


def _curves(times: np.ndarray, x: np.ndarray, gw: int) -> dict[str, np.ndarray]:
    st, sx, _ = _with_pseudo(times, x, gw)
    med, mean, sd = _window_stats(st, sx, gw)
    return {"time": med, "mean": mean, "sd": sd}


def _provenance(seed: int | None) -> dict[str, Any]:
    """Versions and seed of a fit (the data hash is added by whoever knows the file)."""
    from decidua import __version__

    return {
        "seed": seed,
        "model_version": MODEL_VERSION,
        "decidua_version": __version__,
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
    }


def _conformal_mass(scores: np.ndarray, level: float) -> float:
    """Split-conformal quantile: the ``ceil((n + 1) level)``-th smallest score (<= 1)."""
    s = np.sort(np.asarray(scores, float))
    k = int(math.ceil((len(s) + 1) * level - 1e-9))
    if k > len(s):
        return 1.0
    return float(min(s[k - 1], 1.0))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, float), OUT_OF_PHASE_LOGIT_EPS, 1 - OUT_OF_PHASE_LOGIT_EPS)
    return np.log(q / (1 - q))


def platt_fit(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling of probabilities: ``P(y=1) = 1 / (1 + exp(-(a + b logit p)))``.

    Maximum likelihood with Platt's smoothed targets (Platt 1999: positives
    ``(N+ + 1) / (N+ + 2)``, negatives ``1 / (N- + 2)``), which keeps the fit
    finite when the raw probabilities separate the classes, fitted as a binomial
    GLM with fractional responses (statsmodels).

    Parameters
    ----------
    p
        Raw probabilities (clipped to ``[eps, 1 - eps]`` before the logit).
    y
        Observed events (0/1).

    Returns
    -------
    a, b
        Intercept and slope on the logit scale.
    """
    import statsmodels.api as sm

    y = np.asarray(y, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ModelError("Platt scaling needs both events and non-events")
    target = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    design = np.column_stack([np.ones(len(target)), _logit(p)])
    fit = sm.GLM(target, design, family=sm.families.Binomial()).fit()
    a, b = (float(v) for v in fit.params)
    return a, b


def platt_apply(p: np.ndarray, coef: Sequence[float]) -> np.ndarray:
    """Apply a Platt map from :func:`platt_fit`.

    Parameters
    ----------
    p
        Raw probabilities (clipped to ``[eps, 1 - eps]`` before the logit).
    coef
        ``(a, b)``: intercept and slope on the logit scale.

    Returns
    -------
    numpy.ndarray
        Calibrated probabilities; NaN where ``p`` is NaN.
    """
    a, b = float(coef[0]), float(coef[1])
    p = np.asarray(p, float)
    out = 1.0 / (1.0 + np.exp(-(a + b * _logit(p))))
    return np.where(np.isnan(p), np.nan, out)


def reliability(p: np.ndarray, y: np.ndarray, bins: int = RELIABILITY_BINS) -> dict[str, Any]:
    """Reliability table, expected calibration error and Brier score of probabilities.

    Parameters
    ----------
    p
        Predicted probabilities.
    y
        Observed events (0/1).
    bins
        Equal-width bins on [0, 1] (the last one closed).

    Returns
    -------
    dict
        ``brier`` (mean squared error), ``ece`` (bin-size-weighted mean of
        |mean prediction - observed rate|), ``n``, ``events`` and ``table`` (one
        row per non-empty bin: ``low``, ``high``, ``n``, ``mean_predicted``,
        ``observed``).
    """
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    ece = 0.0
    for k in range(bins):
        m = idx == k
        if not m.any():
            continue
        mp, ob = float(p[m].mean()), float(y[m].mean())
        ece += m.mean() * abs(mp - ob)
        table.append(
            {
                "low": k / bins,
                "high": (k + 1) / bins,
                "n": int(m.sum()),
                "mean_predicted": mp,
                "observed": ob,
            }
        )
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(ece),
        "n": len(p),
        "events": int(y.sum()),
        "table": table,
    }


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


class TimingReference:
    """A fitted timing reference (EndoTime's training step), frozen once fitted.

    Parameters
    ----------
    genes
        Gene columns (ΔCt vs the reference gene, not inverted).
    gene_window, aggregate_window
        Initial window widths (EndoTime defaults 80/80); they shrink by
        ``WINDOW_STEP`` per iteration to ``WINDOW_FLOOR``.
    euclidean_stop
        Converged when successive orderings are this close (EndoTime ``euc``).
    batch_correct
        Shift each batch to a common grand mean (EndoTime's batch correction).
    max_iterations, patience, final
        Stop rule (see :meth:`fit` and docs/timing.md).
    threshold_rule
        ``"bagged"`` (default) or ``"segmented"`` (EndoTime's single fit).
    n_seeds
        Size of the seed ensemble (default ``DEFAULT_N_SEEDS``): the ordering is run
        with ``n_seeds`` seeds derived from the fit's seed (:func:`ensemble_seeds`)
        and each biopsy's time is averaged over them before ranking. ``1`` is a
        single fit.

    Examples
    --------
    >>> ref = TimingReference().fit(load_endotime_training_data(), seed=1)  # doctest: +SKIP
    >>> ref.place(new_biopsies).to_frame()  # doctest: +SKIP
    """

    def __init__(
        self,
        genes: Sequence[str] = GENES,
        *,
        gene_window: int = DEFAULT_GENE_WINDOW,
        aggregate_window: int = DEFAULT_AGGREGATE_WINDOW,
        euclidean_stop: float = DEFAULT_EUCLIDEAN_STOP,
        batch_correct: bool = True,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        patience: int = DEFAULT_PATIENCE,
        final: str = DEFAULT_FINAL,
        threshold_rule: str = DEFAULT_THRESHOLD_RULE,
        n_seeds: int = DEFAULT_N_SEEDS,
    ) -> None:
        if int(n_seeds) < 1:
            raise ValueError("n_seeds must be >= 1")
        if threshold_rule not in ("bagged", "segmented"):
            raise ValueError("threshold_rule must be 'bagged' or 'segmented'")
        if final not in ("average", "best", "last"):
            raise ValueError("final must be 'average', 'best' or 'last'")
        if gene_window % 2 or aggregate_window % 2:
            raise ValueError("window widths must be even")
        self.genes = tuple(genes)
        self.gene_window = int(gene_window)
        self.aggregate_window = int(aggregate_window)
        self.euclidean_stop = float(euclidean_stop)
        self.batch_correct = bool(batch_correct)
        self.max_iterations = int(max_iterations)
        self.patience = int(patience)
        self.final = final
        self.threshold_rule = threshold_rule
        self.n_seeds = int(n_seeds)
        self.result: TimingFitResult | None = None
        self._state: dict[str, Any] = {}
        #: Interval calibration from :meth:`calibrate` (JSON-ready), or None.
        self.calibration: dict[str, Any] | None = None
        #: Where the reference came from (data hash, seed, versions); JSON-ready.
        self.provenance: dict[str, Any] = {}

    # ---- fitting ---------------------------------------------------------------------

    def fit(
        self,
        df: pd.DataFrame,
        *,
        seed: int | np.random.Generator = 0,
        max_iterations: int | None = None,
        progress: Any = None,
        file: str | None = None,
    ) -> TimingReference:
        """Fit the reference on a cohort in EndoTime's layout.

        Parameters
        ----------
        df
            Columns ``ID``, ``BATCH``, ``LH`` and one ΔCt column per gene.
        seed
            Seed (or Generator) for the random steps (LH tie jitter, tie-breaking,
            threshold bootstrap). With ``n_seeds > 1`` the members are fitted with
            :func:`ensemble_seeds` ``(seed, n_seeds)`` (a Generator draws them) and
            ``seed`` orders the combined ranking's ties and draws the bootstrap.
        max_iterations
            Overrides the instance's cap.
        progress
            Optional callable ``progress(iteration, distance, gene_window)``.
        file
            File name for error messages.

        Returns
        -------
        TimingReference
            ``self``, with :attr:`result` set.

        Notes
        -----
        Stop rule: *converged* when the distance between successive orderings
        is <= ``euclidean_stop`` (EndoTime's rule); *oscillating* when the
        windows are at their floor and ``patience`` further orderings brought
        no new minimum distance; otherwise *cap reached* after
        ``max_iterations``. The final ordering is chosen by ``final``:
        ``"average"`` (default) ranks the mean time over all orderings computed
        at the window floor; ``"best"`` takes the ordering with the smallest
        distance; ``"last"`` is what EndoTime returns. Ties between biopsies
        peaking in the same bin are ordered at random (from ``seed``).

        Seed ensemble (``n_seeds > 1``, the default): the ordering above is run
        once per member seed; each biopsy's final time is averaged over the
        members and the means are ranked and spread over the LH range. Curves,
        asynchrony scores, threshold and estimated LH days are then computed from
        these combined times exactly as for a single run. ``stop_reason`` is the
        most common member reason and ``distances`` those of the first member
        (every member's reason and iteration count are stored in the reference).
        """
        data = validate_timing_table(df, self.genes, file=file)
        if data["BATCH"].isna().all():
            data["BATCH"] = "1"
        data["BATCH"] = data["BATCH"].astype(str)
        n = len(data)
        if n < self.gene_window + 2:
            raise ModelError(
                f"the cohort has {n} biopsies; at least {self.gene_window + 2} are needed "
                f"for a gene window of {self.gene_window}"
            )
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cap = self.max_iterations if max_iterations is None else int(max_iterations)
        if cap < 1:
            raise ValueError("max_iterations must be >= 1")
        lh = data["LH"].to_numpy(float)
        inv = -data[list(self.genes)].to_numpy(float)
        mins, maxs = inv.min(axis=0), inv.max(axis=0)
        if np.any(maxs <= mins):
            raise ModelError("a gene has the same ΔCt in every biopsy; it cannot time biopsies")
        x = (inv - mins) / (maxs - mins)
        batches = data["BATCH"].astype(str).to_numpy()
        shifts: dict[str, float] = {}
        level = float(x.mean())
        if self.batch_correct:
            labels = list(dict.fromkeys(batches))
            means = {b: float(x[batches == b].mean()) for b in labels}
            level = max(means.values())
            shifts = {b: level - means[b] for b in labels}
            x = x + np.array([shifts[b] for b in batches])[:, None]

        grid = np.linspace(lh.min(), lh.max(), n)
        if self.n_seeds == 1:
            member_seeds: list[int | None] = [seed if isinstance(seed, int) else None]
            times, distances, stop = self._order(x, lh, rng, cap, progress)
            runs = [(times, distances, stop)]
        else:
            member_seeds = list(
                ensemble_seeds(seed, self.n_seeds)
                if isinstance(seed, int)
                else (int(v) for v in rng.integers(0, 2**32, self.n_seeds))
            )
            runs = [
                self._order(x, lh, np.random.default_rng(ms), cap, progress) for ms in member_seeds
            ]
            # combine: mean time per biopsy over the members, re-ranked (ties at random)
            mean_t = np.mean([r[0] for r in runs], axis=0)
            times = _even_ranks(mean_t, rng.random(n), grid)
            reasons = [r[2] for r in runs]
            # the most common member stop reason (first in member order on a tie)
            stop = max(dict.fromkeys(reasons), key=reasons.count)
            distances = runs[0][1]
        # the final windows are those used for the last ordering (longest member run)
        n_it = max(len(r[1]) for r in runs)
        final_gw = max(self.gene_window - WINDOW_STEP * (n_it - 1), WINDOW_FLOOR)
        final_aw = max(self.aggregate_window - WINDOW_STEP * (n_it - 1), WINDOW_FLOOR)

        # asynchrony (EndoTime uses the initial gene window for this)
        st, sx, pos = _with_pseudo(times, x, self.gene_window)
        med, dens = _loo_densities(st, sx, pos, self.gene_window)
        peaks = _gene_peak_times(med, dens)
        score = peaks.std(axis=1, ddof=1)
        single, psi = segmented_threshold(score)
        boot = np.empty(THRESHOLD_BOOTSTRAP)
        for b in range(THRESHOLD_BOOTSTRAP):
            boot[b] = segmented_threshold(score[rng.integers(0, n, n)])[0]
        threshold = float(np.median(boot)) if self.threshold_rule == "bagged" else single

        # estimated LH day
        order = np.argsort(times, kind="stable")
        elh_sorted = _tent_lh_map(n, lh)
        elh = np.empty(n)
        elh[order] = elh_sorted
        oop_days = float(np.quantile(np.abs(elh - lh), OUT_OF_PHASE_QUANTILE))

        self.result = TimingFitResult(
            ids=tuple(data["ID"]),
            batch=tuple(batches),
            lh_day=lh,
            pseudotime=times,
            estimated_lh_day=elh,
            asynchrony_score=score,
            asynchronous=score > threshold,
            asynchrony_threshold=threshold,
            stop_reason=stop,
            distances=tuple(distances),
        )
        self._state = {
            "scaling": {"min": mins, "max": maxs},
            "batch_shifts": shifts,
            "batch_level": level,
            "batch_sizes": {b: int((batches == b).sum()) for b in dict.fromkeys(batches)},
            "lh_range": (float(lh.min()), float(lh.max())),
            "final_gene_window": final_gw,
            "final_aggregate_window": final_aw,
            "placement_curves": _curves(times, x, final_gw),
            "asynchrony_curves": _curves(times, x, self.gene_window),
            "time_map": (times[order], elh_sorted),
            "threshold_psi": psi,
            "threshold_segmented": single,
            "threshold_bootstrap": (
                float(np.quantile(boot, 0.05)),
                float(np.median(boot)),
                float(np.quantile(boot, 0.95)),
            ),
            "out_of_phase_days": oop_days,
            "expression": x,
            "seed": seed if isinstance(seed, int) else None,
            "max_iterations_used": cap,
            "member_seeds": member_seeds,
            "member_stop_reasons": [r[2] for r in runs],
            "member_iterations": [len(r[1]) for r in runs],
        }
        self.calibration = None
        self.provenance = _provenance(seed if isinstance(seed, int) else None)
        self.provenance["n_seeds"] = self.n_seeds
        self.provenance["member_seeds"] = member_seeds
        return self

    def _order(
        self,
        x: np.ndarray,
        lh: np.ndarray,
        rng: np.random.Generator,
        cap: int,
        progress: Any = None,
    ) -> tuple[np.ndarray, list[float], str]:
        """One seeded run of the iterative ordering (EndoTime's training loop).

        Parameters
        ----------
        x
            (n, g) scaled, batch-corrected expression.
        lh
            Reported LH days.
        rng
            Generator for the LH jitter and the tie-breaking.
        cap
            Iteration cap.
        progress
            Optional callable ``progress(iteration, distance, gene_window)``.

        Returns
        -------
        tuple
            Final pseudotimes, distances per iteration and the stop reason.
        """
        n = len(lh)
        # initial times: LH + uniform jitter, spread evenly by rank (EndoTime)
        jit = lh + rng.uniform(-LH_JITTER_DAYS, LH_JITTER_DAYS, n)
        rank = stats.rankdata(jit)
        slope, icpt = np.polyfit(rank, jit, 1)
        times = icpt + slope * rank
        grid = np.linspace(lh.min(), lh.max(), n)

        gw, aw = self.gene_window, self.aggregate_window
        distances: list[float] = []
        floor_orderings: list[np.ndarray] = []
        best_d, best_times, since_best = np.inf, None, 0
        stop = "cap reached"
        for it in range(1, cap + 1):
            raw = _assign(times, x, gw, aw)
            # ties (several biopsies peaking in the same bin) are broken at random, as
            # EndoTime's row order does in effect; keeping the previous order instead
            # makes the run path-dependent (measured: further from EndoTime, docs/timing.md)
            new = _even_ranks(raw, rng.random(n), grid)
            d = float(np.sqrt(((new - times) ** 2).sum()))
            distances.append(d)
            at_floor = gw == WINDOW_FLOOR and aw == WINDOW_FLOOR
            if progress is not None:
                progress(it, d, gw)
            times = new
            if at_floor:
                floor_orderings.append(new)
            if d <= self.euclidean_stop:
                stop = "converged"
                if d < best_d:
                    best_d, best_times = d, new
                break
            if at_floor:
                if d < best_d:
                    best_d, best_times, since_best = d, new, 0
                else:
                    since_best += 1
                    if since_best >= self.patience:
                        stop = "oscillating"
                        break
            gw = max(gw - WINDOW_STEP, WINDOW_FLOOR)
            aw = max(aw - WINDOW_STEP, WINDOW_FLOOR)
        if floor_orderings:
            if self.final == "average":
                mean_t = np.mean(floor_orderings, axis=0)
                times = _even_ranks(mean_t, rng.random(n), grid)
            elif self.final == "best" and best_times is not None:
                times = best_times
        return times, distances, stop

    def _clone(self) -> TimingReference:
        """An unfitted reference with the same settings."""
        return TimingReference(
            self.genes,
            gene_window=self.gene_window,
            aggregate_window=self.aggregate_window,
            euclidean_stop=self.euclidean_stop,
            batch_correct=self.batch_correct,
            max_iterations=self.max_iterations,
            patience=self.patience,
            final=self.final,
            threshold_rule=self.threshold_rule,
            n_seeds=self.n_seeds,
        )

    def calibrate(
        self,
        df: pd.DataFrame,
        *,
        seed: int | None = None,
        progress: Any = None,
        file: str | None = None,
    ) -> TimingReference:
        """Calibrate the placement interval by leave-one-batch-out on the fitted cohort.

        For each qPCR batch, the reference is refitted (same settings and seed)
        on the other batches and the batch is placed on it as a new batch. Each
        held-out biopsy's score is the smallest central mass of its density
        (on a ``CALIBRATION_STEP`` grid) whose interval contains the full-cohort
        estimate. The stored mass level for a nominal level ``L`` is the
        split-conformal quantile of the scores (the ``ceil((n + 1) L)``-th
        smallest; Vovk et al. 2005, Lei et al. 2018), so placed intervals at
        that mass cover the full-fit time of about ``L`` of held-out biopsies.

        The same folds calibrate the out-of-phase probability: each held-out
        biopsy's raw out-of-phase mass (fold reference, the full reference's
        distance cut) is mapped to the full-cohort fit's out-of-phase call by
        Platt scaling (:func:`platt_fit`), stored with its raw and
        cross-validated (map fitted on the other folds) reliability, Brier
        score and expected calibration error (:func:`reliability`).

        Parameters
        ----------
        df
            The cohort the reference was fitted on (same IDs, same order).
        seed
            Seed of the fold fits (default: the seed of the reference fit).
        progress
            Optional callable ``progress(fold, n_folds)``.
        file
            File name for error messages.

        Returns
        -------
        TimingReference
            ``self``, with :attr:`calibration` set.

        Raises
        ------
        ModelError
            Fewer than 3 batches, or ``df`` is not the fitted cohort.
        """
        res = self._require()
        data = validate_timing_table(df, self.genes, file=file)
        if tuple(data["ID"]) != res.ids:
            raise ModelError("calibrate() needs the cohort the reference was fitted on")
        seed = self._state["seed"] if seed is None else seed
        if seed is None:
            raise ModelError("give the seed of the fold fits (the reference has none stored)")
        batches = np.asarray(res.batch, dtype=object)
        labels = list(dict.fromkeys(batches))
        if len(labels) < 3:
            raise ModelError(
                f"leave-one-batch-out calibration needs at least 3 batches ({len(labels)} found)"
            )
        # the folds are fitted exactly like the reference (same cap, even if fit() overrode it)
        cap = int(self._state.get("max_iterations_used", self.max_iterations))
        full = res.estimated_lh_day
        grid = np.round(np.arange(1, int(round(1 / CALIBRATION_STEP)) + 1) * CALIBRATION_STEP, 10)
        n = len(full)
        scores = {"new batch": np.ones(n), "unknown batch": np.ones(n)}
        held_est = np.empty(n)
        held_oop = np.empty(n)
        lh = res.lh_day
        cut = float(self._state["out_of_phase_days"])
        folds: list[tuple[np.ndarray, TimingReference, dict[str, Any], np.ndarray]] = []
        for k, b in enumerate(labels):
            idx = np.flatnonzero(batches == b)
            fold_ref = self._clone().fit(
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
        self.calibration = {
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
            self.calibration["out_of_phase"] = oop_cal
        return self

    @property
    def interval_mass_level(self) -> float:
        """Central density mass used for the placement interval (calibrated if available)."""
        if self.calibration is None:
            return INTERVAL_LEVEL
        return float(self.calibration["mass_level"])

    @property
    def out_of_phase_map(self) -> tuple[float, float] | None:
        """Platt map ``(a, b)`` of the out-of-phase probability, or None (raw mass)."""
        if self.calibration is None or self.calibration.get("out_of_phase") is None:
            return None
        a, b = self.calibration["out_of_phase"]["coef"]
        return float(a), float(b)

    @property
    def interval_mass_level_unknown_batch(self) -> float:
        """Density mass for biopsies of a small unknown batch (before the ± SD widening)."""
        if self.calibration is None:
            return INTERVAL_LEVEL
        return float(self.calibration["mass_level_unknown_batch"])

    def _require(self) -> TimingFitResult:
        if self.result is None:
            raise ModelError("the timing reference has not been fitted or loaded")
        return self.result

    # ---- accessors -------------------------------------------------------------------

    @property
    def asynchrony_threshold(self) -> float:
        return self._require().asynchrony_threshold

    @property
    def batch_shifts(self) -> dict[str, float]:
        self._require()
        return dict(self._state["batch_shifts"])

    @property
    def lh_range(self) -> tuple[float, float]:
        self._require()
        return tuple(self._state["lh_range"])  # type: ignore[return-value]

    def estimates(self) -> pd.DataFrame:
        """Per-biopsy estimates of the reference cohort."""
        return self._require().to_frame()

    def curves(self) -> pd.DataFrame:
        """Per-gene smooth curves (scaled, batch-corrected −ΔCt) over pseudotime."""
        self._require()
        c = self._state["placement_curves"]
        out = {"pseudotime": c["time"], "estimated_lh_day": self.to_lh_day(c["time"])}
        for j, g in enumerate(self.genes):
            out[f"{g}_mean"] = c["mean"][:, j]
            out[f"{g}_sd"] = c["sd"][:, j]
        return pd.DataFrame(out)

    def to_lh_day(self, pseudotime: np.ndarray | float) -> np.ndarray:
        """Map pseudotime to estimated LH day (clamped at the reference's ends)."""
        self._require()
        pt, elh = self._state["time_map"]
        return np.interp(pseudotime, pt, elh)

    def scale(self, df: pd.DataFrame) -> np.ndarray:
        """Invert and scale a validated table's ΔCt with the reference's scaling."""
        return self._scale_array(df[list(self.genes)].to_numpy(float))

    def _scale_array(self, dct: np.ndarray) -> np.ndarray:
        self._require()
        mins, maxs = self._state["scaling"]["min"], self._state["scaling"]["max"]
        return (-dct - mins) / (maxs - mins)

    # ---- placement -------------------------------------------------------------------

    def place(
        self,
        new_df: pd.DataFrame,
        *,
        strict: bool = False,
        file: str | None = None,
    ) -> Placement:
        """Place new biopsies on the frozen reference (the reference never changes).

        Parameters
        ----------
        new_df
            ``ID``, optional ``BATCH``, optional ``LH``, one ΔCt column per gene.
        strict
            Refuse biopsies from batches the reference does not know.
        file
            File name for error messages.

        Returns
        -------
        Placement

        Notes
        -----
        Batch rules: a batch in the reference uses its fitted shift. An unknown
        batch with at least ``MIN_NEW_BATCH_SIZE`` biopsies gets its own shift,
        bringing its grand mean to the reference level (EndoTime's correction,
        with the reference frozen). A smaller unknown batch gets no
        batch-specific shift: the median reference shift is used, a warning is
        issued and the interval is widened to cover the reference batches'
        shift spread (± one SD). With ``strict=True`` unknown batches are refused.

        The interval is a central part of the biopsy's aggregate density over
        time (EndoTime's own pseudo-likelihood curve, normalised), mapped to LH
        days and always holding the estimate. Its mass is
        :attr:`interval_mass_level`: calibrated by :meth:`calibrate` so that a
        nominal ``INTERVAL_LEVEL`` interval holds the full-cohort time of about
        that share of held-out biopsies, or ``INTERVAL_LEVEL`` itself
        (uncalibrated, conservative) for a reference without a calibration.
        """
        ids, lh, xs, widen, source, warn, shift_sd = self._prepare(new_df, strict, file)
        mass = self.interval_mass_level
        pt, _, btime, post = self._place_core(xs)
        lo, hi = self._interval(btime, post, mass)
        if widen.any():
            mass_u = self.interval_mass_level_unknown_batch
            lo[widen], hi[widen] = self._interval(btime[widen], post[widen], mass_u)
            for sgn in (-1.0, 1.0) if shift_sd > 0 else ():
                _, _, bt2, post2 = self._place_core(xs[widen] + sgn * shift_sd)
                lo2, hi2 = self._interval(bt2, post2, mass_u)
                lo[widen] = np.minimum(lo[widen], lo2)
                hi[widen] = np.maximum(hi[widen], hi2)
        elh = self.to_lh_day(pt)
        # the peak can sit in a thin tail of the mass at the ends of the cycle
        lo, hi = np.minimum(lo, elh), np.maximum(hi, elh)
        score = self._asynchrony(xs)
        oop = self._out_of_phase(btime, post, lh)
        oop_map = self.out_of_phase_map
        if oop_map is not None:
            oop = platt_apply(oop, oop_map)
        if not strict:
            for w in warn:
                warnings.warn(w, UserWarning, stacklevel=2)
        return Placement(
            ids=tuple(ids),
            lh_day=lh,
            pseudotime=pt,
            estimated_lh_day=elh,
            interval_low=lo,
            interval_high=hi,
            asynchrony_score=score,
            asynchronous=score > self.asynchrony_threshold,
            out_of_phase_probability=oop,
            batch_shift_source=tuple(source),
            warnings=tuple(warn),
            interval_calibrated=self.calibration is not None,
            out_of_phase_calibrated=oop_map is not None,
        )

    def _prepare(
        self, new_df: pd.DataFrame, strict: bool, file: str | None
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[str], list[str], float]:
        """Validate, scale and batch-shift new biopsies (the batch rules of :meth:`place`)."""
        self._require()
        st = self._state
        ids, batch_list, lh, dct = _validate_arrays(new_df, self.genes, file, False, st["lh_range"])
        n = len(ids)
        x = self._scale_array(dct)
        batches = np.array(batch_list if batch_list is not None else [""] * n, dtype=object)
        ref_shifts = st["batch_shifts"]
        default_shift, shift_sd = self._shift_stats()
        shift = np.zeros(n)
        source: list[str] = [""] * n
        widen = np.zeros(n, dtype=bool)
        warn: list[str] = []
        problems: list[Problem] = []
        for b in dict.fromkeys(batches):
            idx = np.flatnonzero(batches == b)
            if not self.batch_correct:
                src, s = "reference", 0.0
            elif b in ref_shifts:
                src, s = "reference", ref_shifts[b]
            elif strict:
                for i in idx:
                    problems.append(
                        Problem(
                            "batch is not in the reference (strict mode refuses unknown batches)",
                            file,
                            int(i) + 2,
                            "BATCH",
                            b if b else None,
                        )
                    )
                continue
            elif len(idx) >= MIN_NEW_BATCH_SIZE:
                src, s = "new batch", st["batch_level"] - float(x[idx].mean())
            else:
                src, s = "unknown (no shift)", default_shift
                widen[idx] = True
                label = f"batch {b!r}" if b else "biopsies without a batch"
                warn.append(
                    f"{label}: {len(idx)} biopsies (< {MIN_NEW_BATCH_SIZE}) from a batch the "
                    "reference does not know; placed without a batch-specific shift, "
                    "with a wider interval"
                )
            shift[idx] = s
            for i in idx:
                source[i] = src
        if problems:
            raise InputError(problems)
        return ids, lh, x + shift[:, None], widen, source, warn, shift_sd

    def _shift_stats(self) -> tuple[float, float]:
        """Shift for biopsies of a small unknown batch (median) and the shifts' SD."""
        ref_shifts = list(self._state["batch_shifts"].values())
        default_shift = float(np.median(ref_shifts)) if ref_shifts else 0.0
        shift_sd = float(np.std(ref_shifts, ddof=1)) if len(ref_shifts) > 1 else 0.0
        return default_shift, shift_sd

    def _place_core(self, xs: np.ndarray):  # type: ignore[no-untyped-def]
        c = self._state["placement_curves"]
        dens = _densities_fixed(xs, c["mean"], c["sd"])
        btime, score = _aggregate(c["time"], dens, self._state["final_aggregate_window"])
        best = np.argmax(score, axis=1)
        pt = btime[np.arange(len(xs)), best]
        post = np.clip(score, 0, None)
        post = post / post.sum(axis=1, keepdims=True)
        return pt, dens, btime, post

    def _interval(
        self, btime: np.ndarray, post: np.ndarray, mass: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``mass`` of each biopsy's density, in LH days."""
        cdf = np.cumsum(post, axis=1)
        a = (1 - mass) / 2
        lo_i = np.argmax(cdf >= a, axis=1)
        hi_i = np.argmax(cdf >= 1 - a, axis=1)
        rows = np.arange(len(post))
        return self.to_lh_day(btime[rows, lo_i]), self.to_lh_day(btime[rows, hi_i])

    def _out_of_phase(
        self, btime: np.ndarray, post: np.ndarray, lh: np.ndarray, cut: float | None = None
    ) -> np.ndarray:
        """Raw out-of-phase mass: density further than ``cut`` days from the LH day."""
        if cut is None:
            cut = self._state["out_of_phase_days"]
        elh = self.to_lh_day(btime)
        outside = np.abs(elh - lh[:, None]) > cut
        p = (post * outside).sum(axis=1)
        p[np.isnan(lh)] = np.nan
        return p

    def _asynchrony(self, xs: np.ndarray) -> np.ndarray:
        c = self._state["asynchrony_curves"]
        dens = _densities_fixed(xs, c["mean"], c["sd"])
        peaks = _gene_peak_times(c["time"], dens)
        return peaks.std(axis=1, ddof=1)

    # ---- persistence -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to place biopsies, as JSON-ready data."""
        from decidua import __version__

        res = self._require()
        st = self._state

        def curves(c: Mapping[str, np.ndarray]) -> dict[str, Any]:
            return {
                "pseudotime": c["time"].tolist(),
                "mean": {g: c["mean"][:, j].tolist() for j, g in enumerate(self.genes)},
                "sd": {g: c["sd"][:, j].tolist() for j, g in enumerate(self.genes)},
            }

        lo, mid, hi = st["threshold_bootstrap"]
        return {
            "model_version": MODEL_VERSION,
            "decidua_version": __version__,
            "method": "EndoTime-compatible ordering (Lipecki et al., Hum Reprod 2022)",
            "genes": list(self.genes),
            "settings": {
                "gene_window": self.gene_window,
                "aggregate_window": self.aggregate_window,
                "euclidean_stop": self.euclidean_stop,
                "batch_correct": self.batch_correct,
                "max_iterations": self.max_iterations,
                "patience": self.patience,
                "final": self.final,
                "threshold_rule": self.threshold_rule,
                "seed": st["seed"],
                "n_seeds": self.n_seeds,
                "member_seeds": st.get("member_seeds", [st["seed"]]),
                "final_gene_window": st["final_gene_window"],
                "final_aggregate_window": st["final_aggregate_window"],
                "min_new_batch_size": MIN_NEW_BATCH_SIZE,
                "interval_level": INTERVAL_LEVEL,
                "interval_mass_level": self.interval_mass_level,
                "interval_mass_level_unknown_batch": self.interval_mass_level_unknown_batch,
            },
            "provenance": dict(self.provenance),
            "calibration": self.calibration,
            "fit": {
                **res.to_dict(),
                "member_stop_reasons": st.get("member_stop_reasons", [res.stop_reason]),
                "member_iterations": st.get("member_iterations", [res.iterations]),
            },
            "scaling": {
                "inverted": True,
                "min": dict(zip(self.genes, st["scaling"]["min"].tolist(), strict=True)),
                "max": dict(zip(self.genes, st["scaling"]["max"].tolist(), strict=True)),
            },
            "batch_shifts": st["batch_shifts"],
            "batch_level": st["batch_level"],
            "batch_sizes": st["batch_sizes"],
            "lh_range": list(st["lh_range"]),
            "asynchrony_threshold": res.asynchrony_threshold,
            "asynchrony_threshold_method": (
                "median of bootstrap broken-stick thresholds"
                if self.threshold_rule == "bagged"
                else "broken-stick (segmented) fit to sorted cohort scores"
            ),
            "asynchrony_threshold_segmented": st["threshold_segmented"],
            "asynchrony_threshold_psi": st["threshold_psi"],
            "asynchrony_threshold_bootstrap": {"q05": lo, "median": mid, "q95": hi},
            "out_of_phase_days": st["out_of_phase_days"],
            "time_map": {
                "pseudotime": st["time_map"][0].tolist(),
                "estimated_lh_day": st["time_map"][1].tolist(),
            },
            "curves": curves(st["placement_curves"]),
            "asynchrony_curves": curves(st["asynchrony_curves"]),
            "cohort": {
                "ID": list(res.ids),
                "BATCH": list(res.batch),
                "LH": res.lh_day.tolist(),
                "pseudotime": res.pseudotime.tolist(),
                "estimated_lh_day": res.estimated_lh_day.tolist(),
                "asynchrony_score": res.asynchrony_score.tolist(),
                "expression": {
                    g: st["expression"][:, j].tolist() for j, g in enumerate(self.genes)
                },
            },
        }

    def save(self, path: str | Path) -> Path:
        """Write the reference as versioned JSON (a directory gets ``reference.json``)."""
        p = Path(path)
        if p.is_dir():
            p = p / "reference.json"
        p.write_text(json.dumps(self.to_dict(), indent=1))
        return p

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimingReference:
        """Rebuild a reference saved by :meth:`to_dict`."""
        if d.get("model_version") not in READABLE_MODEL_VERSIONS:
            raise InputError(
                f"unsupported timing reference version {d.get('model_version')!r} "
                f"(this Decidua reads {MODEL_VERSION!r})"
            )
        s = d["settings"]
        ref = cls(
            d["genes"],
            gene_window=s["gene_window"],
            aggregate_window=s["aggregate_window"],
            euclidean_stop=s["euclidean_stop"],
            batch_correct=s["batch_correct"],
            max_iterations=s["max_iterations"],
            patience=s["patience"],
            final=s["final"],
            threshold_rule=s["threshold_rule"],
            # files written before the seed ensemble hold single fits
            n_seeds=s.get("n_seeds", 1),
        )
        genes = ref.genes

        def curves(c: Mapping[str, Any]) -> dict[str, np.ndarray]:
            return {
                "time": np.asarray(c["pseudotime"], float),
                "mean": np.column_stack([c["mean"][g] for g in genes]),
                "sd": np.column_stack([c["sd"][g] for g in genes]),
            }

        coh = d["cohort"]
        score = np.asarray(coh["asynchrony_score"], float)
        thr = float(d["asynchrony_threshold"])
        ref.result = TimingFitResult(
            ids=tuple(coh["ID"]),
            batch=tuple(coh["BATCH"]),
            lh_day=np.asarray(coh["LH"], float),
            pseudotime=np.asarray(coh["pseudotime"], float),
            estimated_lh_day=np.asarray(coh["estimated_lh_day"], float),
            asynchrony_score=score,
            asynchronous=score > thr,
            asynchrony_threshold=thr,
            stop_reason=d["fit"]["stop_reason"],
            distances=tuple(d["fit"]["distances"]),
        )
        bt = d["asynchrony_threshold_bootstrap"]
        ref._state = {
            "scaling": {
                "min": np.array([d["scaling"]["min"][g] for g in genes]),
                "max": np.array([d["scaling"]["max"][g] for g in genes]),
            },
            "batch_shifts": {str(k): float(v) for k, v in d["batch_shifts"].items()},
            "batch_level": float(d["batch_level"]),
            "batch_sizes": dict(d["batch_sizes"]),
            "lh_range": tuple(d["lh_range"]),
            "final_gene_window": s["final_gene_window"],
            "final_aggregate_window": s["final_aggregate_window"],
            "placement_curves": curves(d["curves"]),
            "asynchrony_curves": curves(d["asynchrony_curves"]),
            "time_map": (
                np.asarray(d["time_map"]["pseudotime"], float),
                np.asarray(d["time_map"]["estimated_lh_day"], float),
            ),
            "threshold_psi": d["asynchrony_threshold_psi"],
            "threshold_segmented": d["asynchrony_threshold_segmented"],
            "threshold_bootstrap": (bt["q05"], bt["median"], bt["q95"]),
            "out_of_phase_days": float(d["out_of_phase_days"]),
            "expression": np.column_stack([coh["expression"][g] for g in genes]),
            "seed": s["seed"],
            "member_seeds": s.get("member_seeds", [s["seed"]]),
            "member_stop_reasons": d["fit"].get("member_stop_reasons", [d["fit"]["stop_reason"]]),
            "member_iterations": d["fit"].get("member_iterations", [d["fit"]["iterations"]]),
        }
        ref.calibration = d.get("calibration")
        ref.provenance = dict(d.get("provenance") or {})
        return ref

    @classmethod
    def load(cls, path: str | Path) -> TimingReference:
        """Read a reference written by :meth:`save` (a file or a directory)."""
        p = Path(path)
        if p.is_dir():
            p = p / "reference.json"
        if not p.exists():
            raise InputError("timing reference not found", file=str(p))
        try:
            d = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not a timing reference file ({exc})", file=str(p)) from None
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"damaged timing reference (missing {exc})", file=str(p)) from None


# --------------------------------------------------------------------------------------
# The default reference shipped with Decidua
# --------------------------------------------------------------------------------------

#: Command that regenerates the shipped default reference.
DEFAULT_REFERENCE_COMMAND = "python -m decidua.assays.timing --write-default-reference"


def training_data_sha256() -> str:
    """sha256 of the shipped EndoTime ``training_data.csv`` (file bytes)."""
    ref = resources.files("decidua.reference").joinpath("endotime/training_data.csv")
    return hashlib.sha256(ref.read_bytes()).hexdigest()


def default_reference_path() -> Path:
    """Path of the shipped default reference (``reference/endotime/reference.json``)."""
    return Path(str(resources.files("decidua.reference").joinpath("endotime/reference.json")))


def fit_default_reference(*, calibrate: bool = True) -> TimingReference:
    """Fit the default reference: EndoTime's training data, default settings, seed 1.

    Default settings include the seed ensemble (``DEFAULT_N_SEEDS`` members,
    :func:`ensemble_seeds`); members and their seeds are in the provenance.

    Parameters
    ----------
    calibrate
        Also run the leave-one-batch-out interval calibration (9 extra fits).

    Returns
    -------
    TimingReference
        Fitted with ``seed=DEFAULT_REFERENCE_SEED``, with provenance (data sha256,
        seed, model and Decidua versions, regeneration command).
    """
    data = load_endotime_training_data()
    ref = TimingReference().fit(data, seed=DEFAULT_REFERENCE_SEED)
    if calibrate:
        ref.calibrate(data)
    ref.provenance.update(
        {
            "data": "EndoTime training_data.csv (257 biopsies, GPL-3; see README.md)",
            "data_sha256": training_data_sha256(),
            "command": DEFAULT_REFERENCE_COMMAND,
        }
    )
    return ref


def write_default_reference(path: str | Path | None = None) -> Path:
    """Refit the default reference and write it (default: the shipped file).

    Parameters
    ----------
    path
        Output file or directory; default :func:`default_reference_path`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    return fit_default_reference().save(path if path is not None else default_reference_path())


def load_default_reference() -> TimingReference:
    """The default reference shipped with Decidua (fitted by :func:`fit_default_reference`).

    Raises
    ------
    InputError
        If the shipped file is missing (regenerate with ``DEFAULT_REFERENCE_COMMAND``).
    """
    ref = resources.files("decidua.reference").joinpath("endotime/reference.json")
    if not ref.is_file():
        raise InputError(
            f"the default timing reference is not installed (run {DEFAULT_REFERENCE_COMMAND})"
        )
    return TimingReference.from_dict(json.loads(ref.read_text()))


# --------------------------------------------------------------------------------------
# Timing-adjusted centiles
# --------------------------------------------------------------------------------------

#: Quantile levels fitted to read any centile off (0.025 steps; includes the standard five).
CENTILE_GRID: tuple[float, ...] = tuple(np.round(np.arange(0.025, 0.976, 0.025), 3).tolist())
#: Spline basis: cubic B-spline with this many interior knots (at time quantiles).
CENTILE_INTERIOR_KNOTS = 2


def _bspline_basis(t: np.ndarray, knots: np.ndarray) -> np.ndarray:
    from scipy.interpolate import BSpline

    lo, hi = knots[0], knots[-1]
    tt = np.clip(np.asarray(t, float), lo, hi)
    full = np.concatenate([[lo] * 3, knots, [hi] * 3])
    return BSpline.design_matrix(tt, full, 3).toarray()


@dataclass(frozen=True)
class CentileScores:
    """Centile and z-score of marker values at their estimated cycle times."""

    time: np.ndarray
    value: np.ndarray
    centile: np.ndarray
    z_score: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"time": self.time, "value": self.value, "centile": self.centile, "z": self.z_score}
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v.tolist() for k, v in self.to_frame().items()}


class TimingCentiles:
    """Reference centile curves of a per-biopsy marker over estimated cycle time.

    Linear quantile regression (statsmodels ``QuantReg``; Koenker & Bassett,
    Econometrica 1978) on a cubic B-spline basis of time, one fit per level
    of :data:`CENTILE_GRID`; predicted quantiles are sorted at each time
    (monotone rearrangement, Chernozhukov, Fernández-Val & Galichon,
    Econometrica 2010) so curves never cross.
    """

    def __init__(self, marker: str = "marker", time_name: str = "estimated_lh_day") -> None:
        self.marker = marker
        self.time_name = time_name
        self.knots: np.ndarray | None = None
        self.coef: np.ndarray | None = None  # (levels, basis)
        self.n: int = 0

    def fit(self, time: Iterable[float], value: Iterable[float]) -> TimingCentiles:
        """Fit the centile curves on reference (time, value) pairs."""
        from statsmodels.regression.quantile_regression import QuantReg

        t = np.asarray(list(time), float)
        v = np.asarray(list(value), float)
        ok = np.isfinite(t) & np.isfinite(v)
        t, v = t[ok], v[ok]
        if len(t) < 30:
            raise ModelError(f"{len(t)} reference values; at least 30 are needed for centiles")
        inner = np.quantile(t, np.linspace(0, 1, CENTILE_INTERIOR_KNOTS + 2)[1:-1])
        self.knots = np.concatenate([[t.min()], inner, [t.max()]])
        basis = _bspline_basis(t, self.knots)
        coefs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for q in CENTILE_GRID:
                coefs.append(QuantReg(v, basis).fit(q=q, max_iter=5000).params)
        self.coef = np.asarray(coefs)
        self.n = len(t)
        return self

    def _req(self) -> tuple[np.ndarray, np.ndarray]:
        if self.knots is None or self.coef is None:
            raise ModelError("centiles have not been fitted or loaded")
        return self.knots, self.coef

    def quantiles(self, time: Iterable[float] | float) -> np.ndarray:
        """(n_times, len(CENTILE_GRID)) predicted quantiles, rearranged to be monotone."""
        knots, coef = self._req()
        t = np.atleast_1d(np.asarray(time, float))
        return np.sort(_bspline_basis(t, knots) @ coef.T, axis=1)

    def curves(self, time: Iterable[float], levels: Sequence[float] = STANDARD_CENTILES):
        """Table of the requested centile curves at ``time``."""
        q = self.quantiles(time)
        grid = np.asarray(CENTILE_GRID)
        out = {self.time_name: np.atleast_1d(np.asarray(time, float))}
        for lev in levels:
            j = int(np.argmin(np.abs(grid - lev)))
            out[f"p{round(lev * 100):g}"] = q[:, j]
        return pd.DataFrame(out)

    def score(self, time: Iterable[float], value: Iterable[float]) -> CentileScores:
        """Centile (0-1) and z-score of each value at its time.

        Inside the fitted grid the centile is interpolated between quantile
        curves; beyond it the z-score extrapolates with the normal scale
        implied by the outermost curves, and the centile follows from it.
        """
        t = np.atleast_1d(np.asarray(list(np.atleast_1d(time)), float))
        v = np.atleast_1d(np.asarray(list(np.atleast_1d(value)), float))
        q = self.quantiles(t)
        grid = np.asarray(CENTILE_GRID)
        zg = stats.norm.ppf(grid)
        z = np.empty(len(v))
        for i in range(len(v)):
            qi = q[i]
            if v[i] < qi[0] or v[i] > qi[-1]:
                j = 0 if v[i] < qi[0] else -1
                med = np.interp(0.0, zg, qi)
                scale = (qi[j] - med) / zg[j] if qi[j] != med else 1.0
                z[i] = (v[i] - med) / scale if scale > 0 else zg[j]
            else:
                uq, first = np.unique(qi, return_index=True)
                z[i] = np.interp(v[i], uq, zg[first])
        return CentileScores(time=t, value=v, centile=stats.norm.cdf(z), z_score=z)

    def to_dict(self) -> dict[str, Any]:
        knots, coef = self._req()
        return {
            "model_version": CENTILES_VERSION,
            "marker": self.marker,
            "time_name": self.time_name,
            "levels": list(CENTILE_GRID),
            "knots": knots.tolist(),
            "coef": coef.tolist(),
            "n": self.n,
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1))
        return p

    @classmethod
    def load(cls, path: str | Path) -> TimingCentiles:
        p = Path(path)
        if not p.exists():
            raise InputError("centile model not found", file=str(p))
        d = json.loads(p.read_text())
        if d.get("model_version") != CENTILES_VERSION:
            raise InputError(f"unsupported centile model version {d.get('model_version')!r}")
        c = cls(d["marker"], d["time_name"])
        c.knots = np.asarray(d["knots"], float)
        c.coef = np.asarray(d["coef"], float)
        c.n = int(d["n"])
        return c


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------


def _figure(nrows: int = 1, ncols: int = 1, **kw: Any):  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def plot_gene_curves(
    reference: TimingReference,
    placement: Placement | None = None,
    new_biopsies: pd.DataFrame | None = None,
):  # type: ignore[no-untyped-def]
    """Per-gene curves (mean ± SD) over estimated LH day with the cohort's points.

    ``placement`` with the matching ``new_biopsies`` table highlights new biopsies.
    Returns a matplotlib Figure (Agg; no display needed).
    """
    res = reference._require()
    st = reference._state
    genes = reference.genes
    ncols = 3
    nrows = int(math.ceil(len(genes) / ncols))
    fig, axes = _figure(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), layout="constrained")
    c = st["placement_curves"]
    tc = reference.to_lh_day(c["time"])
    xs_new = None
    if placement is not None and new_biopsies is not None:
        data = validate_timing_table(new_biopsies, genes, require_lh=False)
        xs_new = reference.scale(data)
    for j, g in enumerate(genes):
        ax = axes[j // ncols][j % ncols]
        ax.scatter(res.estimated_lh_day, st["expression"][:, j], s=6, c="0.6", label="reference")
        ax.plot(tc, c["mean"][:, j], c="C0", lw=2, label="curve")
        ax.fill_between(
            tc,
            c["mean"][:, j] - c["sd"][:, j],
            c["mean"][:, j] + c["sd"][:, j],
            color="C0",
            alpha=0.2,
        )
        if xs_new is not None and placement is not None:
            ax.scatter(
                placement.estimated_lh_day,
                xs_new[:, j],
                s=40,
                c="C3",
                marker="*",
                zorder=5,
                label="new biopsy",
            )
        ax.set_title(g)
        ax.set_xlabel("estimated LH+ day")
        ax.set_ylabel("scaled −ΔCt")
    for k in range(len(genes), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Timing reference (research use only; not a diagnostic device)", fontsize=9)
    return fig


def plot_asynchrony(reference: TimingReference):  # type: ignore[no-untyped-def]
    """Sorted asynchrony scores of the reference with the threshold."""
    res = reference._require()
    fig, axes = _figure(figsize=(5, 3.5), layout="constrained")
    ax = axes[0][0]
    y = np.sort(res.asynchrony_score)
    ax.plot(np.arange(1, len(y) + 1), y, ".", ms=3)
    ax.axhline(res.asynchrony_threshold, c="C3", ls="--", label="threshold")
    ax.set_xlabel("rank")
    ax.set_ylabel("asynchrony score (days)")
    ax.legend()
    return fig


def plot_centiles(centiles: TimingCentiles, time: float | None = None, value: float | None = None):  # type: ignore[no-untyped-def]
    """Centile chart (5/10/50/90/95) over cycle time, with a patient's value."""
    knots, _ = centiles._req()
    grid = np.linspace(knots[0], knots[-1], 100)
    tab = centiles.curves(grid)
    fig, axes = _figure(figsize=(5.5, 4), layout="constrained")
    ax = axes[0][0]
    for col in tab.columns[1:]:
        ax.plot(grid, tab[col], c="C0", lw=2 if col == "p50" else 1, label=col)
    if time is not None and value is not None:
        ax.plot([time], [value], "*", c="C3", ms=14, label="patient")
    ax.set_xlabel(centiles.time_name)
    ax.set_ylabel(centiles.marker)
    ax.legend(fontsize=7)
    ax.set_title("research use only; not a diagnostic device", fontsize=8)
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m decidua.assays.timing --write-default-reference [PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m decidua.assays.timing", description="Endometrial timing maintenance."
    )
    parser.add_argument(
        "--write-default-reference",
        nargs="?",
        const="",
        metavar="PATH",
        help="refit the shipped default reference (seed 1, calibrated) and write it "
        "(default: the file inside the package)",
    )
    args = parser.parse_args(argv)
    if args.write_default_reference is None:
        parser.print_help()
        return 2
    out = write_default_reference(args.write_default_reference or None)
    print(f"wrote {out}")
    return 0


__all__ = [
    "DEFAULT_REFERENCE_SEED",
    "GENES",
    "MIN_NEW_BATCH_SIZE",
    "MODEL_VERSION",
    "CentileScores",
    "Placement",
    "TimingCentiles",
    "TimingFitResult",
    "TimingReference",
    "default_reference_path",
    "fit_default_reference",
    "load_default_reference",
    "load_endotime_training_data",
    "platt_apply",
    "platt_fit",
    "plot_asynchrony",
    "plot_centiles",
    "plot_gene_curves",
    "reliability",
    "segmented_threshold",
    "training_data_sha256",
    "validate_timing_table",
    "write_default_reference",
]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
