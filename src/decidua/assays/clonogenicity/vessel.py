"""The vessel as photographed: a plate's outline found on the bench and the
picture rectified to the plate's own rectangle (perspective correction).

A phone held over a plate lying on the bench sees the plate's rectangle as
a quadrilateral (perspective, any rotation). Its outline is found as the
largest four-cornered contour of the picture (``cv2.findContours`` on an
Otsu mask of either polarity and on a Canny edge map, convex hull,
``cv2.approxPolyDP``; ``cv2.minAreaRect`` when no four-point polygon
fits), its corners ordered clockwise with a long side first, and a
homography (``cv2.getPerspectiveTransform``) maps it to the SBS footprint
(127.76 x 85.48 mm) at the picture's own resolution. Wells are then found
in that rectified view, where the plate fills the frame with its long side
horizontal. Well names are read in the rectified view (A1 top left); a
plate photographed upside down is named from its photographed top left,
because a 6/12/24-well plate's grid is symmetric under a half turn.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import pandas as pd

from decidua.assays.clonogenicity.layouts import SBS_FOOTPRINT_MM, Layout
from decidua.assays.clonogenicity.wells import detect_wells
from decidua.errors import InputError

#: Longest side (px) of the copy on which the outline is searched.
OUTLINE_SIDE_PX = 800
#: The plate's outline must cover this fraction of the picture (lower
#: bound: a plate far away; upper bound: the plate fills the frame, no bench
#: to find it against, nothing to rectify).
OUTLINE_AREA_RANGE = (0.12, 0.92)
#: Corners of an accepted outline lie at least this fraction of the
#: picture's long side inside the frame.
BORDER_FRACTION = 0.01
#: Long-to-short side ratio of an accepted outline (SBS 1.49; perspective
#: and tilt change the apparent ratio).
OUTLINE_ASPECT_RANGE = (1.1, 2.4)
#: Highest resolution of the rectified view (px per mm): finer than this
#: adds pixels, not colonies (the minimum colony radius, 0.18 mm, is then
#: 5-6 px; the counter's working resolution takes it from there).
MAX_VIEW_PX_PER_MM = 30.0
#: A plate picture used as it is is downsampled to MAX_VIEW_PX_PER_MM when
#: finer than this multiple of it.
DOWNSAMPLE_ABOVE = 1.25


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Four corners ordered clockwise (in picture coordinates) starting with
    a long side that points rightwards (or downwards when vertical).

    Examples
    --------
    >>> import numpy as np
    >>> quad = np.array([[0, 100], [300, 0], [0, 0], [300, 100]], float)
    >>> order_corners(quad).tolist()
    [[0.0, 0.0], [300.0, 0.0], [300.0, 100.0], [0.0, 100.0]]
    """
    p = np.asarray(pts, dtype=np.float64).reshape(4, 2)
    c = p.mean(axis=0)
    p = p[np.argsort(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0]))]  # clockwise, y down
    side = np.hypot(*(np.roll(p, -1, axis=0) - p).T)
    start = 0 if side[0] + side[2] >= side[1] + side[3] else 1
    for s in (start, start + 2):
        d = p[(s + 1) % 4] - p[s % 4]
        if d[0] > 1e-6 * max(abs(d[1]), 1.0) or (abs(d[0]) <= 1e-6 * max(abs(d[1]), 1.0)
                                                 and d[1] > 0):
            return np.roll(p, -(s % 4), axis=0)
    return np.roll(p, -start, axis=0)


def _quad_from_contour(cnt: np.ndarray) -> np.ndarray:
    hull = cv2.convexHull(cnt)
    peri = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)


