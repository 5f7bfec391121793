"""Counting colonies on a dish or plate: per-well segmentation, artefact
rejection, the result type, manual corrections and their sidecar file.

Method (the full chain; each step in its module):

1. **Dish / well detection** (:mod:`.wells`).
2. **Rim masking** - only the disc of radius ``(1 - rim_fraction) * r`` is
   analysed; objects reaching the mask edge that are elongated are rejected
   as rim (meniscus shadow, wall, pen marks on the rim).
3. **Background correction, threshold, splitting** (:mod:`.segmentation`);
   a morphological opening removes thin structures (bubble edges,
   fibres); holes smaller than half the minimum colony area (pale spots
   inside colonies) are filled.
4. **Artefact rejection** - per object: too small (abortive colony, dust),
   ring-shaped (bubble: filled area much larger than stained area),
   irregular (debris: low solidity, or thin and elongated), rim.

Manual corrections (add / remove a colony at image coordinates) are kept in
a JSON sidecar next to the image and re-applied on every re-analysis."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage import measure

from decidua.assays.clonogenicity._opencv import _single_threaded
from decidua.assays.clonogenicity.image import check_image, image_sha256, load_image
from decidua.assays.clonogenicity.layouts import get_layout
from decidua.assays.clonogenicity.qc import image_confidence, min_visible, well_qc
from decidua.assays.clonogenicity.segmentation import (
    HIGH_CONTRAST_FLOOR,
    HIGH_NOISE_K,
    LOW_CONTRAST_FLOOR,
    LOW_NOISE_K,
    RING_FILL_RATIO,
    _background_contrast_scored,
    _background_level,
    _bubble_band,
    _drop_small_labels,
    _fill_small_holes,
    _filled_area,
    _hysteresis_threshold,
    _ink_mask,
    _object_stats,
    _solidity,
    _split,
    _split_by_size,
)
from decidua.assays.clonogenicity.vessel import find_flask, plate_view, roi_mask, view_of
from decidua.assays.clonogenicity.wells import (
    detect_wells,
    pitch_calibrated,
    refine_well_radius,
)
from decidua.errors import InputError

#: Default minimum colony area (um^2). Colonies are counted at >= 50 cells
#: (Gargett et al., Biol Reprod 2009; Lucas et al., Stem Cells 2016); a
#: spread stromal / mesenchymal cell covers roughly 2,000 um^2 in culture
#: (assumption, order of magnitude), so 50 cells cover >= ~0.1 mm^2.
DEFAULT_MIN_AREA_UM2 = 100_000.0
#: Largest colony radius expected (mm); sets the background closing disc.
MAX_COLONY_RADIUS_MM = 3.0
#: In wells smaller than a 24-well plate's the closing disc is this fraction
#: of the well diameter instead (a colony cannot be larger than the well
#: allows; a 3 mm disc is the whole of a 96-well well, and closing with it
#: left no background to compare with: 0 of 191 colonies). 0.2 x 15.6 mm is
#: 3.1 mm, so the dish and the 6/12/24-well plates keep 3 mm.
BACKGROUND_WELL_FRACTION = 0.2
#: Fraction of the detected well radius masked as rim.
DEFAULT_RIM_FRACTION = 0.03
#: The analysed disc reaches this fraction beyond the detected wall radius
#: before the rim mask: colonies grow up the dish wall, on the slope the
#: wall-radius refinement stops at (OpenCFU sample B: 8 colonies there, 61
#: -> 68, OpenCFU 69); objects of the wall itself are rejected as edge.
#: Dishes only by default (see count_colonies).
DEFAULT_WALL_FRACTION = 0.03
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
#: Cells in the smallest counted colony (the definition of a colony; Gargett
#: et al. 2009) and the area assumed per spread cell (um^2): see
#: DEFAULT_MIN_AREA_UM2.
MIN_COLONY_CELLS = 50
CELL_AREA_UM2 = 2_000.0
#: Accepted dish / well diameters (mm): a 96-well well is ~6.4 mm, a T175
#: flask ~ 230 mm long.
WELL_DIAMETER_RANGE_MM = (1.0, 300.0)
#: Smallest usable minimum colony area (px): below it single noisy pixels
#: would be candidates.
MIN_AREA_FLOOR_PX = 3.0
#: Polarity choices: colonies darker than the background (stained: crystal
#: violet, Giemsa, haematoxylin), lighter (pale colonies on a dark
#: background) or chosen per well.
POLARITIES = ("dark", "light", "auto")
#: With ``polarity="auto"``, a well is read as light colonies on a dark
#: background only when that reading stands out this many times more
#: clearly (bright-tail score) than the dark one: stained plates stay dark.
LIGHT_SCORE_RATIO = 2.0
#: The light reading is only tried when the dark one scores below this: a
#: well whose stain stands out this clearly is a stained well (stained
#: synthetic plates score 60-190, OpenCFU's samples 22-355; inverted
#: plates read dark score ~1). Saves the second background estimate.
LIGHT_PROBE_BELOW = 12.0
#: Pale wells (see :func:`_faint_threshold`).
PALE_MIN_OBJECTS = 20
PALE_RATIO = 2.0
PALE_NOISE_K = 4.0
PALE_FLOOR = 0.04
PALE_PRE_RATIO = 4.0
#: Hysteresis floors used in pale wells (instead of LOW / HIGH_CONTRAST_FLOOR).
PALE_LOW_FLOOR = 0.03
PALE_HIGH_FLOOR = 0.08
#: Working resolution: the image is downsampled (INTER_AREA) when the
#: minimum colony radius exceeds WORK_DOWNSAMPLE_FROM x WORK_MIN_RADIUS_PX
#: pixels, so that it becomes WORK_MIN_RADIUS_PX (a 36 MP photograph of a
#: dish then costs about what a 2 MP one does). Below that, full resolution.
WORK_MIN_RADIUS_PX = 8.0
WORK_DOWNSAMPLE_FROM = 1.5
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

    def well_qc(self) -> list[dict[str, Any]]:
        """Per-well QC: count, rejected objects by reason, flags, confidence
        (see :mod:`~decidua.assays.clonogenicity.qc`)."""
        return well_qc(self.wells, self.colonies, layout=self.layout,
                       min_area_px=self.min_area_px)

    def settings(self) -> dict[str, Any]:
        """The settings used, with units: minimum colony area (and where it
        comes from), vessel diameter (and whether it was assumed), pixel
        size, polarity requested."""
        p = self.params
        um2 = self.min_area_px * self.um_per_px**2
        if p.get("min_area_from_cells"):
            basis = (f"at least {MIN_COLONY_CELLS} cells x {CELL_AREA_UM2:,.0f} um2 per "
                     "spread cell (definition of a colony)")
        elif p.get("min_area_um2") is None:
            basis = "given in pixels"
        else:
            basis = "given"
        return {
            "min_area": {"value": round(um2 / 1e6, 6), "unit": "mm2"},
            "min_area_um2": round(um2, 1),
            "min_area_px": round(self.min_area_px, 2),
            "min_area_basis": basis,
            "min_cells": MIN_COLONY_CELLS,
            "well_diameter_mm": p.get("well_diameter_mm"),
            "well_diameter_assumed": bool(p.get("well_diameter_assumed", False)),
            "um_per_px": round(self.um_per_px, 3),
            "polarity": p.get("polarity", "dark"),
            "view": p.get("view", "as photographed"),
            **({"orientation": ORIENTATION_NOTE}
               if self.layout not in ("dish", "flask") else {}),
        }

    def report(self) -> dict[str, Any]:
        """Everything the CLI's ``--json`` shows for one image except the
        image name: ``colonies`` (int, countable wells), ``wells`` (per-well
        QC), ``settings``, ``flags`` (union over wells) and ``confidence``.

        Examples
        --------
        >>> from decidua.assays.clonogenicity.synthetic import make_plate
        >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)
        >>> rep = count_colonies(plate.image, "dish").report()
        >>> rep["colonies"], rep["wells"][0]["polarity"], rep["settings"]["min_area"]
        (12, 'dark', {'value': 0.1, 'unit': 'mm2'})
        >>> sorted(rep["wells"][0]["rejected"])
        ['bubble', 'debris', 'edge', 'small', 'writing']
        >>> 0.0 <= rep["confidence"] <= 1.0
        True
        """
        wells = self.well_qc()
        flags = sorted({f for w in wells for f in w["flags"]})
        if not any(w["countable"] for w in wells):
            flags.append("no_countable_well")
        return {
            "colonies": self.total,
            "wells": wells,
            "settings": self.settings(),
            "flags": flags,
            "confidence": image_confidence(wells),
        }


def sidecar_path(image_path: str | Path) -> Path:
    """Path of the corrections sidecar of an image (``IMAGE.cfu.json``).

    Examples
    --------
    >>> sidecar_path("plates/p1.jpg").name
    'p1.jpg.cfu.json'
    """
    p = Path(image_path)
    return p.with_name(p.name + ".cfu.json")



def load_corrections(path: str | Path) -> list[Correction]:
    """Read corrections from a sidecar JSON (empty list if it does not exist).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> side = pathlib.Path(tempfile.mkdtemp()) / "p1.jpg.cfu.json"
    >>> load_corrections(side)
    []
    >>> save_corrections(side, [Correction("add", 10, 20)])
    >>> load_corrections(side)
    [Correction(action='add', x=10.0, y=20.0)]
    """
    return load_sidecar(path)[0]


def load_sidecar(path: str | Path) -> tuple[list[Correction], str | None]:
    """Read a sidecar JSON: its corrections and the image SHA-256 it records.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> side = pathlib.Path(tempfile.mkdtemp()) / "p1.jpg.cfu.json"
    >>> save_corrections(side, [Correction("remove", 1, 2)], image_sha="ab12")
    >>> load_sidecar(side)
    ([Correction(action='remove', x=1.0, y=2.0)], 'ab12')
    """
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
    """Write corrections to a sidecar JSON (versioned).

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> side = pathlib.Path(tempfile.mkdtemp()) / "p1.jpg.cfu.json"
    >>> save_corrections(side, [Correction("add", 3, 4)])
    >>> json.loads(side.read_text())["corrections"]
    [{'action': 'add', 'x': 3.0, 'y': 4.0}]
    """
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


@_single_threaded
def _rejected_row(colony_id: int, well: str, rp: Any, x0: int, y0: int,
                  crop_grey: np.ndarray, um_per_px: float, contrast: float,
                  reason: str) -> dict[str, Any]:
    """The colony-table row of an object rejected as ``reason`` (a region of a well's crop
    whose corner is at ``x0, y0``)."""
    coords = rp.coords
    cy_, cx_ = rp.centroid
    return {
        "colony_id": colony_id, "well": well, "x": x0 + cx_, "y": y0 + cy_,
        "area_px": float(rp.area), "area_um2": float(rp.area) * um_per_px**2,
        "diameter_um": 2.0 * math.sqrt(rp.area / math.pi) * um_per_px,
        "mean_intensity": float(crop_grey[coords[:, 0], coords[:, 1]].mean()),
        "mean_contrast": contrast, "accepted": False, "reason": reason, "source": "auto",
    }


def count_colonies(
    image: np.ndarray,
    layout: str = "dish",
    *,
    min_area_um2: float | None = DEFAULT_MIN_AREA_UM2,
    min_area_px: float | None = None,
    well_diameter_mm: float | None = None,
    rim_fraction: float = DEFAULT_RIM_FRACTION,
    wall_fraction: float | None = None,
    wells: pd.DataFrame | None = None,
    corrections: Iterable[Correction] = (),
    polarity: str = "auto",
    roi: Any = None,
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
    wall_fraction
        Fraction of the well radius analysed beyond the detected wall (the
        wall's slope, where colonies also grow); 0 to stop at the wall.
        Default :data:`DEFAULT_WALL_FRACTION` for a dish, 0 for plate wells
        (on the synthetic plates the band added objects of the wall's shadow
        next to well-edge colonies: 6-well, 5 per well, seed 0: 30 -> 34).
    wells
        Known wells (``well, cx, cy, radius_px``) to skip detection.
    corrections
        Manual corrections to apply (see :func:`apply_corrections`).
    polarity
        ``"dark"`` (stained colonies darker than the background),
        ``"light"`` (pale colonies on a dark background) or ``"auto"``
        (chosen per well, reported in ``wells["polarity"]``).
    roi
        Region of interest (a polygon ``N x 2`` in picture coordinates, or a
        mask of the picture's size): only colonies inside it are counted.
        The vessel is still found for the scale and the well names, and each
        well is counted within its part of the region (``roi_fraction``); a
        well outside it is not countable. When the vessel is not found, the
        region itself is the vessel (named ``roi``; its disc-equivalent
        diameter taken as the layout's unless ``well_diameter_mm``).

    Returns
    -------
    CountResult

    Raises
    ------
    InputError
        Bad image, wrong layout or bad parameters (non-finite or absurd
        minimum area or well diameter).

    Examples
    --------
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> result = count_colonies(plate.image, "dish")
    >>> result.total, plate.counts()
    (12, {'dish': 12})
    >>> result.to_dict()["wells"]
    [{'well': 'dish', 'colonies': 12}]
    >>> count_colonies(plate.image, "dish", min_area_px=-1)
    Traceback (most recent call last):
    ...
    decidua.errors.InputError: minimum area must be > 0 px (value -1)
    """
    img = check_image(image)
    lay = get_layout(layout)
    if polarity not in POLARITIES:
        raise InputError(f"polarity must be one of {', '.join(POLARITIES)}", value=polarity)
    if not 0.0 <= rim_fraction < 0.5:
        raise InputError("rim_fraction must be in [0, 0.5)", value=rim_fraction)
    if wall_fraction is None:
        wall_fraction = DEFAULT_WALL_FRACTION if lay.name == "dish" else 0.0
    if not 0.0 <= wall_fraction <= 0.2:
        raise InputError("wall_fraction must be in [0, 0.2]", value=wall_fraction)
    if min_area_px is not None and not min_area_px > 0:
        raise InputError("minimum area must be > 0 px", value=min_area_px)
    if min_area_px is None and (min_area_um2 is None or not min_area_um2 > 0):
        raise InputError("minimum area must be > 0 um^2", value=min_area_um2)
    for name, v in (("minimum area", min_area_px), ("minimum area", min_area_um2)):
        if v is not None and not math.isfinite(float(v)):
            raise InputError(f"{name} must be a finite number", value=v)
    lo_mm, hi_mm = WELL_DIAMETER_RANGE_MM
    if well_diameter_mm is not None and not lo_mm <= float(well_diameter_mm) <= hi_mm:
        raise InputError(
            f"well / dish diameter must be between {lo_mm:g} and {hi_mm:g} mm",
            value=well_diameter_mm)
    view_params: dict[str, Any] = {}
    roi_m = roi_mask(roi, img.shape[:2]) if roi is not None else None
    found = True
    try:
        if wells is None and lay.name == "flask":
            well_tab = find_flask(img)
            view_params = {"view": f"flask: {well_tab['vessel'].iloc[0]}"}
        elif wells is None and lay.name != "dish":
            # the plate as photographed: rectified from its outline, or turned
            # (the count is then in the view's pixels: see vessel.view_of)
            img, view_params, well_tab = plate_view(img, lay)
            if roi_m is not None and "homography" in view_params:
                vw, vh = view_params["view_size"]
                roi_m = cv2.warpPerspective(roi_m.view(np.uint8), np.asarray(
                    view_params["homography"]), (vw, vh), flags=cv2.INTER_NEAREST) > 0
        elif wells is None:
            well_tab = detect_wells(img, lay)
    except InputError:
        if roi_m is None:
            raise
        found = False  # the drawn region is the vessel
        ys, xs = np.nonzero(roi_m)
        x0r, x1r, y0r, y1r = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        well_tab = pd.DataFrame([{
            "well": "roi", "cx": float(xs.mean()), "cy": float(ys.mean()),
            "radius_px": math.sqrt(float(roi_m.sum()) / math.pi),
            "polygon": [[x0r, y0r], [x1r, y0r], [x1r, y1r], [x0r, y1r]]}])
        view_params = {"view": "region of interest taken as the vessel"}
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if wells is None:
        if found and "polygon" not in well_tab and not pitch_calibrated(lay):
            well_tab["radius_px"] = [
                refine_well_radius(grey, w.cx, w.cy, w.radius_px) for w in well_tab.itertuples()
            ]
    else:
        well_tab = wells.reset_index(drop=True)
    if well_tab.empty or not np.isfinite(well_tab["radius_px"].to_numpy(float)).all() \
            or not (well_tab["radius_px"] > 0).all():
        raise InputError("wells must have a finite, positive radius_px")
    diam_mm = float(well_diameter_mm if well_diameter_mm is not None else lay.well_diameter_mm)
    um_per_px = diam_mm * 1000.0 / (2.0 * float(np.median(well_tab["radius_px"])))
    min_px = float(min_area_px) if min_area_px is not None else float(min_area_um2) / um_per_px**2
    well_area_px = math.pi * float(np.median(well_tab["radius_px"])) ** 2
    if min_px > 0.25 * well_area_px:
        raise InputError(
            f"minimum colony area ({min_px:.0f} px) is more than a quarter of the well "
            f"({well_area_px:.0f} px): check --min-area and --well-diameter-mm",
            value=min_area_px if min_area_px is not None else min_area_um2)
    if min_px < MIN_AREA_FLOOR_PX:
        raise InputError(
            f"minimum colony area is {min_px:.2f} px at this image's resolution "
            f"({um_per_px:.1f} um/px); at least {MIN_AREA_FLOOR_PX:g} px are needed: "
            "check --min-area and --well-diameter-mm",
            value=min_area_px if min_area_px is not None else min_area_um2)
    r_min_px = math.sqrt(min_px / math.pi)
    scale = r_min_px / WORK_MIN_RADIUS_PX
    if scale >= WORK_DOWNSAMPLE_FROM:
        # far more pixels than colonies need: count a downsampled copy at the
        # working resolution and map the result back to this image
        res = _count_downsampled(img, lay.name, scale, well_tab, min_px, rim_fraction,
                                 polarity, well_diameter_mm, diam_mm, wall_fraction, roi_m)
        params = {**res.params, **view_params, "min_area_um2": min_area_um2,
                  "min_area_px": min_px,
                  "well_diameter_assumed": well_diameter_mm is None,
                  "min_area_from_cells": (min_area_px is None
                                          and min_area_um2 == DEFAULT_MIN_AREA_UM2)}
        res = CountResult(res.layout, res.wells, res.colonies, res.um_per_px, min_px, params,
                          res.labels, ())
        corr = tuple(corrections)
        return apply_corrections(res, corr) if corr else res
    se_px = background_radius_mm(diam_mm) * 1000.0 / um_per_px
    open_r = max(1, round(OPEN_FRACTION * r_min_px))
    open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_r + 1, 2 * open_r + 1))
    h_split = max(1.0, H_SPLIT_FRACTION * r_min_px)

    H, W = img.shape[:2]
    labels = np.zeros((H, W), np.int32)
    rows: list[dict[str, Any]] = []
    well_info: list[dict[str, Any]] = []
    next_id = 1
    for wrow in well_tab.itertuples(index=False):
        poly = _polygon_of(wrow)
        info = {"polarity": None, "contrast_score": float("nan"), "roi_fraction": 1.0,
                "visible_fraction": _visible_fraction(wrow.cx, wrow.cy, float(wrow.radius_px),
                                                      W, H) if poly is None
                else _polygon_visible(poly, W, H)}
        well_info.append(info)
        info["countable"] = info["visible_fraction"] >= min_visible(lay.name)
        if not info["countable"]:
            continue  # partly outside the picture: reported, not counted
        region = _well_region(wrow, poly, W, H, wall_fraction, rim_fraction)
        if region is None:
            continue
        x0, x1, y0, y1, mask, inner, r_wall = region
        if roi_m is not None:
            n_all = int(np.count_nonzero(mask))
            mask &= roi_m[y0:y1, x0:x1]
            inner &= mask
            info["roi_fraction"] = float(np.count_nonzero(mask)) / max(n_all, 1)
            if not mask.any():
                info["countable"] = False  # outside the region of interest
                continue
        if not mask.any():
            continue
        crop = img[y0:y1, x0:x1]
        flat = poly is None and diam_mm < FLATTEN_WALL_BELOW_MM and FLAT_BACKGROUND
        if poly is None and diam_mm < FLATTEN_WALL_BELOW_MM:
            # a small well: its wall shadow and meniscus are a wide ring
            crop = _flatten_wall(crop, wrow.cx - x0, wrow.cy - y0, float(wrow.radius_px))
        disc = mask
        ink = _ink_mask(crop, disc, min_px, um_per_px) if polarity != "light" else None
        if ink is not None and ink.any():
            # writing is left out of the analysis (treated like the outside of
            # the well: the background is extrapolated over it) and reported
            grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
            mask = disc & ~cv2.dilate(ink.view(np.uint8), grow).view(bool)
        if polarity == "light":
            con, score = _background_contrast_scored(255 - crop, mask, se_px, flat)
            chosen = "light"
        else:
            con, score = _background_contrast_scored(crop, mask, se_px, flat)
            chosen = "dark"
            if polarity == "auto" and score < LIGHT_PROBE_BELOW:
                con_l, score_l = _background_contrast_scored(255 - crop, mask, se_px, flat)
                if score_l > LIGHT_SCORE_RATIO * max(score, 1e-6):
                    con, score, chosen = con_l, score_l, "light"
        # the QC contrast score of the well proper (the wall band is dark)
        inner &= mask
        info["polarity"], info["contrast_score"] = chosen, _tail_score(con, inner, score)
        med, sigma = _background_level(con.ravel()[np.flatnonzero(mask.ravel())[::3]], flat)
        lo = max(LOW_CONTRAST_FLOOR, med + LOW_NOISE_K * sigma)
        hi = max(HIGH_CONTRAST_FLOOR, med + HIGH_NOISE_K * sigma)
        faint_thr = FAINT_CONTRAST
        if _looks_pale(con, lo, hi, min_px):
            # clearly pale (cheap look at the raw components): go straight to
            # the pale floors; the full rule below still decides the faint limit
            lo = max(PALE_LOW_FLOOR, med + LOW_NOISE_K * sigma)
            hi = max(PALE_HIGH_FLOOR, med + HIGH_NOISE_K * sigma)
        for attempt in range(2):
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
            ws_split = _split_counts(opened, lab)
            ring2 = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
            edge = cv2.erode(disc.astype(np.uint8), ring2, iterations=2) == 0
            # clusters the watershed left whole, cut by the well's single-colony size
            # (not objects on the well's edge: pieces of the wall are not colonies)
            lab, size_split = _split_by_size(lab, min_px, rings, set(np.unique(lab[edge]).tolist()))
            crop_grey = grey[y0:y1, x0:x1]
            # per-object statistics in one vectorised pass (labelled sums), then
            # a short per-object decision loop; only the shape tests that need an
            # outline (solidity, holes) look at the object's bounding box
            st = _object_stats(lab, con, crop_grey, band, edge, r_min_px)
            faint_thr = min(faint_thr, _faint_threshold(st, min_px, sigma))
            pale_lo = max(PALE_LOW_FLOOR, med + LOW_NOISE_K * sigma)
            pale_hi = max(PALE_HIGH_FLOOR, med + HIGH_NOISE_K * sigma)
            if attempt == 0 and faint_thr < FAINT_CONTRAST and (pale_lo < lo or pale_hi < hi):
                # pale colonies: threshold again with floors for unstained colonies
                lo, hi = pale_lo, pale_hi
                continue
            break
        info["pale"] = faint_thr < FAINT_CONTRAST
        info["split_objects"], info["split_pieces"] = ws_split
        info["size_split_objects"] = size_split.objects
        info["size_split_pieces"] = size_split.pieces
        info["typical_area_px"] = size_split.typical_area_px
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
            elif mean_con < faint_thr:
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
            if reason and math.hypot(x0 + float(st.cx[i]) - wrow.cx,
                                     y0 + float(st.cy[i]) - wrow.cy) > r_wall:
                reason = "rim"  # rejected in the wall band: the wall, not an artefact
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
        if ink is not None and ink.any():
            ink_lab = measure.label(ink, connectivity=2)
            for rp in measure.regionprops(ink_lab):
                labels[y0 + rp.coords[:, 0], x0 + rp.coords[:, 1]] = next_id
                rows.append(_rejected_row(next_id, wrow.well, rp, x0, y0, crop_grey, um_per_px,
                                          float("nan"), "writing"))
                next_id += 1
        for rp in measure.regionprops(thin_lab, intensity_image=con):
            reason = "bubble" if _filled_area(rp.image) > RING_FILL_RATIO * rp.area else "debris"
            labels[y0 + rp.coords[:, 0], x0 + rp.coords[:, 1]] = next_id
            rows.append(_rejected_row(next_id, wrow.well, rp, x0, y0, crop_grey, um_per_px,
                                      float(rp.intensity_mean), reason))
            next_id += 1
    colonies = pd.DataFrame(rows, columns=COLONY_COLUMNS)
    params = {
        "layout": lay.name, "min_area_um2": min_area_um2, "min_area_px": min_px,
        "well_diameter_mm": diam_mm, "rim_fraction": rim_fraction,
        "wall_fraction": wall_fraction,
        "open_radius_px": open_r, "h_split_px": h_split,
        "hole_fill_px": int(HOLE_FRACTION * min_px),
        "polarity": polarity,
        "well_diameter_assumed": well_diameter_mm is None,
        "min_area_from_cells": min_area_px is None and min_area_um2 == DEFAULT_MIN_AREA_UM2,
        **view_params,
    }
    wt = well_tab[[c for c in ("well", "cx", "cy", "radius_px", "polygon")
                   if c in well_tab]].copy()
    wt["roi_fraction"] = [float(i["roi_fraction"]) for i in well_info]
    wt["polarity"] = [i["polarity"] for i in well_info]
    wt["contrast_score"] = [float(i["contrast_score"]) for i in well_info]
    wt["visible_fraction"] = [float(i["visible_fraction"]) for i in well_info]
    wt["countable"] = [bool(i["countable"]) for i in well_info]
    wt["pale"] = [bool(i.get("pale", False)) for i in well_info]
    wt["split_objects"] = [int(i.get("split_objects", 0)) for i in well_info]
    wt["split_pieces"] = [int(i.get("split_pieces", 0)) for i in well_info]
    wt["size_split_objects"] = [int(i.get("size_split_objects", 0)) for i in well_info]
    wt["size_split_pieces"] = [int(i.get("size_split_pieces", 0)) for i in well_info]
    wt["typical_area_px"] = [float(i.get("typical_area_px", float("nan"))) for i in well_info]
    result = CountResult(lay.name, _with_counts(wt, colonies), colonies, um_per_px, min_px,
                         params, labels, ())
    corr = tuple(corrections)
    return apply_corrections(result, corr) if corr else result


