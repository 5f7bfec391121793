"""Seeded synthetic CD56 / haematoxylin fields with known counts (tests, demo).

Built by Beer-Lambert from the Ruifrok-Johnston stain vectors
(:data:`~decidua.assays.unk.image.RUIFROK_H`, ``RUIFROK_DAB``): per pixel,
``I / I0 = 10 ** -(h v_H + d v_DAB)`` with ``v`` the unit vectors and ``h, d``
the stain amounts (base-10 OD), then 8-bit quantisation.

Field model (synthetic choices, stated so tests can rely on them):
``n_stromal`` haematoxylin-only nuclei and ``n_cd56`` uNK cells placed at
random with centres at least ``min_sep`` nucleus diameters apart (default
0.9: some nuclei touch); each nucleus an ellipse of mean diameter
``nucleus_diameter_px`` (axes x U(0.8, 1.2), random angle) with haematoxylin
OD U(0.35, 0.7); each uNK cell also a DAB-stained cell body, an ellipse 1.8x
the nucleus with DAB OD U(0.3, 0.7) (its nucleus on top, haematoxylin
U(0.25, 0.5)); background haematoxylin 0.03 and DAB 0.02 OD with Gaussian
texture (SD 0.01), the stain maps blurred (sigma 1 px), and Gaussian
intensity noise (SD 1.5 of 255).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from decidua.assays.unk.image import RUIFROK_DAB, RUIFROK_H


@dataclass(frozen=True)
class SyntheticField:
    """A synthetic field and its truth."""

    image: np.ndarray
    n_stromal: int
    n_cd56: int
    centres: tuple[tuple[float, float, bool], ...]
    haematoxylin: np.ndarray
    dab: np.ndarray


def compose(haematoxylin: np.ndarray, dab: np.ndarray, *, noise_sd: float = 0.0,
            seed: int = 0) -> np.ndarray:
    """RGB ``uint8`` image from haematoxylin and DAB amounts (base-10 OD), Beer-Lambert."""
    vh = np.asarray(RUIFROK_H) / np.linalg.norm(RUIFROK_H)
    vd = np.asarray(RUIFROK_DAB) / np.linalg.norm(RUIFROK_DAB)
    od = haematoxylin[..., None] * vh + dab[..., None] * vd
    rgb = 255.0 * 10.0 ** -od
    if noise_sd > 0:
        rgb = rgb + np.random.default_rng(seed).normal(0.0, noise_sd, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float,
             angle: float) -> tuple[slice, slice, np.ndarray]:
    """The ellipse's bounding box (two slices) and its mask inside that box."""
    r = int(np.ceil(max(rx, ry))) + 1
    y0, y1 = max(0, int(cy) - r), min(shape[0], int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(shape[1], int(cx) + r + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    y, x = yy - cy, xx - cx
    ca, sa = np.cos(angle), np.sin(angle)
    u = (x * ca + y * sa) / rx
    v = (-x * sa + y * ca) / ry
    return slice(y0, y1), slice(x0, x1), (u * u + v * v) <= 1.0


def make_field(
    n_stromal: int,
    n_cd56: int,
    *,
    seed: int,
    size: tuple[int, int] = (384, 384),
    nucleus_diameter_px: float = 12.0,
    min_sep: float = 0.9,
) -> SyntheticField:
    """One synthetic field with ``n_stromal`` + ``n_cd56`` cells (fewer if they do not fit).

    Examples
    --------
    >>> f = make_field(60, 8, seed=0)
    >>> f.image.shape, f.image.dtype, f.n_stromal + f.n_cd56 <= 68
    ((384, 384, 3), dtype('uint8'), True)
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    hgt, wid = size
    d = float(nucleus_diameter_px)
    kinds = [False] * n_stromal + [True] * n_cd56
    rng.shuffle(kinds)
    centres: list[tuple[float, float, bool]] = []
    margin = d
    for is_unk in kinds:
        for _ in range(200):
            cy, cx = rng.uniform(margin, hgt - margin), rng.uniform(margin, wid - margin)
            sep = min_sep * d * (1.6 if is_unk else 1.0)
            if all((cy - y) ** 2 + (cx - x) ** 2 >= sep * sep for y, x, _ in centres):
                centres.append((float(cy), float(cx), is_unk))
                break
    h = 0.03 + rng.normal(0.0, 0.01, size)
    dab = 0.02 + rng.normal(0.0, 0.01, size)
    for cy, cx, is_unk in centres:
        if is_unk:
            r = 0.9 * d * rng.uniform(0.9, 1.1)
            sy, sx, body = _ellipse(size, cy, cx, r, r * rng.uniform(0.8, 1.2),
                                    rng.uniform(0, np.pi))
            dab[sy, sx][body] = rng.uniform(0.3, 0.7)
    for cy, cx, is_unk in centres:
        ry = d / 2 * rng.uniform(0.8, 1.2)
        rx = d / 2 * rng.uniform(0.8, 1.2)
        sy, sx, nuc = _ellipse(size, cy, cx, ry, rx, rng.uniform(0, np.pi))
        h[sy, sx][nuc] = rng.uniform(0.25, 0.5) if is_unk else rng.uniform(0.35, 0.7)
    h = np.clip(gaussian_filter(h, 1.0), 0, None)
    dab = np.clip(gaussian_filter(dab, 1.0), 0, None)
    img = compose(h, dab, noise_sd=1.5, seed=seed + 1)
    n_unk = sum(1 for c in centres if c[2])
    return SyntheticField(image=img, n_stromal=len(centres) - n_unk, n_cd56=n_unk,
                          centres=tuple(centres), haematoxylin=h, dab=dab)
