"""Dish and well detection: Hough circles fitted to the layout's grid,
radius refined to the inner edge of the well wall.

The Hough circle transform (``cv2.HoughCircles``) runs on a downscaled,
blurred grey image; for multi-well layouts the circles are fitted to the
layout's rows x columns grid and named A1, A2 ... The detected diameter
calibrates the pixel size from the nominal well diameter
(:mod:`~decidua.assays.clonogenicity.layouts`)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from decidua.assays.clonogenicity._opencv import _single_threaded
from decidua.assays.clonogenicity.layouts import SBS_FOOTPRINT_MM, Layout, get_layout
from decidua.errors import InputError

#: The wall found by radial refinement must lie beyond this fraction of the
#: Hough radius (a wall is ~1 mm thick; dishes can show inner rings).
MIN_REFINE_FRACTION = 0.95
#: Longest side (px) of the image used for circle detection.
DETECT_SIDE_PX = 480


def _detect_circles(
    grey_small: np.ndarray, r_min: int, r_max: int, min_dist: float, strict: bool = False
) -> np.ndarray:
    """Hough circles (x, y, r) in the small image, strongest first."""
    blurred = cv2.GaussianBlur(grey_small, (0, 0), 2.0)
    # strict first; lower Canny / accumulator thresholds for faint dish edges
    passes = ((60, 40),) if strict else ((60, 40), (60, 30), (40, 30), (40, 22), (25, 22))
    for edge_thr, acc in passes:
        circles = cv2.HoughCircles(
            blurred, cv2.HOUGH_GRADIENT, dp=1.0, minDist=min_dist, param1=edge_thr, param2=acc,
            minRadius=r_min, maxRadius=r_max,
        )
        if circles is not None and len(circles[0]) > 0:
            return circles[0]
    return np.zeros((0, 3), np.float32)


@_single_threaded
def detect_wells(
    image: np.ndarray, layout: str | Layout = "dish", *, strict: bool = False
) -> pd.DataFrame:
    """Find the dish or the wells of a plate.

    Parameters
    ----------
    image
        RGB ``uint8`` image (or its grey version, 2-D ``uint8``).
    layout
        Layout name or :class:`Layout`.
    strict
        Only the strictest Hough thresholds (used to test whether a dish
        image is in fact a multi-well plate).

    Returns
    -------
    DataFrame
        ``well, cx, cy, radius_px`` in full-image pixels, in well order.

    Raises
    ------
    InputError
        If the expected dish / wells are not found (wrong layout?).

    Examples
    --------
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> wells = detect_wells(plate.image, "dish")
    >>> list(wells.columns), wells["well"].tolist()
    (['well', 'cx', 'cy', 'radius_px'], ['dish'])
    >>> bool(abs(wells["radius_px"].iloc[0] - plate.wells["radius_px"].iloc[0]) < 15)
    True
    """
    lay = layout if isinstance(layout, Layout) else get_layout(layout)
    h, w = image.shape[:2]
    f = DETECT_SIDE_PX / max(h, w)
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA)
    sh, sw = small.shape
    if lay.name == "dish":
        r_lo, r_hi = int(0.30 * min(sh, sw)), int(0.53 * max(sh, sw))
        circles = _detect_circles(small, r_lo, r_hi, min_dist=max(sh, sw))
        # the dish must be big and mostly inside the frame
        ok = [
            c for c in circles
            if c[2] >= 0.30 * min(sh, sw)
            and -0.1 * c[2] <= c[0] - c[2] + 0 and c[0] + c[2] <= sw + 0.1 * c[2]
            and -0.1 * c[2] <= c[1] - c[2] and c[1] + c[2] <= sh + 0.1 * c[2]
        ]
        if not ok:
            raise InputError(
                "no dish found in the image (is the layout right? a whole dish must be visible)"
            )
        for other in ("6-well", "12-well", "24-well"):
            try:
                detect_wells(small, other, strict=True)  # same scale, no re-conversion
            except InputError:
                continue
            raise InputError(
                f"the image looks like a {other} plate, not a single dish "
                f"(use --layout {other})"
            )
        cx, cy, r = ok[0]
        return pd.DataFrame([{"well": "dish", "cx": cx / f, "cy": cy / f, "radius_px": r / f}])

    # multi-well: expected radius from the plate width (image ~ plate footprint)
    span_mm = max(SBS_FOOTPRINT_MM[0], lay.cols * lay.pitch_mm)
    r_exp = lay.well_diameter_mm / 2 / span_mm * sw
    circles = _detect_circles(
        small, int(0.6 * r_exp), int(1.35 * r_exp), min_dist=1.4 * r_exp, strict=strict
    )
    if len(circles) < lay.n_wells:
        raise InputError(
            f"found {len(circles)} of {lay.n_wells} wells for layout {lay.name!r} "
            "(is the layout right? the whole plate must be in the picture)"
        )
    # keep the strongest circles of consistent radius, then fit the grid
    med_r = float(np.median(circles[: lay.n_wells, 2]))
    good = circles[np.abs(circles[:, 2] - med_r) < 0.25 * med_r]
    chosen: list[np.ndarray] = []
    for c in good:
        if all(np.hypot(c[0] - d[0], c[1] - d[1]) > 1.5 * med_r for d in chosen):
            chosen.append(c)
        if len(chosen) == lay.n_wells:
            break
    if len(chosen) < lay.n_wells:
        raise InputError(
            f"found {len(chosen)} of {lay.n_wells} wells for layout {lay.name!r} "
            "(is the layout right?)"
        )
    arr = np.array(chosen)
    arr = arr[np.argsort(arr[:, 1])]
    rows = [arr[i * lay.cols:(i + 1) * lay.cols] for i in range(lay.rows)]
    gaps = np.diff(np.sort(arr[:, 0]))
    pitch = float(np.median(gaps[gaps > med_r])) if lay.cols > 1 else 2.0 * med_r
    out = []
    names = lay.well_names()
    col_x = None
    grid_msg = f"wells do not form a {lay.rows}x{lay.cols} grid (is the layout right?)"
    for ri, row in enumerate(rows):
        row = row[np.argsort(row[:, 0])]
        if np.ptp(row[:, 1]) > 0.5 * pitch:
            raise InputError(grid_msg)
        if col_x is None:
            col_x = row[:, 0]
        elif np.max(np.abs(row[:, 0] - col_x)) > 0.5 * pitch:
            raise InputError(grid_msg)
        for ci, c in enumerate(row):
            out.append({"well": names[ri * lay.cols + ci], "cx": c[0] / f, "cy": c[1] / f,
                        "radius_px": c[2] / f})
    return pd.DataFrame(out)


def refine_well_radius(grey: np.ndarray, cx: float, cy: float, r: float) -> float:
    """Move a detected circle's radius to the inner edge of the well wall.

    Hough may lock onto the outer edge of a dark wall. The angular median of
    the grey level (``cv2.warpPolar``) is scanned outwards from 0.8 r; the
    inner edge is where it first falls half-way from the well's level to the
    darkest level of the wall.

    Examples
    --------
    >>> import cv2
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> grey = cv2.cvtColor(plate.image, cv2.COLOR_RGB2GRAY)
    >>> w = detect_wells(grey, "dish").iloc[0]
    >>> r = refine_well_radius(grey, w.cx, w.cy, w.radius_px)
    >>> bool(0.9 * w.radius_px <= r <= 1.2 * w.radius_px)
    True
    """
    n_rho = max(64, int(1.2 * r))
    # samples falling outside the image are filled (WARP_FILL_OUTLIERS) and
    # excluded: without the flag OpenCV leaves them uninitialised, which made
    # the radius - and the count - depend on earlier memory contents (OpenCFU
    # sample B.png: 701 or 831 px, 61 or 74 colonies, in different runs)
    flags = cv2.WARP_POLAR_LINEAR | cv2.WARP_FILL_OUTLIERS
    centre, size = (float(cx), float(cy)), (n_rho, 360)
    polar = cv2.warpPolar(grey, size, centre, 1.2 * r, flags).astype(np.float64)
    # which polar samples fall inside the image (OpenCV's sample positions)
    theta = np.arange(360) * (2.0 * math.pi / 360.0)
    rad = np.arange(n_rho) * (1.2 * r / n_rho)
    xs = float(cx) + np.cos(theta)[:, None] * rad[None, :]
    ys = float(cy) + np.sin(theta)[:, None] * rad[None, :]
    h_img, w_img = grey.shape[:2]
    inside = (xs >= 0) & (xs <= w_img - 1) & (ys >= 0) & (ys <= h_img - 1)
    polar = np.where(inside, polar, np.nan)
    ok_cols = np.isfinite(polar).any(axis=0)
    if not ok_cols.any():
        return r
    prof = np.full(n_rho, np.nan)
    # plain median where no sample fell outside the image (much faster)
    has_nan = np.isnan(polar).any(axis=0)
    full, part = ok_cols & ~has_nan, ok_cols & has_nan
    # (per radius, on a contiguous radius-major copy: the same medians, faster)
    prof[full] = np.median(np.ascontiguousarray(polar[:, full].T), axis=1)
    if part.any():
        prof[part] = np.nanmedian(polar[:, part], axis=0)
    rho = np.arange(n_rho) * (1.2 * r / n_rho)
    inner = prof[(rho > 0.5 * r) & (rho < 0.8 * r)]
    inner = inner[np.isfinite(inner)]
    zone = (rho >= 0.8 * r) & (rho <= 1.15 * r) & np.isfinite(prof)
    if inner.size == 0 or not zone.any():
        return r
    base = float(np.median(inner))
    dark = float(prof[zone].min())
    if base - dark < 10.0:  # no visible wall: keep the Hough radius
        return r
    level = base - 0.5 * (base - dark)
    idx = np.flatnonzero(zone & (prof < level))
    if not idx.size or rho[idx[0]] < MIN_REFINE_FRACTION * r:
        return r  # an inner ring far inside the circle is not the wall
    return float(rho[idx[0]])
