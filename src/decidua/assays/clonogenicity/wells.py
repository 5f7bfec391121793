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
    try:
        arr = _fit_grid(circles, lay, small, need_all=strict)
    except InputError as first:
        r_hi = 0.55 * min(sh, sw)
        if strict or r_hi <= 1.35 * r_exp:
            raise
        # partly cropped plate: the picture shows part of the plate, so its
        # wells are larger than the whole-plate guess
        circles = _detect_circles(small, int(1.2 * r_exp), int(r_hi), min_dist=1.7 * r_exp)
        try:
            arr = _fit_grid(circles, lay, small, need_all=False)
        except InputError:
            raise first from None
    if pitch_calibrated(lay):
        # the wall is a large part of a small well's radius (Hough takes its
        # inner or outer edge: 96-well, 97 px for 75.5): the radius follows
        # the grid pitch, measured over all the wells
        arr = arr.copy()
        arr[:, 2] = grid_pitch(arr[:, :2], lay) * lay.well_diameter_mm / (2.0 * lay.pitch_mm)
    out = [{"well": name, "cx": x / f, "cy": y / f, "radius_px": r / f}
           for name, (x, y, r) in zip(lay.well_names(), arr, strict=True)]
    return pd.DataFrame(out)


#: Plates with at least this many wells are calibrated by their grid pitch
#: instead of the wells' circles: a well wall (~0.8-1 mm seen from above)
#: is a quarter of a 96-well well's radius (3.2 mm), so the Hough circle,
#: on its inner or outer edge, is off by up to 25 % (a synthetic 96-well
#: plate: 97 px for 75.5, 0 of 191 colonies counted); the pitch (9 mm on a
#: 96-well plate) is measured between well centres over the whole grid.
PITCH_CALIBRATED_FROM_WELLS = 48


def pitch_calibrated(layout: Layout) -> bool:
    """Whether ``layout``'s wells are sized from the grid pitch (48/96-well)."""
    return layout.n_wells >= PITCH_CALIBRATED_FROM_WELLS


def grid_pitch(xy: np.ndarray, layout: Layout) -> float:
    """Median centre-to-centre distance (px) of neighbouring wells.

    ``xy`` holds the ``rows x cols`` well centres in well order (row-major,
    as :func:`detect_wells` returns them).

    Examples
    --------
    >>> from decidua.assays.clonogenicity.layouts import get_layout
    >>> lay = get_layout("96-well")
    >>> xy = np.array([(10 + 20.0 * c, 5 + 20.0 * r) for r in range(8) for c in range(12)])
    >>> grid_pitch(xy, lay)
    20.0
    """
    g = np.asarray(xy, float).reshape(layout.rows, layout.cols, 2)
    steps = [np.hypot(*np.diff(g, axis=1).reshape(-1, 2).T),
             np.hypot(*np.diff(g, axis=0).reshape(-1, 2).T)]
    return float(np.median(np.concatenate(steps)))


