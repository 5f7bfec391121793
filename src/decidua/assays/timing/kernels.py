"""Compiled (numba) window kernels of the ordering: window statistics, leave-one-out densities.

Only fitting imports this module (and numba); placing biopsies on a saved reference
uses the numpy functions of :mod:`decidua.assays.timing.density`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

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
def _loo_point(t, x, p, gw, full_med, full_mean, full_sd, med, dens):  # pragma: no cover
    """Leave point ``p`` out: the window medians ``med`` (m) and the normalised
    per-gene densities ``dens`` (m × g) of its values, written in place.

    Windows of the reduced set that do not straddle ``p`` take the full set's
    statistics (``full_*``); the ``gw - 1`` straddling ones are computed here.
    The one loop body of :func:`_loo_densities` and :func:`_assign_times`.
    """
    n, g = x.shape
    m = n - 1 - gw + 1
    c = 1.0 / math.sqrt(2.0 * math.pi)
    # straddling windows k = lo..hi hold reduced points lo .. hi + gw - 1
    lo = max(p - gw + 1, 0)
    hi = min(p - 1, m - 1)
    nk = hi - lo + 1
    if nk > 0:
        npts = nk + gw - 1
        rt = np.empty(npts)
        rx = np.empty((npts, g))
        for j in range(npts):
            r = lo + j  # reduced index -> full index
            i = r if r < p else r + 1
            rt[j] = t[i]
            for q in range(g):
                rx[j, q] = x[i, q]
        s_med, s_mean, s_sd = _window_stats(rt, rx, gw)
    else:
        s_med = np.empty(0)
        s_mean = np.empty((0, g))
        s_sd = np.empty((0, g))
    for k in range(m):
        if k < lo:
            med[k] = full_med[k]
        elif k > hi:
            med[k] = full_med[k + 1]
        else:
            med[k] = s_med[k - lo]
    for q in range(g):
        tot = 0.0
        xv = x[p, q]
        for k in range(m):
            if k < lo:
                mu = full_mean[k, q]
                sdv = full_sd[k, q]
            elif k > hi:
                mu = full_mean[k + 1, q]
                sdv = full_sd[k + 1, q]
            else:
                mu = s_mean[k - lo, q]
                sdv = s_sd[k - lo, q]
            z = (xv - mu) / sdv
            d = c * math.exp(-0.5 * z * z) / sdv
            dens[k, q] = d
            tot += d
        if tot > 0:
            for k in range(m):
                dens[k, q] /= tot


@numba.njit(cache=True, parallel=True)
def _loo_densities(t, x, pos, gw):  # pragma: no cover - compiled
    """Leave-one-out normalised per-gene densities.

    For each point ``pos[u]`` of the sorted arrays ``t``/``x``, drop it, slide
    windows of ``gw`` over the rest and evaluate the normal density of its
    values; each gene's curve is normalised to sum 1.

    Shared work: a window of the reduced set that does not straddle the dropped
    point holds the same points, in the same order, as a window of the full set
    (the same index before the point, one further after it), so its statistics
    are those of the full set's window, computed once. Only the ``gw - 1``
    straddling windows are computed per point; the arithmetic of every window is
    that of :func:`_window_stats`, so the result is bit-identical to recomputing
    every window of every reduced set. Points are processed in parallel
    (independent: the result does not depend on the number of threads).
    """
    n, g = x.shape
    nu = pos.shape[0]
    m = n - 1 - gw + 1
    med_out = np.empty((nu, m))
    dens = np.empty((nu, m, g))
    full_med, full_mean, full_sd = _window_stats(t, x, gw)
    for u in numba.prange(nu):
        _loo_point(t, x, pos[u], gw, full_med, full_mean, full_sd, med_out[u], dens[u])
    return med_out, dens


@numba.njit(cache=True, parallel=True)
def _assign_times(t, x, pos, gw, aw):  # pragma: no cover - compiled
    """One ordering step in one pass: each point's time of peak aggregate density.

    The fused form of :func:`_loo_densities` followed by
    :func:`decidua.assays.timing.density._aggregate` and the arg-max of
    :func:`decidua.assays.timing.ordering._assign` (gene mean, mirroring at both
    ends, running mean over ``aw`` windows), with the same arithmetic in the same
    order, so the times are bit-identical; no (points, windows, genes) array is
    built. Points are processed in parallel.
    """
    n, g = x.shape
    nu = pos.shape[0]
    m = n - 1 - gw + 1
    r = aw // 2
    length = m + 2 * r
    nb = length - aw
    out = np.empty(nu)
    full_med, full_mean, full_sd = _window_stats(t, x, gw)
    for u in numba.prange(nu):
        med = np.empty(m)
        dens = np.empty((m, g))
        _loo_point(t, x, pos[u], gw, full_med, full_mean, full_sd, med, dens)
        # gene mean (numpy's add.reduce over a short axis, then the division)
        dm = np.empty(m)
        for k in range(m):
            s = 0.0
            for q in range(g):
                s += dens[k, q]
            dm[k] = s / g
        # mirror at both ends
        et = np.empty(length)
        ed = np.empty(length)
        for j in range(r):
            et[j] = 2 * med[0] - med[r - j]
            ed[j] = 2 * dm[0] - dm[r - j]
            et[r + m + j] = 2 * med[m - 1] - med[m - 2 - j]
            ed[r + m + j] = 2 * dm[m - 1] - dm[m - 2 - j]
        for k in range(m):
            et[r + k] = med[k]
            ed[r + k] = dm[k]
        cs = np.empty(length + 1)
        cs[0] = 0.0
        acc = ed[0]
        cs[1] = acc
        for k in range(1, length):
            acc = acc + ed[k]
            cs[k + 1] = acc
        best = 0
        best_score = (cs[aw] - cs[0]) / aw
        for i in range(1, nb):
            sc = (cs[aw + i] - cs[i]) / aw
            if sc > best_score:
                best_score = sc
                best = i
        if aw % 2 == 0:
            out[u] = 0.5 * (et[aw // 2 - 1 + best] + et[aw // 2 + best])
        else:
            out[u] = et[aw // 2 + best]
    return out
