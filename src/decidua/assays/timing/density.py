"""Density curves of biopsies on window statistics (numpy): frozen-window densities,
end mirroring and aggregation over windows, per-gene peak times."""

from __future__ import annotations

import numpy as np

from decidua.errors import ModelError


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


def _gene_peak_times(med: np.ndarray, dens: np.ndarray) -> np.ndarray:
    """(n, g) times of each gene's density peak."""
    idx = np.argmax(dens, axis=1)
    if med.ndim == 1:
        return med[idx]
    return np.take_along_axis(med, idx, axis=1)