def _one_per_cell(idx: np.ndarray, ri: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Keep the first (strongest) circle of each grid position."""
    if idx.size == 0:
        return idx
    _u, first = np.unique(np.stack([ri[idx], ci[idx]], 1), axis=0, return_index=True)
    return idx[np.sort(first)]


def _affine_grid(ci: np.ndarray, ri: np.ndarray, xy: np.ndarray, pitch: float) -> np.ndarray:
    """Least-squares grid ``[c, r, 1] @ coef = (x, y)``: ``coef`` rows are the
    column step, the row step and the origin. With one row (or one column)
    the other step is the perpendicular of the same length."""
    ones = np.ones(ci.size)
    if ci.size >= 3 and np.ptp(ci) > 0 and np.ptp(ri) > 0:
        return np.linalg.lstsq(np.column_stack([ci, ri, ones]), xy, rcond=None)[0]
    if np.ptp(ci) > 0:
        (step, origin) = np.linalg.lstsq(np.column_stack([ci, ones]), xy, rcond=None)[0]
        other = np.array([-step[1], step[0]])
        return np.array([step, other, origin - ri.mean() * other])
    if np.ptp(ri) > 0:
        (step, origin) = np.linalg.lstsq(np.column_stack([ri, ones]), xy, rcond=None)[0]
        other = np.array([step[1], -step[0]])
        return np.array([other, step, origin - ci.mean() * other])
    step_c, step_r = np.array([pitch, 0.0]), np.array([0.0, pitch])
    origin = (xy - np.outer(ci, step_c) - np.outer(ri, step_r)).mean(axis=0)
    return np.array([step_c, step_r, origin])


#: A plate is accepted when at least this fraction of its wells (and at
#: least two) is detected; the rest of the grid is predicted from them.
MIN_DETECTED_FRACTION = 0.25
#: Visible fraction of a disc above which a predicted well counts as in view.
IN_VIEW = 0.98


def _disc_visible(cx: float, cy: float, r: float, w: int, h: int) -> float:
    """Fraction of a disc inside a ``w`` x ``h`` picture (coarse grid)."""
    t = (np.arange(40) + 0.5) / 40 * 2.0 - 1.0
    gx, gy = np.meshgrid(t, t)
    disc = gx**2 + gy**2 <= 1.0
    x, y = cx + r * gx[disc], cy + r * gy[disc]
    return float(np.count_nonzero((x >= 0) & (x <= w) & (y >= 0) & (y <= h))) / disc.sum()


def _well_likeness(small: np.ndarray, wells: np.ndarray, r: float):  # noqa: ANN202
    """A function ``(x, y) -> 0..1``: how much the visible part of a disc of
    radius ``0.8 r`` at (x, y) has the median grey of the detected wells (1)
    rather than that of the picture outside them (0); 0.5 when the two
    cannot be told apart."""
    sh, sw = small.shape[:2]
    yy, xx = np.mgrid[0:sh, 0:sw]
    inside = np.zeros((sh, sw), bool)
    near = np.zeros((sh, sw), bool)
    for x, y, _r in wells:
        d2 = (xx - x) ** 2 + (yy - y) ** 2
        inside |= d2 <= (0.8 * r) ** 2
        near |= d2 <= (1.15 * r) ** 2
    level_in = float(np.median(small[inside])) if inside.any() else 0.0
    level_out = float(np.median(small[~near])) if (~near).any() else level_in
    span = level_in - level_out

    def like(x: float, y: float) -> float:
        if abs(span) < 10.0:
            return 0.5
        sel = (xx - x) ** 2 + (yy - y) ** 2 <= (0.8 * r) ** 2
        if not sel.any():
            return 0.5
        return float(np.clip((np.median(small[sel]) - level_out) / span, 0.0, 1.0))

    return like


def _fit_grid(circles: np.ndarray, lay: Layout, small: np.ndarray, *,
              need_all: bool) -> np.ndarray:
    """Fit Hough circles to the layout's rows x columns grid.

    Circles of consistent radius are given integer (row, column) indices
    from the well pitch (the layout's pitch-to-diameter ratio, refined from
    nearest-neighbour distances), an affine grid is fitted to them by least
    squares, and every well of the layout is placed on it. When part of the
    plate is outside the picture (partly cropped), the detected wells are a
    sub-grid: it is placed where the wells it leaves out are either outside
    the frame or, where partly in view, look like wells (their visible part
    has the grey level of the detected wells rather than of the plate or
    bench around them): penalty ``sum(v * (1 - 2 s))`` over the wells left
    out, ``v`` their visible fraction, ``s`` in 0-1 their likeness to a well. Returns an
    ``(n_wells, 3)`` array of ``x, y, r`` (small-image pixels) in well order.

    Raises
    ------
    InputError
        Too few wells (``need_all``: fewer than all of them) or no
        consistent grid.
    """
    sh, sw = small.shape[:2]
    n_need = lay.n_wells if need_all else max(2, math.ceil(MIN_DETECTED_FRACTION * lay.n_wells))
    hint = "(is the layout right? the whole plate must be in the picture)" if need_all else \
        "(is the layout right?)"
    if len(circles) < n_need:
        raise InputError(f"found {len(circles)} of {lay.n_wells} wells for layout "
                         f"{lay.name!r} {hint}")
    med_r = float(np.median(circles[: lay.n_wells, 2]))
    good = circles[np.abs(circles[:, 2] - med_r) < 0.25 * med_r]
    chosen: list[np.ndarray] = []
    for c in good:
        if all(np.hypot(c[0] - d[0], c[1] - d[1]) > 1.5 * med_r for d in chosen):
            chosen.append(c)
        if len(chosen) == 2 * lay.n_wells:
            break
    grid_msg = f"wells do not form a {lay.rows}x{lay.cols} grid (is the layout right?)"
    if len(chosen) < n_need:
        raise InputError(f"found {len(chosen)} of {lay.n_wells} wells for layout "
                         f"{lay.name!r} {hint}")
    arr = np.array(chosen, dtype=np.float64)
    pitch = 2.0 * med_r * lay.pitch_mm / lay.well_diameter_mm if lay.n_wells > 1 else 2.0 * med_r
    d = np.hypot(arr[:, None, 0] - arr[None, :, 0], arr[:, None, 1] - arr[None, :, 1])
    np.fill_diagonal(d, np.inf)
    nn = d.min(axis=1)
    near = nn[(nn > 0.75 * pitch) & (nn < 1.35 * pitch)]
    if near.size:
        pitch = float(np.median(near))
    # integer grid indices relative to the strongest circle, then an affine
    # fit (slight rotation / shear) and a second assignment on the fit
    # (the reference is whichever of the strongest circles has most circles
    # on its grid: the strongest may be a false circle between wells)
    best_ok = None
    for ref in range(min(len(arr), 5)):
        x0, y0 = arr[ref, 0], arr[ref, 1]
        ci_ = np.round((arr[:, 0] - x0) / pitch)
        ri_ = np.round((arr[:, 1] - y0) / pitch)
        ok_ = (np.abs(arr[:, 0] - x0 - ci_ * pitch) < 0.3 * pitch) & \
            (np.abs(arr[:, 1] - y0 - ri_ * pitch) < 0.3 * pitch)
        if best_ok is None or ok_.sum() > best_ok[0].sum():
            best_ok = (ok_, ci_, ri_)
    assert best_ok is not None
    ok, ci, ri = best_ok
    for _ in range(2):
        idx = _one_per_cell(np.flatnonzero(ok), ri, ci)
        if idx.size < n_need:
            raise InputError(grid_msg)
        coef = _affine_grid(ci[idx], ri[idx], arr[idx, :2], pitch)
        # re-assign every circle on the fitted grid
        try:
            frac = (arr[:, :2] - coef[2]) @ np.linalg.inv(coef[:2].T).T
        except np.linalg.LinAlgError:
            raise InputError(grid_msg) from None
        ci, ri = np.round(frac[:, 0]), np.round(frac[:, 1])
        pred = np.column_stack([ci, ri, np.ones(len(arr))]) @ coef
        ok = np.hypot(*(arr[:, :2] - pred).T) < 0.25 * pitch
    idx = _one_per_cell(np.flatnonzero(ok), ri, ci)
    if idx.size < n_need:
        raise InputError(grid_msg)
    cmin, rmin = ci[idx].min(), ri[idx].min()
    coef[2] = coef[2] + np.array([cmin, rmin]) @ coef[:2]  # indices from 0
    ci, ri = ci[idx] - cmin, ri[idx] - rmin
    span_c, span_r = int(ci.max()) + 1, int(ri.max()) + 1
    if span_c > lay.cols or span_r > lay.rows:
        raise InputError(grid_msg)
    detected = {(int(r), int(c)): arr[i] for i, r, c in zip(idx, ri, ci, strict=True)}
    likeness = _well_likeness(small, np.array(list(detected.values())), med_r)
    best = None
    for dr in range(lay.rows - span_r + 1):
        for dc in range(lay.cols - span_c + 1):
            hidden = 0.0
            for r in range(lay.rows):
                for c in range(lay.cols):
                    if (r - dr, c - dc) in detected:
                        continue
                    x, y = np.array([c - dc, r - dr, 1.0]) @ coef
                    v = _disc_visible(x, y, med_r, sw, sh)
                    if v > 0.0:
                        hidden += v * (1.0 - 2.0 * likeness(x, y))
            if best is None or hidden < best[0] - 1e-9:
                best = (hidden, dr, dc)
    assert best is not None
    _h, dr, dc = best
    out = np.zeros((lay.n_wells, 3))
    in_view = 0
    for r in range(lay.rows):
        for c in range(lay.cols):
            k = r * lay.cols + c
            if (r - dr, c - dc) in detected:
                out[k] = detected[(r - dr, c - dc)]
            else:
                x, y = np.array([c - dc, r - dr, 1.0]) @ coef
                out[k] = (x, y, med_r)
            in_view += _disc_visible(out[k, 0], out[k, 1], med_r, sw, sh) >= IN_VIEW
    # wells in view that Hough missed are placed by the grid; a layout whose
    # grid leaves most wells in view undetected is the wrong layout
    if len(detected) < 0.5 * in_view:
        raise InputError(f"found {len(detected)} of {lay.n_wells} wells for layout "
                         f"{lay.name!r} {hint}")
    return out


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