def find_plate_outline(image: np.ndarray) -> np.ndarray | None:
    """The plate's outline as four corners (full-picture pixels, ordered by
    :func:`order_corners`), or ``None`` when no plate-shaped quadrilateral
    stands out (the plate fills the frame or runs off it, or there is no
    plate).

    Examples
    --------
    >>> import numpy as np
    >>> pic = np.full((300, 400), 60, np.uint8)
    >>> import cv2
    >>> quad = np.array([[60, 80], [330, 40], [350, 220], [80, 250]], np.int32)
    >>> _ = cv2.fillPoly(pic, [quad], 200)
    >>> found = find_plate_outline(pic)
    >>> bool(np.abs(found - quad).max() < 4)
    True
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    f, (sh, sw), blur, kernel = _outline_view(grey)
    masks = []
    for flag in (cv2.THRESH_BINARY, cv2.THRESH_BINARY_INV):
        _t, m = cv2.threshold(blur, 0, 255, flag | cv2.THRESH_OTSU)
        masks.append(cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel))
    edges = cv2.Canny(blur, 30, 90)
    masks.append(cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))))
    best: tuple[float, np.ndarray] | None = None
    lo, hi = OUTLINE_AREA_RANGE
    for m in masks:
        contours, _hier = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            quad = _quad_from_contour(cnt)
            area = abs(cv2.contourArea(quad.astype(np.float32)))
            if not lo * sh * sw <= area <= hi * sh * sw:
                continue
            q = order_corners(quad)
            # a plate on the bench has bench all round it; a "quadrilateral"
            # reaching the frame is the picture's own edge (a scan's
            # vignetting split by Otsu, or a plate partly out of the frame)
            edge = BORDER_FRACTION * max(sh, sw)
            if (q.min() < edge or (q[:, 0] > sw - 1 - edge).any()
                    or (q[:, 1] > sh - 1 - edge).any()):
                continue
            side = np.hypot(*(np.roll(q, -1, axis=0) - q).T)
            aspect = (side[0] + side[2]) / max(side[1] + side[3], 1e-6)
            if not OUTLINE_ASPECT_RANGE[0] <= aspect <= OUTLINE_ASPECT_RANGE[1]:
                continue
            # how well the quadrilateral explains the contour: hull area ratio
            fill = cv2.contourArea(cv2.convexHull(cnt)) / max(area, 1e-6)
            if not 0.9 <= fill <= 1.1:
                continue
            score = area * (1.0 - abs(1.0 - fill))
            if best is None or score > best[0]:
                best = (score, q)
    if best is None:
        return None
    return order_corners(best[1] / f)


def rectify(image: np.ndarray, corners: np.ndarray,
            max_px_per_mm: float = MAX_VIEW_PX_PER_MM) -> tuple[np.ndarray, np.ndarray]:
    """Warp the picture so that the plate outline ``corners`` becomes the SBS
    footprint, long side horizontal, at the picture's own resolution (mean
    length of the long sides over 127.76 mm, at most ``max_px_per_mm``).

    Returns the rectified view and the 3 x 3 homography (picture -> view).

    Examples
    --------
    >>> import numpy as np
    >>> pic = np.zeros((300, 400, 3), np.uint8)
    >>> corners = np.array([[50, 50], [350, 50], [350, 250], [50, 250]], float)
    >>> view, hom = rectify(pic, corners)
    >>> view.shape[1], round(view.shape[1] / view.shape[0], 2)
    (300, 1.49)
    """
    q = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    side = np.hypot(*(np.roll(q, -1, axis=0) - q).T)
    px_per_mm = min(max_px_per_mm, 0.5 * (side[0] + side[2]) / SBS_FOOTPRINT_MM[0])
    vw = int(round(SBS_FOOTPRINT_MM[0] * px_per_mm))
    vh = int(round(SBS_FOOTPRINT_MM[1] * px_per_mm))
    dst = np.array([[0, 0], [vw, 0], [vw, vh], [0, vh]], np.float32)
    hom = cv2.getPerspectiveTransform(q.astype(np.float32), dst)
    view = cv2.warpPerspective(image, hom, (vw, vh), flags=cv2.INTER_AREA
                               if px_per_mm < 0.9 * side.max() / SBS_FOOTPRINT_MM[0]
                               else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return view, hom


def view_of(image: np.ndarray, params: dict) -> np.ndarray:
    """The picture in a count's coordinates: the rectified view when the count
    was made on one (``params["homography"]``), else the picture itself.

    Examples
    --------
    >>> import numpy as np
    >>> view_of(np.zeros((70, 90, 3), np.uint8), {}).shape
    (70, 90, 3)
    """
    hom = params.get("homography")
    if hom is None:
        return image
    vw, vh = params["view_size"]
    return cv2.warpPerspective(image, np.asarray(hom, np.float64), (int(vw), int(vh)),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_picture(params: dict, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map view coordinates back to the photographed picture (identity when no
    rectification was made).

    Examples
    --------
    >>> import numpy as np
    >>> to_picture({}, np.array([1.0]), np.array([2.0]))
    (array([1.]), array([2.]))
    """
    hom = params.get("homography")
    if hom is None:
        return np.asarray(x, float), np.asarray(y, float)
    pts = np.stack([np.asarray(x, float), np.asarray(y, float)], axis=-1).reshape(-1, 1, 2)
    back = cv2.perspectiveTransform(pts, np.linalg.inv(np.asarray(hom, np.float64)))
    return back[:, 0, 0], back[:, 0, 1]


