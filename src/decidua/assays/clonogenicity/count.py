"""Colony counting from photographs or scans of stained dishes and plates.

Method (each step a scikit-image / scipy / OpenCV primitive):

1. **Dish / well detection** - Hough circle transform (``cv2.HoughCircles``)
   on a downscaled, blurred grey image; for multi-well layouts the circles
   are fitted to the layout's rows x columns grid and named A1, A2 ...
   The detected diameter calibrates the pixel size from the nominal well
   diameter (:mod:`~decidua.assays.clonogenicity.layouts`).
2. **Rim masking** - only the disc of radius ``(1 - rim_fraction) * r`` is
   analysed; objects reaching the mask edge that are elongated are rejected
   as rim (meniscus shadow, wall, pen marks on the rim).
3. **Background correction** - per colour channel, a grey-level closing with
   a disc larger than any colony (on a downsampled copy) estimates the
   unstained background; the signal is the relative darkening
   ``1 - I / background``, maximum over channels (so purple crystal violet,
   blue haematoxylin or brown stains all work).
4. **Segmentation** - hysteresis threshold (``skimage.filters``) with levels
   set from the robust noise of the background (median + k sigma, sigma
   the MAD-scaled spread below the median, which colonies do not reach),
   never below fixed contrast floors; a morphological opening removes thin
   structures (bubble edges, fibres); holes smaller than half the minimum
   colony area (pale spots inside colonies) are filled.
5. **Splitting** - touching colonies are split by marker-controlled
   watershed on the Euclidean distance transform, markers being the maxima
   of dynamic >= ``h`` (the h-maxima, found by merging the basins of all
   regional maxima across low passes), as in the distance-transform
   watershed used for touching nuclei and colonies (e.g. Geissmann, PLoS One
   2013, OpenCFU; Vincent & Soille, IEEE PAMI 1991). Colonies lying on an
   air-bubble outline are separated from it by an opening wider than the
   outline.
6. **Artefact rejection** - per object: too small (abortive colony, dust),
   ring-shaped (bubble: filled area much larger than stained area),
   irregular (debris: low solidity, or thin and elongated), rim.

Manual corrections (add / remove a colony at image coordinates) are kept in
a JSON sidecar next to the image and re-applied on every re-analysis.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage import measure, segmentation

from decidua.assays.clonogenicity.layouts import SBS_FOOTPRINT_MM, Layout, get_layout
from decidua.errors import InputError

#: Default minimum colony area (um^2). Colonies are counted at >= 50 cells
#: (Gargett et al., Biol Reprod 2009; Lucas et al., Stem Cells 2016); a
#: spread stromal / mesenchymal cell covers roughly 2,000 um^2 in culture
#: (assumption, order of magnitude), so 50 cells cover >= ~0.1 mm^2.
DEFAULT_MIN_AREA_UM2 = 100_000.0
#: Largest colony radius expected (mm); sets the background closing disc.
MAX_COLONY_RADIUS_MM = 3.0
#: Fraction of the detected well radius masked as rim.
DEFAULT_RIM_FRACTION = 0.03
#: Relative-darkening floors of the hysteresis threshold (tuned on the
#: synthetic generator; 0.06 is about 2.5x the JPEG/sensor noise there).
LOW_CONTRAST_FLOOR = 0.06
HIGH_CONTRAST_FLOOR = 0.15
#: Objects whose mean relative darkening is below this are background
#: unevenness, not stained colonies (a crystal-violet colony darkens the
#: green channel by > 30 %).
FAINT_CONTRAST = 0.12
#: Core (dense part) of an object must reach this fraction of the minimum
#: colony area.
CORE_FRACTION = 0.6
#: Centre-to-mean darkening ratio below which an object is hollow (bubble).
HOLLOW_RATIO = 0.6
#: Radius of the opening that removes thin structures (bubble outlines,
#: fibres), as a fraction of the minimum colony radius.
OPEN_FRACTION = 0.7
#: Objects with more than this fraction of their pixels on a bubble outline
#: are pieces of the outline.
BAND_FRACTION = 0.6
#: Components more solid than this are single colonies (not split).
SINGLE_SOLIDITY = 0.95
#: Noise multiples (robust sigma) for the hysteresis levels.
LOW_NOISE_K = 4.0
HIGH_NOISE_K = 8.0
#: An object whose filled area exceeds its stained area by this factor is a
#: ring (air bubble).
RING_FILL_RATIO = 1.5
#: A ring must also be round once filled (clusters of colonies are not).
RING_MIN_SOLIDITY = 0.9
#: Solidity below which an object is debris (fibre, scratch, pen stroke).
MIN_SOLIDITY = 0.6
#: Watershed marker depth (dynamics of the distance-map maxima) as a fraction
#: of the minimum colony radius (tuned on the synthetic generator).
H_SPLIT_FRACTION = 0.2
#: Holes in the thresholded mask up to this fraction of the minimum colony
#: area are filled before splitting: pale spots inside a colony (cells with
#: less stain) are part of it, and a hole that small cannot hold a colony.
#: Unfilled, such holes dent the distance map and cut large colonies in
#: pieces (synthetic dish, 10 colonies, seed 2: +20 %).
HOLE_FRACTION = 0.5
#: Objects narrower than this fraction of the minimum colony diameter are
#: debris (fibres, scratches).
THIN_FRACTION = 0.6
#: Objects longer than this multiple of their width are debris (two merged
#: colonies are ~2).
MAX_ELONGATION = 3.0
#: The wall found by radial refinement must lie beyond this fraction of the
#: Hough radius (a wall is ~1 mm thick; dishes can show inner rings).
MIN_REFINE_FRACTION = 0.95
#: Longest side (px) of the image used for circle detection.
DETECT_SIDE_PX = 480
#: Version of the sidecar format.
CORRECTIONS_VERSION = 1

COLONY_COLUMNS = [
    "colony_id", "well", "x", "y", "area_px", "area_um2", "diameter_um",
    "mean_intensity", "mean_contrast", "accepted", "reason", "source",
]


@dataclass(frozen=True)
class Correction:
    """One manual correction.

    Attributes
    ----------
    action
        ``"add"`` (a colony the counter missed) or ``"remove"`` (a counted
        object that is not a colony, or a split colony to be merged).
    x, y
        Image coordinates in pixels (x to the right, y down).
    """

    action: str
    x: float
    y: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {"action": self.action, "x": float(self.x), "y": float(self.y)}


@dataclass(frozen=True)
class CountResult:
    """Colonies found on one image.

    Attributes
    ----------
    layout
        Layout name.
    wells
        One row per well: ``well, cx, cy, radius_px, colonies``.
    colonies
        One row per object (see :data:`COLONY_COLUMNS`); ``accepted`` marks
        counted colonies, ``reason`` why an object was rejected, ``source``
        ``"auto"`` or ``"manual"``.
    um_per_px
        Pixel size calibrated from the detected well diameter.
    min_area_px
        Minimum colony area used, in pixels.
    params
        Parameters used (for provenance).
    labels
        ``int32`` label image: value ``colony_id`` on each object's pixels.
    corrections
        Manual corrections applied.
    """

    layout: str
    wells: pd.DataFrame = field(repr=False)
    colonies: pd.DataFrame = field(repr=False)
    um_per_px: float
    min_area_px: float
    params: dict[str, Any] = field(repr=False)
    labels: np.ndarray = field(repr=False)
    corrections: tuple[Correction, ...] = ()

    @property
    def total(self) -> int:
        """Total counted colonies on the image."""
        return int(self.wells["colonies"].sum())

    def counts(self) -> dict[str, int]:
        """Counted colonies per well."""
        pairs = zip(self.wells["well"], self.wells["colonies"], strict=True)
        return {str(w): int(n) for w, n in pairs}

    def to_dict(self) -> dict[str, Any]:
        """Summary in the CLI's JSON shape (without the per-colony table)."""
        return {
            "layout": self.layout,
            "wells": [{"well": w, "colonies": n} for w, n in self.counts().items()],
            "colonies": self.total,
            "um_per_px": self.um_per_px,
            "min_area_px": self.min_area_px,
            "corrections": [c.to_dict() for c in self.corrections],
        }

    def to_frame(self) -> pd.DataFrame:
        """Per-colony table (accepted and rejected objects)."""
        return self.colonies.copy()