#: How multi-well plates are named (``settings.orientation``): a well grid is
#: symmetric under a half turn and the plate's corner notch is not looked
#: for, so a plate photographed upside down has A1 and H12 (A1 and B3 on a
#: 6-well plate) swapped; the names are those of the view as seen.
ORIENTATION_NOTE = ("A1 is the top-left well of the view; a plate turned by half a turn "
                    "is not detected (its corner notch is not looked for): check the names")
#: Wells narrower than this (mm: the 48- and 96-well plates) have their wall
#: shadow and meniscus divided out before the background is estimated. The
#: meniscus and the shadow of the wall are ~0.5 mm wide whatever the well:
#: 3 % of a 6-well well's radius, but a sixth of a 96-well well's (a third of
#: its area), where they joined the colonies next to them into one ring-shaped
#: object (rejected whole) and moved the well's median darkening off the
#: background.
FLATTEN_WALL_BELOW_MM = 12.0
FLAT_BACKGROUND = True
#: The flattening acts from this fraction of the well radius outwards (nearer
#: the centre an annulus is too short for its median to be background).
FLATTEN_FROM = 0.6


def _flatten_wall(crop: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    """Divide out a well's radially symmetric shading near its wall.

    The angular median of each channel at each distance from the centre
    (``cv2.warpPolar``, 360 angles; colonies cover a minority of each
    annulus) is taken relative to the median level between 0.3 and 0.6 of
    the radius, and the crop divided by it from :data:`FLATTEN_FROM` of the
    radius outwards (ratio limited to 0.5-2): the meniscus and the wall's
    shadow become background, colonies on them keep their contrast.
    """
    h, w = crop.shape[:2]
    n_rho = max(32, int(1.1 * r))
    rho = np.arange(n_rho) * (1.1 * r / n_rho)
    cx, cy = _wall_centre(crop, cx, cy, r, rho)
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - cx, yy - cy).astype(np.float32)
    sel = (rho >= 0.3 * r) & (rho <= FLATTEN_FROM * r)
    out = crop.astype(np.float32)
    flags = cv2.WARP_POLAR_LINEAR | cv2.WARP_FILL_OUTLIERS
    for c in range(crop.shape[2]):
        polar = cv2.warpPolar(np.ascontiguousarray(crop[..., c]), (n_rho, 360),
                              (float(cx), float(cy)), 1.1 * r, flags).astype(np.float32)
        prof = np.median(polar, axis=0)
        base = float(np.median(prof[sel])) if sel.any() else float(np.median(prof))
        gain = np.clip(base / np.maximum(prof, 1.0), 0.5, 2.0).astype(np.float32)
        gain[rho < FLATTEN_FROM * r] = 1.0
        g = np.interp(d.ravel(), rho, gain, right=gain[-1]).reshape(h, w)
        out[..., c] *= g
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _wall_centre(crop: np.ndarray, cx: float, cy: float, r: float,
                 rho: np.ndarray) -> tuple[float, float]:
    """Centre of a well's wall: per angle, the first radius beyond 0.7 r where
    the grey level falls half-way from the well's level to the wall's; a
    circle fitted to those points by least squares (Kasa's algebraic fit),
    refitted without the points more than 2 px off (colonies at the edge).
    A grid-placed centre a few pixels off (0.1 mm) skews the radial profile
    of a 96-well well's steep wall; the input centre is kept when the fit
    fails or moves it by more than 10 % of the radius."""
    grey = np.ascontiguousarray(crop.mean(axis=2).astype(np.float32))
    n_rho = rho.size
    polar = cv2.warpPolar(grey, (n_rho, 360), (float(cx), float(cy)), 1.1 * r,
                          cv2.WARP_POLAR_LINEAR | cv2.WARP_FILL_OUTLIERS)
    inner = float(np.median(polar[:, (rho > 0.3 * r) & (rho < 0.6 * r)]))
    zone = rho >= 0.7 * r
    if not zone.any():
        return cx, cy
    dark = np.percentile(polar[:, zone], 5)
    below = polar[:, zone] < inner - 0.5 * (inner - dark)
    has = below.any(axis=1)
    if has.sum() < 90 or inner - dark < 10.0:
        return cx, cy
    edge = rho[zone][np.argmax(below, axis=1)]
    theta = np.arange(360) * (2.0 * math.pi / 360.0)
    x = cx + edge * np.cos(theta)
    y = cy + edge * np.sin(theta)
    keep = has.copy()
    fit = (cx, cy)
    for _ in range(2):
        if keep.sum() < 90:
            return cx, cy
        a = np.column_stack([x[keep], y[keep], np.ones(int(keep.sum()))])
        b = x[keep] ** 2 + y[keep] ** 2
        sol = np.linalg.lstsq(a, b, rcond=None)[0]
        fx, fy = sol[0] / 2.0, sol[1] / 2.0
        fr = math.sqrt(max(sol[2] + fx**2 + fy**2, 0.0))
        fit = (fx, fy)
        keep = has & (np.abs(np.hypot(x - fx, y - fy) - fr) <= 2.0)
    if math.hypot(fit[0] - cx, fit[1] - cy) > 0.1 * r:
        return cx, cy
    return float(fit[0]), float(fit[1])