def _grid_matches_footprint(wells: pd.DataFrame, lay: Layout, px_per_mm: float) -> bool:
    """Wells found in a rectified view lie where the layout puts them on the
    SBS footprint (A1 and the last well within a quarter pitch, radius within
    25 %): the outline found was the plate's, not a block of wells."""
    tol = 0.25 * max(lay.pitch_mm, lay.well_diameter_mm) * px_per_mm
    ax, ay = lay.a1_offset_mm
    last = (ax + (lay.cols - 1) * lay.pitch_mm, ay + (lay.rows - 1) * lay.pitch_mm)
    first_ok = math.hypot(wells["cx"].iloc[0] - ax * px_per_mm,
                          wells["cy"].iloc[0] - ay * px_per_mm) < tol
    last_ok = math.hypot(wells["cx"].iloc[-1] - last[0] * px_per_mm,
                         wells["cy"].iloc[-1] - last[1] * px_per_mm) < tol
    r_mm = float(np.median(wells["radius_px"])) / px_per_mm
    return first_ok and last_ok and abs(r_mm / (lay.well_diameter_mm / 2) - 1.0) < 0.25


def plate_view(image: np.ndarray, layout: Layout) -> tuple[np.ndarray, dict, pd.DataFrame]:
    """Find a multi-well plate and its wells as photographed.

    In order: (1) the plate's outline on the bench, the picture rectified
    to it (:func:`rectify`) and the wells found in that view where the
    layout puts them; (2) the picture as it is (a scan or a photograph
    filling the frame, possibly partly cropped); (3) a portrait picture
    turned a quarter clockwise (a plate photographed the other way round).
    A picture finer than :data:`DOWNSAMPLE_ABOVE` x :data:`MAX_VIEW_PX_PER_MM`
    (a 40 MP scan) is counted on a copy at :data:`MAX_VIEW_PX_PER_MM`.

    Returns the view, its parameters (``homography`` picture -> view,
    ``view_size``, ``view``: how it was made; empty when the picture is
    used as it is) and the wells table (view pixels).

    Raises
    ------
    InputError
        The error of step (2) when no step finds the wells.

    Examples
    --------
    >>> from decidua.assays.clonogenicity.layouts import get_layout
    >>> from decidua.assays.clonogenicity.synthetic import make_plate, photograph
    >>> photo = photograph(make_plate("6-well", 4, seed=0, px_per_mm=8), tilt=0.2)
    >>> view, params, wells = plate_view(photo.image, get_layout("6-well"))
    >>> params["view"], len(wells), view.shape[1] > view.shape[0]
    ('rectified from the plate outline', 6, True)
    """
    corners = find_plate_outline(image)
    if corners is not None:
        view, hom = rectify(image, corners)
        try:
            wells = detect_wells(view, layout)
        except InputError:
            wells = None
        ppm = view.shape[1] / SBS_FOOTPRINT_MM[0]
        if wells is not None and _grid_matches_footprint(wells, layout, ppm):
            return view, {"homography": hom.tolist(), "view_size": [view.shape[1], view.shape[0]],
                          "view": "rectified from the plate outline",
                          "outline": np.round(corners, 1).tolist()}, wells
    try:
        wells = detect_wells(image, layout)
    except InputError as first:
        h, w = image.shape[:2]
        if h <= w:
            raise
        turned = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        try:
            wells = detect_wells(turned, layout)
        except InputError:
            raise first from None
        hom = np.array([[0.0, -1.0, h - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        return turned, {"homography": hom.tolist(), "view_size": [h, w],
                        "view": "turned 90 degrees clockwise"}, wells
    # a plate filling a very fine picture (a 40 MP scan is ~60 px/mm): the
    # working view is the picture at MAX_VIEW_PX_PER_MM (INTER_AREA)
    ppm = 2.0 * float(np.median(wells["radius_px"])) / layout.well_diameter_mm
    if ppm <= DOWNSAMPLE_ABOVE * MAX_VIEW_PX_PER_MM:
        return image, {}, wells
    f = MAX_VIEW_PX_PER_MM / ppm
    h, w = image.shape[:2]
    vw, vh = max(64, round(w * f)), max(64, round(h * f))
    fx, fy = vw / w, vh / h
    view = cv2.resize(image, (vw, vh), interpolation=cv2.INTER_AREA)
    wells = wells.copy()
    wells["cx"], wells["cy"] = wells["cx"] * fx, wells["cy"] * fy
    wells["radius_px"] = wells["radius_px"] * math.sqrt(fx * fy)
    hom = np.diag([fx, fy, 1.0])
    return view, {"homography": hom.tolist(), "view_size": [vw, vh],
                  "view": f"downsampled to {MAX_VIEW_PX_PER_MM:g} px/mm"}, wells


#: Long-to-short side ratio of an accepted flask growth area.
FLASK_ASPECT_RANGE = (1.1, 3.2)



def _outline_view(grey: np.ndarray) -> tuple[float, tuple[int, int], np.ndarray, np.ndarray]:
    """The picture at the outline search's working size: the scale factor, the
    working (height, width), the blurred working picture and the closing kernel
    (2 % of the longer side, odd)."""
    h, w = grey.shape[:2]
    f = min(1.0, OUTLINE_SIDE_PX / max(h, w))
    small = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA) if f < 1.0 else grey
    sh, sw = small.shape[:2]
    blur = cv2.GaussianBlur(small, (0, 0), 2.0)
    k = max(3, int(round(0.02 * max(sh, sw))) | 1)
    return f, (sh, sw), blur, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))