# --------------------------------------------------------------------------- I/O


def load_image(path: str | Path) -> np.ndarray:
    """Read a PNG / JPEG / TIFF / BMP photograph as an RGB ``uint8`` array.

    Raises
    ------
    InputError
        If the file is missing, not an image, truncated or empty.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError("image file not found", file=str(p))
    if p.stat().st_size == 0:
        raise InputError("image file is empty (0 bytes)", file=str(p))
    try:
        with Image.open(p) as im:
            im.load()
            arr = _pil_to_rgb8(im)
    except UnidentifiedImageError:
        raise InputError("not an image (PNG, JPEG, TIFF or BMP expected)", file=str(p)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image (truncated or corrupt?): {exc}", file=str(p)) from None
    return check_image(arr, file=str(p))


def _pil_to_rgb8(im: Any) -> np.ndarray:
    """Convert a PIL image of any common mode to RGB uint8."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = float(a.max()) if a.size else 0.0
        a = a / hi * 255.0 if hi > 0 else a
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def check_image(image: np.ndarray, *, file: str | None = None) -> np.ndarray:
    """Validate an image array and return it as RGB ``uint8``.

    Raises
    ------
    InputError
        For empty, tiny, blank or wrongly shaped arrays.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputError(f"unsupported image shape {a.shape}", file=file)
    a = a[..., :3]
    if a.shape[0] < 64 or a.shape[1] < 64:
        raise InputError(f"image too small ({a.shape[1]}x{a.shape[0]} px)", file=file)
    if a.dtype != np.uint8:
        af = a.astype(np.float64)
        hi = float(np.nanmax(af)) if af.size else 0.0
        a = np.clip(af / hi * 255.0 if hi > 0 else af, 0, 255).astype(np.uint8)
    if int(a.max()) - int(a.min()) < 8:
        raise InputError("image is blank (no contrast)", file=file)
    return np.ascontiguousarray(a)


def sidecar_path(image_path: str | Path) -> Path:
    """Path of the corrections sidecar of an image (``IMAGE.cfu.json``)."""
    p = Path(image_path)
    return p.with_name(p.name + ".cfu.json")


def image_sha256(path: str | Path) -> str:
    """SHA-256 of a file (recorded in the sidecar)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_corrections(path: str | Path) -> list[Correction]:
    """Read corrections from a sidecar JSON (empty list if it does not exist)."""
    return load_sidecar(path)[0]


def load_sidecar(path: str | Path) -> tuple[list[Correction], str | None]:
    """Read a sidecar JSON: its corrections and the image SHA-256 it records."""
    p = Path(path)
    if not p.exists():
        return [], None
    try:
        doc = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"corrections file is not valid JSON: {exc}", file=str(p)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("corrections"), list):
        raise InputError("corrections file has no 'corrections' list", file=str(p))
    out = []
    for i, item in enumerate(doc["corrections"], start=1):
        try:
            out.append(_make_correction(item["action"], item["x"], item["y"]))
        except (KeyError, TypeError, InputError) as exc:
            raise InputError(f"bad correction: {exc}", file=str(p), row=i, value=item) from None
    sha = doc.get("image_sha256")
    return out, (str(sha) if sha else None)