def background_radius_mm(well_diameter_mm: float) -> float:
    """Radius (mm) of the background closing disc for a well of this diameter.

    Examples
    --------
    >>> background_radius_mm(35.0), background_radius_mm(6.4)
    (3.0, 1.28)
    """
    return min(MAX_COLONY_RADIUS_MM, round(BACKGROUND_WELL_FRACTION * float(well_diameter_mm), 6))


def _with_counts(wells: pd.DataFrame, colonies: pd.DataFrame) -> pd.DataFrame:
    # .loc with a boolean array: on an empty table an object-dtype mask would
    # be taken as a list of column names (the old "KeyError: 'well'")
    acc = colonies.loc[colonies["accepted"].to_numpy(dtype=bool)].groupby("well").size()
    out = wells.copy()
    out["colonies"] = [int(acc.get(w, 0)) for w in out["well"]]
    return out.reset_index(drop=True)


def _count_downsampled(img: np.ndarray, layout: str, scale: float, wells: pd.DataFrame,
                       min_px: float, rim_fraction: float, polarity: str,
                       well_diameter_mm: float | None, diam_mm: float,
                       wall_fraction: float = DEFAULT_WALL_FRACTION,
                       roi_m: np.ndarray | None = None) -> CountResult:
    """Count ``img`` downsampled by ``scale`` (INTER_AREA) and map the result
    back: coordinates and areas scaled, labels enlarged (nearest neighbour)."""
    H, W = img.shape[:2]
    w_s, h_s = max(64, round(W / scale)), max(64, round(H / scale))
    sx, sy = W / w_s, H / h_s
    small = cv2.resize(img, (w_s, h_s), interpolation=cv2.INTER_AREA)
    wt = wells[[c for c in ("well", "cx", "cy", "radius_px", "polygon") if c in wells]].copy()
    wt["cx"], wt["cy"] = wt["cx"] / sx, wt["cy"] / sy
    wt["radius_px"] = wt["radius_px"] / math.sqrt(sx * sy)
    if "polygon" in wt:
        wt["polygon"] = [None if p is None else (np.asarray(p, float) / [sx, sy]).tolist()
                         for p in wt["polygon"]]
    roi_s = None if roi_m is None else cv2.resize(
        roi_m.view(np.uint8), (w_s, h_s), interpolation=cv2.INTER_NEAREST) > 0
    res = count_colonies(small, layout, min_area_px=min_px / (sx * sy), well_diameter_mm=diam_mm,
                         rim_fraction=rim_fraction, wall_fraction=wall_fraction, wells=wt,
                         polarity=polarity, roi=roi_s)
    out_w = res.wells.copy()
    if "polygon" in wells:
        out_w["polygon"] = wells["polygon"].to_numpy()
    out_w["cx"], out_w["cy"] = out_w["cx"] * sx, out_w["cy"] * sy
    out_w["radius_px"] = wells["radius_px"].to_numpy(float)
    col = res.colonies.copy()
    col["x"], col["y"] = col["x"] * sx, col["y"] * sy
    col["area_px"] = col["area_px"] * (sx * sy)
    labels = cv2.resize(res.labels, (W, H), interpolation=cv2.INTER_NEAREST)
    params = {**res.params, "working_scale": round(math.sqrt(sx * sy), 4),
              "well_diameter_mm": diam_mm}
    return CountResult(res.layout, out_w, col, res.um_per_px / math.sqrt(sx * sy), min_px,
                       params, labels, ())