def _quads(grey: np.ndarray, aspect: tuple[float, float], min_area: float) -> list[np.ndarray]:
    """Four-cornered contours (full-picture pixels) of the picture: Otsu masks
    of either polarity, the brighter part's own Otsu mask, Canny edges."""
    f, (sh, sw), blur, kernel = _outline_view(grey)
    masks = []
    t0, m = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    masks.append(m)
    masks.append(255 - m)
    bright = blur[blur > t0]
    if bright.size > 100:
        t1, _ = cv2.threshold(bright.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        masks.append(((blur > t1) * 255).astype(np.uint8))
    masks = [cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel) for m in masks]
    masks.append(cv2.dilate(cv2.Canny(blur, 30, 90),
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))))
    out = []
    edge = BORDER_FRACTION * max(sh, sw)
    for m in masks:
        contours, _hier = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            quad = _quad_from_contour(cnt)
            area = abs(cv2.contourArea(quad.astype(np.float32)))
            if area < min_area * sh * sw:
                continue
            q = order_corners(quad)
            if (q.min() < edge or (q[:, 0] > sw - 1 - edge).any()
                    or (q[:, 1] > sh - 1 - edge).any()):
                continue
            side = np.hypot(*(np.roll(q, -1, axis=0) - q).T)
            ratio = (side[0] + side[2]) / max(side[1] + side[3], 1e-6)
            fill = cv2.contourArea(cv2.convexHull(cnt)) / max(area, 1e-6)
            if aspect[0] <= ratio <= aspect[1] and 0.9 <= fill <= 1.1:
                out.append(q / f)
    return out


