"""The iterative ordering (EndoTime's training loop) and its building blocks.

Pseudo-points beyond both ends, one ordering step, even spreading by rank, the
seeded ordering run with its stop rule, the seeds of a seed ensemble and the
rank -> LH-day map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from decidua.assays.timing.constants import (
    LH_JITTER_DAYS,
    LH_MAP_RADIUS,
    WINDOW_FLOOR,
    WINDOW_STEP,
)
from decidua.assays.timing.kernels import _assign_times, _window_stats
from decidua.assays.timing.state import WindowCurves


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
    """One EndoTime ordering step: the time of peak aggregate density for each biopsy.

    Compiled in one pass (:func:`~decidua.assays.timing.kernels._assign_times`); equal
    bit for bit to :func:`_loo_densities` + :func:`_aggregate` + arg-max.
    """
    st, sx, pos = _with_pseudo(times, x, gw)
    return _assign_times(st, sx, pos, gw, aw)


def _even_ranks(raw: np.ndarray, tie_key: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Spread biopsies evenly over ``grid`` by rank of ``raw``, ties ordered by ``tie_key``."""
    order = np.lexsort((tie_key, raw))
    out = np.empty_like(raw)
    out[order] = grid
    return out



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

    Examples
    --------
    >>> ensemble_seeds(1, 8)
    (16, 17, 18, 19, 20, 21, 22, 23)
    >>> ensemble_seeds(4, 1)
    (4,)
    """
    if n_seeds == 1:
        return (int(seed),)
    start = (int(seed) + 1) * int(n_seeds)
    return tuple(range(start, start + int(n_seeds)))


def _curves(times: np.ndarray, x: np.ndarray, gw: int) -> WindowCurves:
    """Window curves of width ``gw`` over the biopsies' times (pseudo-points included)."""
    st, sx, _ = _with_pseudo(times, x, gw)
    med, mean, sd = _window_stats(st, sx, gw)
    return WindowCurves(time=med, mean=mean, sd=sd)


def order(
    x: np.ndarray,
    lh: np.ndarray,
    rng: np.random.Generator,
    cap: int,
    *,
    gene_window: int,
    aggregate_window: int,
    euclidean_stop: float,
    patience: int,
    final: str,
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
    gene_window, aggregate_window, euclidean_stop, patience, final
        Settings of the reference (see :class:`~decidua.assays.timing.TimingReference`).
    progress
        Optional callable ``progress(iteration, distance, gene_window)``.

    Returns
    -------
    tuple
        Final pseudotimes, distances per iteration and the stop reason.

    Examples
    --------
    One iteration from the reported LH days of the real cohort (scaled ΔCt as in a fit):

    >>> from decidua.assays.timing import GENES, load_endotime_training_data
    >>> df = load_endotime_training_data()
    >>> inv = -df[list(GENES)].to_numpy(float)
    >>> x = (inv - inv.min(0)) / (inv.max(0) - inv.min(0))
    >>> lh = df["LH"].to_numpy(float)
    >>> times, distances, stop = order(x, lh, np.random.default_rng(0), 1, gene_window=80,
    ...     aggregate_window=80, euclidean_stop=2.0, patience=5, final="average")
    >>> times.shape, len(distances), stop
    ((257,), 1, 'cap reached')
    """
    n = len(lh)
    # initial times: LH + uniform jitter, spread evenly by rank (EndoTime)
    jit = lh + rng.uniform(-LH_JITTER_DAYS, LH_JITTER_DAYS, n)
    rank = stats.rankdata(jit)
    slope, icpt = np.polyfit(rank, jit, 1)
    times = icpt + slope * rank
    grid = np.linspace(lh.min(), lh.max(), n)

    gw, aw = gene_window, aggregate_window
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
        if d <= euclidean_stop:
            stop = "converged"
            if d < best_d:
                best_d, best_times = d, new
            break
        if at_floor:
            if d < best_d:
                best_d, best_times, since_best = d, new, 0
            else:
                since_best += 1
                if since_best >= patience:
                    stop = "oscillating"
                    break
        gw = max(gw - WINDOW_STEP, WINDOW_FLOOR)
        aw = max(aw - WINDOW_STEP, WINDOW_FLOOR)
    if floor_orderings:
        if final == "average":
            mean_t = np.mean(floor_orderings, axis=0)
            times = _even_ranks(mean_t, rng.random(n), grid)
        elif final == "best" and best_times is not None:
            times = best_times
    return times, distances, stop