def _tail_score(con: np.ndarray, region: np.ndarray, default: float) -> float:
    """Bright-tail contrast score (99.5th percentile over robust noise) in a region."""
    vals = con[region][::3]
    if vals.size < 100:
        return default
    med, sigma = _background_level(vals)
    return (float(np.percentile(vals, 99.5)) - med) / sigma


def _split_counts(binary: np.ndarray, lab: np.ndarray) -> tuple[int, int]:
    """How many connected objects of ``binary`` the watershed cut, and into how
    many pieces in all (labels of ``lab`` per 4-connected component)."""
    _n, comp = cv2.connectedComponents(binary.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    sel = lab > 0
    if not sel.any():
        return 0, 0
    pairs = np.unique(comp[sel].astype(np.int64) * (int(lab.max()) + 1) + lab[sel])
    per_comp = np.bincount(pairs // (int(lab.max()) + 1))
    cut = per_comp > 1
    return int(cut.sum()), int(per_comp[cut].sum())


def _looks_pale(con: np.ndarray, lo: float, hi: float, min_px: float) -> bool:
    """A cheap, strict version of the pale-well rule of :func:`_faint_threshold`
    on the raw hysteresis components (no opening, no splitting): colony-sized
    components at least :data:`PALE_PRE_RATIO` times more often faint than
    stained, and at least 2 x :data:`PALE_MIN_OBJECTS` of them. It only saves
    the first, stained-floor pass on clearly pale wells."""
    raw = _hysteresis_threshold(con, lo, hi)
    n, lab = cv2.connectedComponents(raw.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return False
    flat = lab.ravel()
    nz = np.flatnonzero(flat)
    ids = flat[nz]
    area = np.bincount(ids, minlength=n)[1:]
    sums = np.bincount(ids, con.ravel()[nz].astype(np.float64), minlength=n)[1:]
    mean = sums / np.maximum(area, 1)
    sized = area >= CORE_FRACTION * min_px
    faint = int(np.count_nonzero(sized & (mean < FAINT_CONTRAST)))
    strong = int(np.count_nonzero(sized & (mean >= FAINT_CONTRAST)))
    return faint >= 2 * PALE_MIN_OBJECTS and faint > PALE_PRE_RATIO * strong


def _faint_threshold(st: Any, min_px: float, sigma: float) -> float:
    """Mean darkening below which an object is background unevenness.

    :data:`FAINT_CONTRAST` (stained colonies), unless the well's colonies are
    pale: at least :data:`PALE_MIN_OBJECTS` colony-sized objects, more than
    :data:`PALE_RATIO` times as many below the stained threshold as above it
    (unstained or lightly stained colonies, OpenCFU sample C). The
    threshold then follows the well's noise (:data:`PALE_NOISE_K` robust
    sigma, at least :data:`PALE_FLOOR`).
    """
    if st.n == 0:
        return FAINT_CONTRAST
    sized = (st.area[1:] >= CORE_FRACTION * min_px) & (st.core_area[1:] >= CORE_FRACTION * min_px)
    faint = int(np.count_nonzero(sized & (st.con_mean[1:] < FAINT_CONTRAST)))
    strong = int(np.count_nonzero(sized & (st.con_mean[1:] >= FAINT_CONTRAST)))
    if faint >= PALE_MIN_OBJECTS and faint > PALE_RATIO * strong:
        return min(FAINT_CONTRAST, max(PALE_NOISE_K * sigma, PALE_FLOOR))
    return FAINT_CONTRAST


def _polygon_of(wrow: Any) -> np.ndarray | None:
    """The region polygon of a well row (flask, drawn region), or None (a disc)."""
    poly = getattr(wrow, "polygon", None)
    if poly is None or (isinstance(poly, float) and math.isnan(poly)):
        return None
    return np.asarray(poly, dtype=np.float64).reshape(-1, 2)


def _polygon_visible(poly: np.ndarray, w: int, h: int) -> float:
    """Fraction of a convex polygon's area inside a ``w`` x ``h`` picture."""
    area = abs(cv2.contourArea(poly.astype(np.float32)))
    if area <= 0:
        return 0.0
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    inter, _pts = cv2.intersectConvexConvex(poly.astype(np.float32), frame)
    return float(min(1.0, max(0.0, inter) / area))


def _well_region(wrow: Any, poly: np.ndarray | None, W: int, H: int, wall_fraction: float,
                 rim_fraction: float) -> tuple[int, int, int, int, np.ndarray, np.ndarray,
                                               float] | None:
    """Bounding box, analysed mask, mask of the well proper (without the wall
    band) and the wall radius (objects rejected beyond it are ``rim``) of one
    well: a disc, or the polygon of a flask's growth area / a drawn region
    eroded by the rim fraction of its disc-equivalent radius."""
    if poly is None:
        r_in = float(wrow.radius_px) * (1.0 + wall_fraction) * (1.0 - rim_fraction)
        x0, x1 = max(int(wrow.cx - r_in) - 2, 0), min(int(wrow.cx + r_in) + 3, W)
        y0, y1 = max(int(wrow.cy - r_in) - 2, 0), min(int(wrow.cy + r_in) + 3, H)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d2 = (xx - wrow.cx) ** 2 + (yy - wrow.cy) ** 2
        mask = d2 <= r_in**2
        r_wall = float(wrow.radius_px) * (1.0 - rim_fraction)
        return x0, x1, y0, y1, mask, mask & (d2 <= r_wall**2), r_wall
    x0, x1 = max(int(poly[:, 0].min()) - 2, 0), min(int(poly[:, 0].max()) + 3, W)
    y0, y1 = max(int(poly[:, 1].min()) - 2, 0), min(int(poly[:, 1].max()) + 3, H)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round(poly - [x0, y0]).astype(np.int32)], 1)
    k = int(round(rim_fraction * float(wrow.radius_px)))
    if k > 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    mask = m.astype(bool)
    return x0, x1, y0, y1, mask, mask.copy(), math.inf


def _visible_fraction(cx: float, cy: float, r: float, w: int, h: int) -> float:
    """Fraction of a disc's area inside a ``w`` x ``h`` image (on a 0.5 px-ish grid)."""
    n = 200
    t = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    gx, gy = np.meshgrid(t, t)
    inside = gx**2 + gy**2 <= 1.0
    x, y = cx + r * gx[inside], cy + r * gy[inside]
    ok = (x >= 0) & (x <= w) & (y >= 0) & (y <= h)
    return float(np.count_nonzero(ok)) / max(int(np.count_nonzero(inside)), 1)


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

    Examples
    --------
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> result = count_colonies(plate.image, "dish")
    >>> first = result.colonies[result.colonies["accepted"]].iloc[0]
    >>> fixed = apply_corrections(result, [Correction("remove", first.x, first.y)])
    >>> result.total - fixed.total
    1
    >>> apply_corrections(fixed, [Correction("add", 5, 5)])  # a corner, outside the dish
    Traceback (most recent call last):
    ...
    decidua.errors.InputError: added colony at (5, 5) is outside every well
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


def count_image_file(
    path: str | Path,
    layout: str = "dish",
    *,
    use_sidecar: bool = True,
    **kwargs: Any,
) -> tuple[np.ndarray, CountResult]:
    """Load an image, count it and re-apply its sidecar corrections.

    Returns the image in the result's coordinates (for overlays: the
    rectified or turned view when the plate was rectified, see
    :func:`~decidua.assays.clonogenicity.vessel.plate_view`) and the result.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import cv2
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dish.png"
    >>> _ = cv2.imwrite(str(path), plate.image[..., ::-1])
    >>> _img, result = count_image_file(path, "dish")
    >>> result.total
    12
    >>> x, y = result.colonies.loc[result.colonies["accepted"], ["x", "y"]].iloc[0]
    >>> save_corrections(sidecar_path(path), [Correction("remove", x, y)])
    >>> count_image_file(path, "dish")[1].total  # the sidecar is re-applied
    11
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
    return view_of(img, res.params), res