def find_flask(image: np.ndarray) -> pd.DataFrame:
    """The growth area of a flask photographed from above, as one region.

    The candidates are the picture's four-cornered contours (see
    :func:`find_plate_outline`) covering at least 8 % of it with a
    long/short ratio of 1.1-3.2; the growth area is the brightest of them
    (medium over the bottom transmits more light than the plastic walls,
    neck and cap; ties to the larger). When none is found the whole picture
    is taken as the growth area (``view`` says so): a flask photograph never
    ends in "no dish found".

    Returns
    -------
    DataFrame
        One row ``well="flask", cx, cy`` (centroid), ``radius_px`` (radius
        of the disc of the same area: the calibration), ``polygon`` (the
        four corners) and ``vessel`` (how it was found).

    Examples
    --------
    >>> import numpy as np, cv2
    >>> pic = np.full((400, 600), 60, np.uint8)
    >>> _ = cv2.rectangle(pic, (60, 60), (560, 340), 150, -1)   # flask body
    >>> _ = cv2.rectangle(pic, (90, 90), (450, 310), 225, -1)   # growth area
    >>> row = find_flask(pic).iloc[0]
    >>> row["vessel"], [round(v / 10) * 10 for v in (row["cx"], row["cy"])]
    ('rectangle found', [270, 200])
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape[:2]
    best = None
    for q in _quads(grey, FLASK_ASPECT_RANGE, 0.08):
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round(q).astype(np.int32)], 1)
        level = float(cv2.mean(grey, mask=m)[0])
        area = abs(cv2.contourArea(q.astype(np.float32)))
        key = (round(level / 8.0), area)  # brightest (to 8 grey levels), then largest
        if best is None or key > best[0]:
            best = (key, q)
    if best is None:
        q = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
        how = "whole picture taken as the growth area"
    else:
        q, how = best[1], "rectangle found"
    area = abs(cv2.contourArea(q.astype(np.float32)))
    c = q.mean(axis=0)
    return pd.DataFrame([{"well": "flask", "cx": float(c[0]), "cy": float(c[1]),
                          "radius_px": math.sqrt(area / math.pi),
                          "polygon": np.round(q, 2).tolist(), "vessel": how}])


def roi_mask(roi: object, shape: tuple[int, int], *, file: str | None = None) -> np.ndarray:
    """A user-drawn region as a boolean mask of the picture's ``shape``.

    ``roi`` is a polygon (``N x 2`` picture coordinates, N >= 3) or a mask
    (2-D array of the picture's size; non-zero inside).

    Raises
    ------
    InputError
        Not a polygon or mask, a mask of another size, a region outside the
        picture or of no area.

    Examples
    --------
    >>> m = roi_mask([[10, 10], [90, 10], [90, 50]], (60, 100))
    >>> m.shape, bool(m[15, 80]), bool(m[45, 20])
    ((60, 100), True, False)
    """
    h, w = shape
    a = np.asarray(roi)
    if a.ndim == 2 and a.shape == (h, w):
        m = a.astype(bool)
    elif a.ndim == 2 and a.shape[1] == 2 and a.shape[0] >= 3:
        pts = a.astype(np.float64)
        if not np.isfinite(pts).all():
            raise InputError("region of interest: coordinates must be finite numbers", file=file)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
        m = m.astype(bool)
    elif a.ndim == 2:
        raise InputError(f"region of interest mask is {a.shape[1]}x{a.shape[0]} px, the image "
                         f"{w}x{h} px: they must be the same size", file=file)
    else:
        raise InputError("region of interest must be a polygon (x,y;x,y;x,y...) or a mask image",
                         file=file)
    if not m.any():
        raise InputError("region of interest covers no pixel of the image", file=file)
    return m


_POINT = r"\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"


def parse_roi(text: str) -> Any:
    """``--roi``: a polygon ``"x,y;x,y;x,y..."`` (picture pixels) or the path
    of a mask image of the picture's size (white / non-zero inside).

    Raises
    ------
    InputError
        A malformed polygon (fewer than 3 points, not numbers) or a mask
        file that cannot be read (the file is named).

    Examples
    --------
    >>> parse_roi("10,10; 90,10; 90,50").tolist()
    [[10.0, 10.0], [90.0, 10.0], [90.0, 50.0]]
    >>> parse_roi("10,10;90")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    decidua.errors.InputError: --roi: a polygon needs at least 3 points ...
    """
    import re
    from pathlib import Path

    from decidua.assays.clonogenicity.image import load_image

    t = str(text).strip()
    if re.fullmatch(r"[-0-9.eE,;\s+]+", t) and "," in t:
        pts = []
        for part in filter(None, (p.strip() for p in t.split(";"))):
            m = re.fullmatch(_POINT + "," + _POINT, part)
            if not m:
                raise InputError("--roi: a polygon needs at least 3 points x,y;x,y;x,y",
                                 value=text)
            pts.append((float(m.group(1)), float(m.group(2))))
        arr = np.array(pts, dtype=np.float64).reshape(-1, 2)
        if len(pts) < 3 or not np.isfinite(arr).all():
            raise InputError("--roi: a polygon needs at least 3 points x,y;x,y;x,y", value=text)
        return arr
    p = Path(t)
    if not p.is_file():
        raise InputError("--roi is neither a polygon x,y;x,y;x,y nor a mask image file",
                         file=str(p))
    try:
        mask = load_image(p)
    except InputError as exc:
        if "blank" in str(exc):  # an all-white mask: the whole picture
            from PIL import Image

            with Image.open(p) as im:
                return np.asarray(im.convert("L")) > 127
        raise InputError(f"--roi mask: {exc.problems[0].reason}", file=str(p)) from None
    return mask.max(axis=2) > 127
