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