def save_corrections(
    path: str | Path, corrections: Iterable[Correction], *, image_sha: str | None = None
) -> None:
    """Write corrections to a sidecar JSON (versioned)."""
    doc = {
        "format": "decidua-cfu-corrections",
        "version": CORRECTIONS_VERSION,
        "image_sha256": image_sha,
        "corrections": [c.to_dict() for c in corrections],
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def _make_correction(action: Any, x: Any, y: Any) -> Correction:
    if action not in ("add", "remove"):
        raise InputError(f"action must be 'add' or 'remove', not {action!r}")
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        raise InputError(f"coordinates must be numbers, not {x!r}, {y!r}") from None
    if not (math.isfinite(fx) and math.isfinite(fy)):
        raise InputError("coordinates must be finite")
    return Correction(str(action), fx, fy)


# ---------------------------------------------------------------- well detection


def _single_threaded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with OpenCV restricted to one thread.

    OpenCV's parallel routines split work by the number of threads, which
    depends on the CPUs available to the process; counting always runs with
    one OpenCV thread so that its work split (and so any floating-point
    summation order) never differs between machines or runs. The caller's
    thread setting is restored afterwards. (The run-to-run differences
    actually seen came from uninitialised ``cv2.warpPolar`` output, fixed in
    :func:`refine_well_radius`.)
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prev = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            return func(*args, **kwargs)
        finally:
            cv2.setNumThreads(prev)

    return wrapper


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


# -------------------------------------------------------------------- counting


def _background_contrast(crop: np.ndarray, mask: np.ndarray, se_radius_px: float) -> np.ndarray:
    """Relative darkening ``1 - I / background`` of the best colour channel.

    Each channel's background comes from a grey closing (on a copy
    downsampled so the closing disc is ~10 px); its darkening is shifted so
    the well's median is 0. The channel kept is the one with the highest
    ratio of bright-tail (99.5th percentile) darkening to robust noise, i.e.
    the channel in which the stain shows best (green for crystal violet,
    blue for brown colonies on yellow agar). Identical channels (grey
    images) are processed once.
    """
    h, w = mask.shape
    k = max(1.0, se_radius_px / 10.0)
    sw, sh = max(8, round(w / k)), max(8, round(h / k))
    r_small = max(2, round(se_radius_px / k))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_small + 1, 2 * r_small + 1))
    mask_small = cv2.resize(mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    sample = np.flatnonzero(mask.ravel())[::7]  # subsample: robust statistics only
    channels = [0]
    probe = crop[::97, ::89]  # a cheap first look: differing samples settle it
    for c in range(1, crop.shape[2]):
        if not any(np.array_equal(probe[..., c], probe[..., j])
                   and np.array_equal(crop[..., c], crop[..., j]) for j in channels):
            channels.append(c)
    # the downsampling of all channels in one call (INTER_AREA treats channels
    # independently: the same values as one channel at a time, ~3x faster); the
    # other filters run per channel (their multi-channel paths round differently)
    chs = crop[..., channels].astype(np.float32)
    small_all = cv2.resize(chs, (sw, sh), interpolation=cv2.INTER_AREA)
    small_all = small_all.reshape(sh, sw, len(channels))
    best, best_score = None, -np.inf
    for i in range(len(channels)):
        ch = chs[..., i]
        small_ch = np.ascontiguousarray(small_all[..., i])
        # extrapolate the well's own values outwards (normalised convolution)
        # so the closing does not treat the well edge as a dark feature
        num = cv2.GaussianBlur(small_ch * mask_small, (0, 0), 2.0 * r_small)
        den = cv2.GaussianBlur(mask_small, (0, 0), 2.0 * r_small)
        ext = num / np.maximum(den, 1e-6)
        small = np.where(mask_small > 0.99, small_ch, ext).astype(np.float32)
        bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
        bg = cv2.GaussianBlur(bg, (0, 0), max(1.0, r_small / 2))
        bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
        con = np.maximum(bg, 1.0)
        np.divide(ch, con, out=con)
        np.subtract(1.0, con, out=con)  # 1 - I / background, without temporaries
        con = cv2.GaussianBlur(con, (0, 0), 1.0)
        vals = con.ravel()[sample]
        med, sigma = _background_level(vals)
        score = (float(np.percentile(vals, 99.5)) - med) / sigma
        if score > best_score:
            best, best_score = con - med, score
    out = best if best is not None else np.zeros((h, w), np.float32)
    out[~mask] = 0.0
    return out


def _hysteresis_threshold(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Hysteresis threshold: the 4-connected components of ``image > low``
    that contain a pixel ``> high``.

    The same mask as ``skimage.filters.apply_hysteresis_threshold`` (which
    labels with ``scipy.ndimage.label``'s default 4-connectivity), with the
    components labelled by ``cv2.connectedComponents`` and tested with one
    ``np.bincount`` instead of ``ndi.sum`` over every label (3-5x faster).
    """
    low = min(low, high)
    n, lab = cv2.connectedComponents((image > low).view(np.uint8), connectivity=4,
                                     ltype=cv2.CV_32S)
    hit = np.bincount(lab[image > high], minlength=n) > 0
    hit[0] = False
    return hit[lab]


def _fill_small_holes(mask: np.ndarray, max_size: int) -> np.ndarray:
    """Fill the 4-connected background components of at most ``max_size`` pixels.

    The same mask as ``skimage.morphology.remove_small_holes(mask,
    max_size=max_size)`` (default connectivity 1), with the background
    labelled by ``cv2.connectedComponents``.
    """
    n, lab = cv2.connectedComponents((~mask).view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    small = np.bincount(lab.ravel(), minlength=n) <= max_size
    small[0] = False
    return mask | small[lab]


def _drop_small_labels(lab: np.ndarray, size: float, *, inclusive: bool) -> None:
    """Set to 0, in place, the labels of ``lab`` with fewer than ``size`` pixels
    (``inclusive``: with at most ``size`` pixels).

    The same as ``skimage.morphology.remove_small_objects`` on a label image
    (other labels keep their numbers), counting only the labelled pixels.
    """
    if not lab.flags.c_contiguous:
        raise ValueError("label image must be C-contiguous (it is changed in place)")
    flat = lab.reshape(-1)  # a view of lab
    nz = np.flatnonzero(flat)
    ids = flat[nz]
    sizes = np.bincount(ids)
    small = sizes <= size if inclusive else sizes < size
    flat[nz[small[ids]]] = 0


def _background_level(vals: np.ndarray) -> tuple[float, float]:
    """Background level and noise of a well's darkening values.

    The level is the median. Colonies only add positive darkening, and on
    dense wells they can cover a quarter or more of the well, which inflates
    the median absolute deviation (up to 7x on dense synthetic 24-well
    wells, so clear colonies fell below the threshold). The noise is
    therefore the robust (MAD-scaled) spread of the values at or below the
    median, the side colonies do not reach.

    Returns
    -------
    tuple of float
        ``(level, sigma)``.
    """
    v = np.asarray(vals, dtype=np.float64)
    if v.size == 0:
        return 0.0, 1e-3
    level = float(np.median(v))
    below = v[v <= level]
    sigma = 1.4826 * float(np.median(level - below))
    return level, max(sigma, 1e-3)


def _solidity(mask: np.ndarray) -> float:
    """Area over convex-hull area of a binary mask (OpenCV hull of the outline)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    pts = np.concatenate(contours)
    # contour points run through pixel centres: pad the hull by half a pixel
    hull = cv2.convexHull(pts)
    hull_area = cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True)
    return min(1.0, float(np.count_nonzero(mask)) / max(hull_area + 1.0, 1.0))


def _filled_area(mask: np.ndarray) -> float:
    """Area of a binary mask with its holes filled (OpenCV contour hierarchy)."""
    contours, hier = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                      cv2.CHAIN_APPROX_SIMPLE)
    holes = 0.0
    if hier is not None:
        for c, h in zip(contours, hier[0], strict=True):
            if h[3] != -1:  # has a parent: a hole
                holes += cv2.contourArea(c) + 0.5 * cv2.arcLength(c, True)
    return float(np.count_nonzero(mask)) + holes


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """A binary mask with its holes filled (outer contours drawn filled by
    OpenCV; much faster than iterative ``ndi.binary_fill_holes``)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out.astype(bool) | mask


def _bubble_band(raw: np.ndarray, min_px: float) -> np.ndarray:
    """Annuli covering the outlines of air bubbles in a thresholded well.

    A bubble outline is a thresholded component enclosing a hole so that its
    filled area is much larger than itself and roughly convex. Objects lying
    mostly within such an annulus are pieces of the outline, not colonies.
    Candidates are found from one contour hierarchy of the whole well
    (``cv2.findContours``, outer contours and their holes); only components
    whose holes make up a sizeable part of their outline's area are examined
    one by one.
    """
    band = np.zeros(raw.shape, bool)
    raw8 = raw.astype(np.uint8)
    contours, hier = cv2.findContours(raw8, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return band
    hier = hier[0]
    outer_area = np.zeros(len(contours))
    hole_area = np.zeros(len(contours))
    for ci, (c, hrow) in enumerate(zip(contours, hier, strict=True)):
        a = cv2.contourArea(c) + 0.5 * cv2.arcLength(c, True)
        if hrow[3] == -1:
            outer_area[ci] = a
        else:
            hole_area[hrow[3]] += a
    # a ring has filled area > RING_FILL_RATIO x its own area, i.e. holes
    # > (1 - 1 / RING_FILL_RATIO) of its outline area; looser here, exact below
    cand = np.flatnonzero((outer_area >= 0.5 * min_px)
                          & (hole_area > 0.5 * (1.0 - 1.0 / RING_FILL_RATIO) * outer_area))
    if cand.size == 0:
        return band
    for ci in cand:
        # the (4-connected) component at the contour's first point, labelled
        # within the outline's bounding box, which contains all of it
        x, y = contours[ci][0, 0]
        bx, by, bw, bh = cv2.boundingRect(contours[ci])
        sl = (slice(by, by + bh), slice(bx, bx + bw))
        _n, lab_box = cv2.connectedComponents(raw8[sl], connectivity=4, ltype=cv2.CV_32S)
        i = int(lab_box[y - by, x - bx])
        if i == 0:
            continue
        m = lab_box == i
        area = float(np.count_nonzero(m))
        if area < 0.5 * min_px:
            continue
        fa = _filled_area(m)
        if fa <= RING_FILL_RATIO * area:
            continue
        filled = _fill_holes(m)
        if _solidity(filled) < 0.8:
            continue
        # centroid from the (exact, integer) raw moments of the filled outline
        mom = cv2.moments(filled.view(np.uint8), binaryImage=True)
        fa = float(mom["m00"])
        cy, cx = mom["m01"] / fa, mom["m10"] / fa
        radius = math.sqrt(fa / math.pi)
        half = area / (2.0 * math.pi * radius) / 2.0 + 1.5
        yy, xx = np.ogrid[sl[0].start:sl[0].stop, sl[1].start:sl[1].stop]
        d = (yy - sl[0].start - cy) ** 2 + (xx - sl[1].start - cx) ** 2
        np.sqrt(d, out=d)  # distance to the centroid, in place (fewer full-box passes)
        d -= radius - half + 1.5
        np.abs(d, out=d)
        band[sl] |= d <= half
    return band


@dataclass(frozen=True)
class _ObjectStats:
    """Per-object measurements of a label image, indexed by label (0 unused)."""

    n: int
    area: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    con_mean: np.ndarray
    grey_mean: np.ndarray
    core_area: np.ndarray
    centre_con: np.ndarray
    band_frac: np.ndarray
    on_edge: np.ndarray
    major: np.ndarray
    minor: np.ndarray
    ecc: np.ndarray


def _object_stats(
    lab: np.ndarray,
    con: np.ndarray,
    grey: np.ndarray,
    band: np.ndarray,
    edge: np.ndarray,
    r_px: float,
) -> _ObjectStats:
    """Measure every labelled object at once (labelled sums, no per-object loop).

    Area, centroid, mean darkening and grey level, the dense-core area (pixels
    at >= half the object's 90th-percentile darkening, ``np.percentile``'s
    linear interpolation), the mean darkening in a window of half-size
    ``max(1, round(r_px / 3))`` around the centroid (integral image), the
    fraction of pixels on a bubble outline, contact with the mask edge, and
    the axes and eccentricity of the ellipse with the same second moments
    (the definition of ``skimage.measure.regionprops``).
    """
    n = int(lab.max())
    flat = lab.ravel()
    nz = np.flatnonzero(flat)
    ids = flat[nz]
    h, w = lab.shape
    rr = (nz // w).astype(np.float64)
    cc = (nz % w).astype(np.float64)
    cnt = np.bincount(ids, minlength=n + 1).astype(np.float64)
    per = np.maximum(cnt, 1.0)

    def mean(v: np.ndarray) -> np.ndarray:
        return np.bincount(ids, v, minlength=n + 1) / per

    v = con.ravel()[nz].astype(np.float64)
    cy, cx = mean(rr), mean(cc)
    # 90th percentile per object: sort by (label, value), interpolate; one
    # argsort of label + value scaled into [0, 0.5) (monotone within a label)
    # is ~5x faster than np.lexsort
    span = float(v.max() - v.min()) + 1.0 if v.size else 1.0
    order = np.argsort(ids + (v - (v.min() if v.size else 0.0)) / (2.0 * span))
    vs = v[order]
    start = np.concatenate(([0.0], np.cumsum(cnt)[:-1]))[1:]  # first pixel of labels 1..n
    pos = 0.9 * np.maximum(cnt[1:] - 1.0, 0.0)
    lo = np.floor(pos)
    hi = np.minimum(lo + 1.0, np.maximum(cnt[1:] - 1.0, 0.0))
    p90 = np.zeros(n + 1)
    if vs.size:
        ilo = (start + lo).astype(np.int64)
        ihi = (start + hi).astype(np.int64)
        ok = cnt[1:] > 0
        ilo, ihi = np.where(ok, ilo, 0), np.where(ok, ihi, 0)
        p90[1:] = np.where(ok, vs[ilo] + (pos - lo) * (vs[ihi] - vs[ilo]), 0.0)
    core = np.bincount(ids, v >= 0.5 * p90[ids], minlength=n + 1)
    # mean darkening in a small window at the centroid (hollow test)
    half = max(1, int(round(r_px / 3)))
    integ = cv2.integral(con, sdepth=cv2.CV_64F)  # float64 sums of the float32 map
    yi, xi = np.rint(cy).astype(np.int64), np.rint(cx).astype(np.int64)
    ya, yb = np.clip(yi - half, 0, h), np.clip(yi + half + 1, 0, h)
    xa, xb = np.clip(xi - half, 0, w), np.clip(xi + half + 1, 0, w)
    win_sum = integ[yb, xb] - integ[ya, xb] - integ[yb, xa] + integ[ya, xa]
    win_n = np.maximum((yb - ya) * (xb - xa), 1)
    # second central moments -> ellipse axes
    mu20 = mean(cc * cc) - cx * cx
    mu02 = mean(rr * rr) - cy * cy
    mu11 = mean(rr * cc) - cx * cy
    root = np.sqrt(np.maximum(((mu20 - mu02) / 2) ** 2 + mu11**2, 0.0))
    l1 = (mu20 + mu02) / 2 + root
    l2 = np.maximum((mu20 + mu02) / 2 - root, 0.0)
    ecc = np.where(l1 > 0, np.sqrt(np.clip(1 - l2 / np.where(l1 > 0, l1, 1.0), 0, 1)), 0.0)
    return _ObjectStats(
        n=n, area=cnt, cx=cx, cy=cy, con_mean=mean(v),
        grey_mean=mean(grey.ravel()[nz].astype(np.float64)), core_area=core,
        centre_con=win_sum / win_n, band_frac=mean(band.ravel()[nz].astype(np.float64)),
        on_edge=np.bincount(ids, edge.ravel()[nz], minlength=n + 1) > 0,
        major=4 * np.sqrt(np.maximum(l1, 0.0)), minor=4 * np.sqrt(l2), ecc=ecc,
    )


def _merge_shallow_basins(d: np.ndarray, ws: np.ndarray, h: float) -> np.ndarray:
    """Merge watershed basins of a distance map whose dynamics are below ``h``.

    ``ws`` holds one basin per regional maximum of ``d``. Each boundary
    between two basins has a pass value (the highest ``min(d_a, d_b)`` over
    its 4-neighbour pixel pairs). Passes are visited from the highest down
    (union-find); two basins are merged when the lower of their peaks rises
    less than ``h`` above the pass, i.e. when it is not a maximum of dynamic
    ``h``. The surviving basins are those of the h-maxima markers
    (Grimaud 1992; Vincent & Soille 1991), computed without a morphological
    reconstruction (which dominated the run time).

    Returns
    -------
    numpy.ndarray
        Basin labels renumbered 1..k (0 outside the object).
    """
    k = int(ws.max())
    if k < 2:
        return ws
    peak = np.zeros(k + 1, np.float64)
    nz = np.flatnonzero(ws.ravel())
    np.maximum.at(peak, ws.ravel()[nz].astype(np.intp), d.ravel()[nz].astype(np.float64))
    keys, vals = [], []
    for a, b, da, db in ((ws[:, :-1], ws[:, 1:], d[:, :-1], d[:, 1:]),
                         (ws[:-1, :], ws[1:, :], d[:-1, :], d[1:, :])):
        sel = (a > 0) & (b > 0) & (a != b)
        lo, hi = np.minimum(a[sel], b[sel]), np.maximum(a[sel], b[sel])
        keys.append(lo.astype(np.int64) * (k + 1) + hi)
        vals.append(np.minimum(da[sel], db[sel]))
    key = np.concatenate(keys)
    if key.size == 0:
        return ws
    val = np.concatenate(vals)
    order = np.lexsort((val, key))
    key, val = key[order], val[order]
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])  # max per pair
    pairs, passes = key[last], val[last]
    parent = list(range(k + 1))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for j in np.argsort(-passes, kind="stable"):
        a, b = divmod(int(pairs[j]), k + 1)
        ra, rb = find(a), find(b)
        if ra != rb and min(peak[ra], peak[rb]) - float(passes[j]) < h:
            if peak[ra] < peak[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
    roots = np.array([find(x) for x in range(k + 1)])
    _, new = np.unique(roots, return_inverse=True)
    return new.reshape(-1)[ws].astype(ws.dtype)


def _bodies_on_outline(
    ring: np.ndarray, area: float, min_px: float
) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """Thick bodies (colonies) merged with a thin ring (air-bubble outline).

    The outline's mean width is its area over its circumference (radius from
    the filled area). An opening with a Euclidean disc wider than the
    outline (radius ``k = width + 1``, as distance-transform thresholds:
    erosion = pixels farther than ``k`` from the background, dilation =
    pixels within ``k`` of those) removes the outline, including where two
    outlines cross, and keeps what is thicker: colonies lying on it.

    Returns
    -------
    list of (slices, mask)
        Bodies of at least the minimum colony area, each as its bounding box
        within ``ring`` and its mask there; they are then split and tested
        like every other object.
    """
    radius = math.sqrt(_filled_area(ring) / math.pi)
    width = area / (2.0 * math.pi * max(radius, 1.0))
    k = float(math.ceil(width) + 1)
    ring8 = ring.astype(np.uint8)
    seeds = cv2.distanceTransform(ring8, cv2.DIST_L2, 5) > k
    if not seeds.any():
        return []
    near = cv2.distanceTransform((~seeds).astype(np.uint8), cv2.DIST_L2, 5) <= k
    lab, n = ndi.label(near & ring)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    out = []
    for j, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is not None and sizes[j] >= min_px:
            out.append((sl, lab[sl] == j))
    return out


def _split(binary: np.ndarray, h: float, min_single_px: float) -> tuple[np.ndarray, set[int]]:
    """Label ``binary`` and split touching objects by distance watershed.

    Markers are the maxima of the (slightly smoothed) Euclidean distance map
    with dynamic >= ``h`` (:func:`_merge_shallow_basins`); convex objects
    (solidity >= :data:`SINGLE_SOLIDITY`) and objects too small to hold two
    colonies are not split, ring-shaped objects (bubble outlines) are
    returned in ``rings`` and never split.
    """
    # 4-connected components numbered in raster order, as ndi.label (OpenCV's
    # labelling, run with one thread by count_colonies: same numbering, ~2x faster)
    n, lab = cv2.connectedComponents(binary.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    n -= 1
    rings: set[int] = set()
    if n == 0:
        return lab.astype(np.int32), rings
    dist = cv2.distanceTransform(binary.astype(np.uint8), cv2.DIST_L2, 5)
    dist = cv2.GaussianBlur(dist, (0, 0), 1.0)
    out = lab.astype(np.int32)
    sizes = np.bincount(out.ravel(), minlength=n + 1)
    next_id = n + 1
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None or sizes[i] < 1.8 * min_single_px:
            continue
        m = lab[sl] == i
        area = int(sizes[i])
        sol = _solidity(m)
        if sol >= SINGLE_SOLIDITY:
            continue  # convex blob: one colony, no watershed needed
        if (sol < 0.8 and _filled_area(m) > RING_FILL_RATIO * area
                and _solidity(_fill_holes(m)) > RING_MIN_SOLIDITY):
            rings.add(i)  # a bubble outline: never split, rejected as a bubble ...
            # ... but colonies lying on the outline are kept as objects of their own
            # (touching ones split like any other object)
            for csl, core in _bodies_on_outline(m, area, min_single_px):
                core_dist = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 5)
                ws = _watershed_pieces(core, cv2.GaussianBlur(core_dist, (0, 0), 1.0), h)
                sub = out[sl][csl]
                for j in range(1, int(ws.max()) + 1):
                    sub[ws == j] = next_id
                    next_id += 1
            continue
        ws = _watershed_pieces(m, dist[sl], h)
        sub = out[sl]
        for j in range(2, int(ws.max()) + 1):
            sub[ws == j] = next_id
            next_id += 1
    return out, rings


def _watershed_pieces(m: np.ndarray, dist: np.ndarray, h: float) -> np.ndarray:
    """Distance watershed of one object: labels 1..k of its pieces (1 if whole)."""
    d = np.where(m, dist, 0.0).astype(np.float32)
    # regional maxima (3x3); plateaus that are not maxima merge below
    peaks = (d >= ndi.maximum_filter(d, size=3)) & m
    markers, k = ndi.label(peaks, structure=np.ones((3, 3), bool))
    if k < 2:
        return m.astype(np.int32)
    return _merge_shallow_basins(d, segmentation.watershed(-d, markers, mask=m), h)


@_single_threaded
def count_colonies(
    image: np.ndarray,
    layout: str = "dish",
    *,
    min_area_um2: float | None = DEFAULT_MIN_AREA_UM2,
    min_area_px: float | None = None,
    well_diameter_mm: float | None = None,
    rim_fraction: float = DEFAULT_RIM_FRACTION,
    wells: pd.DataFrame | None = None,
    corrections: Iterable[Correction] = (),
) -> CountResult:
    """Count stained colonies on a dish or multi-well plate image.

    Parameters
    ----------
    image
        RGB or grey image (``uint8`` or other numeric type); dark colonies
        on a lighter background.
    layout
        ``"dish"``, ``"6-well"``, ``"12-well"`` or ``"24-well"``.
    min_area_um2
        Minimum colony area in um^2 (calibrated from the well diameter).
    min_area_px
        Minimum colony area in pixels; overrides ``min_area_um2``.
    well_diameter_mm
        Inner diameter of the dish / wells; default from the layout.
    rim_fraction
        Fraction of the well radius masked as rim.
    wells
        Known wells (``well, cx, cy, radius_px``) to skip detection.
    corrections
        Manual corrections to apply (see :func:`apply_corrections`).

    Returns
    -------
    CountResult

    Raises
    ------
    InputError
        Bad image, wrong layout or bad parameters.
    """
    img = check_image(image)
    lay = get_layout(layout)
    if not 0.0 <= rim_fraction < 0.5:
        raise InputError("rim_fraction must be in [0, 0.5)", value=rim_fraction)
    if min_area_px is not None and min_area_px <= 0:
        raise InputError("minimum area must be > 0 px", value=min_area_px)
    if min_area_px is None and (min_area_um2 is None or min_area_um2 <= 0):
        raise InputError("minimum area must be > 0 um^2", value=min_area_um2)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if wells is None:
        well_tab = detect_wells(grey, lay)
        well_tab["radius_px"] = [
            refine_well_radius(grey, w.cx, w.cy, w.radius_px) for w in well_tab.itertuples()
        ]
    else:
        well_tab = wells.reset_index(drop=True)
    diam_mm = float(well_diameter_mm or lay.well_diameter_mm)
    um_per_px = diam_mm * 1000.0 / (2.0 * float(np.median(well_tab["radius_px"])))
    min_px = float(min_area_px) if min_area_px is not None else float(min_area_um2) / um_per_px**2
    r_min_px = math.sqrt(min_px / math.pi)
    se_px = MAX_COLONY_RADIUS_MM * 1000.0 / um_per_px
    open_r = max(1, round(OPEN_FRACTION * r_min_px))
    open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_r + 1, 2 * open_r + 1))
    h_split = max(1.0, H_SPLIT_FRACTION * r_min_px)

    H, W = img.shape[:2]
    labels = np.zeros((H, W), np.int32)
    rows: list[dict[str, Any]] = []
    next_id = 1
    for wrow in well_tab.itertuples(index=False):
        r_in = float(wrow.radius_px) * (1.0 - rim_fraction)
        x0, x1 = max(int(wrow.cx - r_in) - 2, 0), min(int(wrow.cx + r_in) + 3, W)
        y0, y1 = max(int(wrow.cy - r_in) - 2, 0), min(int(wrow.cy + r_in) + 3, H)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        mask = (xx - wrow.cx) ** 2 + (yy - wrow.cy) ** 2 <= r_in**2
        con = _background_contrast(img[y0:y1, x0:x1], mask, se_px)
        med, sigma = _background_level(con.ravel()[np.flatnonzero(mask.ravel())[::3]])
        lo = max(LOW_CONTRAST_FLOOR, med + LOW_NOISE_K * sigma)
        hi = max(HIGH_CONTRAST_FLOOR, med + HIGH_NOISE_K * sigma)
        raw = _hysteresis_threshold(con, lo, hi)
        opened = cv2.morphologyEx(raw.view(np.uint8), cv2.MORPH_OPEN, open_kernel).view(bool)
        opened = _fill_small_holes(opened, int(HOLE_FRACTION * min_px))
        # thin structures removed by the opening: keep the large ones as rejected
        thin_lab = measure.label(raw & ~opened)
        _drop_small_labels(thin_lab, max(4, int(min_px / 2)), inclusive=True)
        band = _bubble_band(raw, min_px)
        lab, rings = _split(opened, h_split, min_px)
        # drop specks below a quarter of the minimum area before measuring
        # (in place, on the object pixels only: labels are not renumbered)
        _drop_small_labels(lab, 0.25 * min_px, inclusive=False)
        ring2 = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        edge = cv2.erode(mask.astype(np.uint8), ring2, iterations=2) == 0
        crop_grey = grey[y0:y1, x0:x1]
        # per-object statistics in one vectorised pass (labelled sums), then
        # a short per-object decision loop; only the shape tests that need an
        # outline (solidity, holes) look at the object's bounding box
        st = _object_stats(lab, con, crop_grey, band, edge, r_min_px)
        lut = np.zeros(st.n + 1, np.int32)
        for i, sl in enumerate(ndi.find_objects(lab), start=1):
            area = float(st.area[i])
            if sl is None or area < 0.25 * min_px:
                continue
            mean_con = float(st.con_mean[i])
            reason = ""
            # size of the object's dense core: the thresholded outline
            # includes a blur halo that makes specks look bigger than they are
            if area < CORE_FRACTION * min_px or st.core_area[i] < CORE_FRACTION * min_px:
                reason = "small"
            elif mean_con < FAINT_CONTRAST:
                reason = "faint"  # uneven background, not a stained colony
            elif st.centre_con[i] / max(mean_con, 1e-6) < HOLLOW_RATIO:
                reason = "bubble"  # bright centre inside a dark outline
            else:
                major, minor, ecc = st.major[i], st.minor[i], st.ecc[i]
                thin = minor < THIN_FRACTION * 2.0 * r_min_px
                obj = lab[sl] == i
                if thin or major > MAX_ELONGATION * max(minor, 1.0):
                    reason = "debris"  # fibre, scratch, bubble edge
                elif st.on_edge[i] and (ecc > 0.9 or _solidity(obj) < 0.8):
                    reason = "rim"
                elif (i in rings or _filled_area(obj) > RING_FILL_RATIO * area
                      or st.band_frac[i] > BAND_FRACTION):
                    reason = "bubble"
                elif _solidity(obj) < MIN_SOLIDITY:
                    reason = "debris"
            lut[i] = next_id
            rows.append({
                "colony_id": next_id, "well": wrow.well,
                "x": x0 + float(st.cx[i]), "y": y0 + float(st.cy[i]),
                "area_px": area, "area_um2": area * um_per_px**2,
                "diameter_um": 2.0 * math.sqrt(area / math.pi) * um_per_px,
                "mean_intensity": float(st.grey_mean[i]),
                "mean_contrast": mean_con, "accepted": reason == "",
                "reason": reason, "source": "auto",
            })
            next_id += 1
        crop_lab = lut[lab]
        labels[y0:y1, x0:x1] = np.where(crop_lab > 0, crop_lab, labels[y0:y1, x0:x1])
        for rp in measure.regionprops(thin_lab, intensity_image=con):
            coords = rp.coords
            cy_, cx_ = rp.centroid
            reason = "bubble" if _filled_area(rp.image) > RING_FILL_RATIO * rp.area else "debris"
            labels[y0 + coords[:, 0], x0 + coords[:, 1]] = next_id
            rows.append({
                "colony_id": next_id, "well": wrow.well, "x": x0 + cx_, "y": y0 + cy_,
                "area_px": float(rp.area), "area_um2": float(rp.area) * um_per_px**2,
                "diameter_um": 2.0 * math.sqrt(rp.area / math.pi) * um_per_px,
                "mean_intensity": float(crop_grey[coords[:, 0], coords[:, 1]].mean()),
                "mean_contrast": float(rp.intensity_mean), "accepted": False,
                "reason": reason, "source": "auto",
            })
            next_id += 1
    colonies = pd.DataFrame(rows, columns=COLONY_COLUMNS)
    params = {
        "layout": lay.name, "min_area_um2": min_area_um2, "min_area_px": min_px,
        "well_diameter_mm": diam_mm, "rim_fraction": rim_fraction,
        "open_radius_px": open_r, "h_split_px": h_split,
        "hole_fill_px": int(HOLE_FRACTION * min_px),
    }
    wt = well_tab[["well", "cx", "cy", "radius_px"]].copy()
    result = CountResult(lay.name, _with_counts(wt, colonies), colonies, um_per_px, min_px,
                         params, labels, ())
    corr = tuple(corrections)
    return apply_corrections(result, corr) if corr else result


def _with_counts(wells: pd.DataFrame, colonies: pd.DataFrame) -> pd.DataFrame:
    acc = colonies[colonies["accepted"]].groupby("well").size()
    out = wells.copy()
    out["colonies"] = [int(acc.get(w, 0)) for w in out["well"]]
    return out.reset_index(drop=True)


def _well_at(wells: pd.DataFrame, x: float, y: float) -> str | None:
    d = np.hypot(wells["cx"].to_numpy() - x, wells["cy"].to_numpy() - y)
    i = int(np.argmin(d))
    return str(wells["well"].iloc[i]) if d[i] <= wells["radius_px"].iloc[i] else None


def apply_corrections(result: CountResult, corrections: Iterable[Correction]) -> CountResult:
    """Apply manual corrections to a count.

    ``remove`` un-counts the accepted object under (x, y) - or, if none is
    under it, the nearest accepted colony within one minimum-colony diameter
    (else it is ignored). ``add`` counts the rejected object under (x, y),
    or adds a manual colony at (x, y) when nothing was segmented there.

    Raises
    ------
    InputError
        If an added point lies outside every well.
    """
    corr = tuple(result.corrections) + tuple(corrections)
    col = result.colonies.copy()
    labels = result.labels
    h, w = labels.shape
    reach = 2.0 * math.sqrt(result.min_area_px / math.pi)
    next_id = int(col["colony_id"].max()) + 1 if len(col) else 1
    for c in corrections:
        ix, iy = int(round(c.x)), int(round(c.y))
        lab = int(labels[iy, ix]) if 0 <= ix < w and 0 <= iy < h else 0
        hit = col.index[col["colony_id"] == lab] if lab else col.index[:0]
        if c.action == "remove":
            if len(hit) and bool(col.loc[hit[0], "accepted"]):
                idx = hit[0]
            else:
                acc = col[col["accepted"]]
                if acc.empty:
                    continue
                d = np.hypot(acc["x"] - c.x, acc["y"] - c.y)
                if float(d.min()) > reach:
                    continue
                idx = d.idxmin()
            col.loc[idx, "accepted"] = False
            col.loc[idx, "reason"] = "manual-remove"
        else:
            well = _well_at(result.wells, c.x, c.y)
            if well is None:
                raise InputError(f"added colony at ({c.x:.0f}, {c.y:.0f}) is outside every well")
            if len(hit) and not bool(col.loc[hit[0], "accepted"]):
                col.loc[hit[0], ["accepted", "reason", "source"]] = [True, "", "manual"]
                continue
            new = {k: np.nan for k in COLONY_COLUMNS}
            new.update({"colony_id": next_id, "well": well, "x": c.x, "y": c.y,
                        "accepted": True, "reason": "", "source": "manual"})
            col = pd.concat([col, pd.DataFrame([new], columns=COLONY_COLUMNS)], ignore_index=True)
            next_id += 1
    col["accepted"] = col["accepted"].astype(bool)
    return CountResult(
        result.layout, _with_counts(result.wells.drop(columns="colonies"), col), col,
        result.um_per_px, result.min_area_px, result.params, labels, corr,
    )


# -------------------------------------------------------------------- overlay


def render_overlay(image: np.ndarray, result: CountResult) -> np.ndarray:
    """QC picture: counted colonies outlined in green and numbered, rejected
    objects outlined in red, manual additions as cyan circles, manual
    removals crossed in orange, wells in yellow with their count.

    Returns
    -------
    numpy.ndarray
        RGB ``uint8`` image of the same size as ``image``.
    """
    img = check_image(image).copy()
    col = result.colonies
    lab = result.labels
    ids = col["colony_id"].to_numpy()
    lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, np.uint8)
    auto = col[col["source"] == "auto"]
    for cid, acc, reason in zip(auto["colony_id"], auto["accepted"], auto["reason"], strict=True):
        if 0 < cid < len(lut):
            lut[int(cid)] = 1 if acc else (3 if reason == "manual-remove" else 2)
    manual = col[(col["source"] == "manual")]
    for cid in manual["colony_id"]:
        if 0 < cid < len(lut):
            lut[int(cid)] = 1
    bound = segmentation.find_boundaries(lab, mode="inner")
    kind = lut[lab]
    img[bound & (kind == 1)] = (0, 200, 0)
    img[bound & (kind == 2)] = (230, 0, 0)
    img[bound & (kind == 3)] = (255, 140, 0)
    scale = max(img.shape[:2]) / 1500.0
    fs = 0.35 * max(scale, 0.6)
    acc = col[col["accepted"]].sort_values(["well", "y", "x"])
    for n, row in enumerate(acc.itertuples(index=False), start=1):
        pt = (int(row.x) + 3, int(row.y) - 3)
        drawn = 0 < row.colony_id < len(lut) and (lab == row.colony_id).any()
        if row.source == "manual" and not drawn:
            cv2.circle(img, (int(row.x), int(row.y)), int(6 * max(scale, 1)), (0, 220, 255), 2)
        cv2.putText(img, str(n), pt, cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(img, str(n), pt, cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 0), 1, cv2.LINE_AA)
    for row in col[col["reason"] == "manual-remove"].itertuples(index=False):
        s = int(6 * max(scale, 1))
        x, y = int(row.x), int(row.y)
        cv2.line(img, (x - s, y - s), (x + s, y + s), (255, 140, 0), 2)
        cv2.line(img, (x - s, y + s), (x + s, y - s), (255, 140, 0), 2)
    for wrow in result.wells.itertuples(index=False):
        cv2.circle(img, (int(wrow.cx), int(wrow.cy)), int(wrow.radius_px), (255, 215, 0), 2)
        label = f"{wrow.well}: {wrow.colonies}"
        org = (int(wrow.cx - wrow.radius_px * 0.5), int(max(wrow.cy - wrow.radius_px * 0.85, 20)))
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * max(scale, 0.6), (0, 0, 0), 5,
                    cv2.LINE_AA)
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * max(scale, 0.6),
                    (255, 215, 0), 2, cv2.LINE_AA)
    del ids
    return img


def save_overlay(path: str | Path, image: np.ndarray, result: CountResult) -> Path:
    """Render the QC overlay and write it as PNG; returns the path."""
    out = render_overlay(image, result)
    p = Path(path)
    if not cv2.imwrite(str(p), out[..., ::-1]):
        raise InputError("cannot write overlay", file=str(p))
    return p


def count_image_file(
    path: str | Path,
    layout: str = "dish",
    *,
    use_sidecar: bool = True,
    **kwargs: Any,
) -> tuple[np.ndarray, CountResult]:
    """Load an image, count it and re-apply its sidecar corrections.

    Returns the image (for overlays) and the result.
    """
    img = load_image(path)
    corr: list[Correction] = []
    if use_sidecar:
        side = sidecar_path(path)
        corr, sha = load_sidecar(side)
        if sha is not None and sha != image_sha256(path):
            raise InputError(
                "the stored corrections were made for a different version of this image "
                "(checksum differs); delete the file or count without corrections",
                file=str(side),
            )
    try:
        res = count_colonies(img, layout, corrections=corr, **kwargs)
    except InputError as exc:
        raise InputError([type(p)(p.reason, str(path), p.row, p.column, p.value)
                          for p in exc.problems]) from None
    return img, res
