"""Synthetic CFU plates and trials with known truth (for tests and benchmarks).

No public set of stained stromal-cell CFU dishes with expert counts exists, so
accuracy is measured on rendered plates whose colonies are known exactly.

Plate generator (:func:`make_plate`)
------------------------------------
The picture is built as an optical-density (OD) map and turned into an RGB
transmission photograph by Beer-Lambert, ``I = I0 * 10 ** (-OD * k)``, with
``k`` the relative absorbance of crystal violet in the red, green and blue
channels (absorption peak ~590 nm, so green and red are darkened most and the
colonies look purple). Features, all drawn from the seeded generator:

* **Colonies** (counted in the truth): irregular discs (radius modulated by
  2nd-5th angular harmonics) with a domed density profile and cell-scale
  texture. Radius is log-normal; its median shrinks with density so that
  colonies cover about 10 % of the well (dense dishes grow smaller colonies).
  Free colonies do not overlap; a fraction ``touching_fraction`` is placed
  against an earlier colony at 0.8-1.0 x the sum of radii (touching or merged
  with a visible neck: two colonies by eye, one blob to a naive threshold).
  Colonies whose centres are closer than 0.8 x the sum of radii are never
  generated: they are one colony by eye as well.
* **Abortive colonies** (clusters of < 50 cells, *not* counted): radius
  0.06-0.14 mm.
* **Uneven stain**: per-colony peak OD log-normal (CV ``stain_cv``) times a
  smooth stain field; a faint smooth background stain of the well bottom.
* **Illumination**: linear gradient of relative amplitude ``gradient`` in a
  random direction plus vignetting.
* **Rim**: dark well wall and a meniscus shadow just inside it; grey plastic
  outside the wells.
* **Bubbles**: thin dark rings with a slightly bright interior and a specular
  highlight (radius 0.4-2 mm).
* **Dust**: dark specks of 1-5 px and thin fibres 1-4 mm long.
* Sensor noise (sigma 2 grey levels) and optional JPEG compression.

Trial generator (:func:`simulate_trial`)
----------------------------------------
Per-woman baseline and follow-up colony counts from a negative-binomial model
with a known treatment rate ratio, centred on the CFU counts of Tewary et al.,
EBioMedicine 2020;51:102597 (baseline medians 8.5 and 12 colonies per plate,
range 1-78; adjusted rate ratio 1.52, 95 % CI 1.32-1.75).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from decidua.assays.clonogenicity.layouts import (
    FLASK_SIDES_MM,
    SBS_FOOTPRINT_MM,
    Layout,
    get_layout,
)
from decidua.errors import InputError
from decidua.literature import TEWARY_2020_CFU_RATE_RATIO

#: Relative absorbance of crystal violet in (R, G, B): absorption maximum at
#: ~590 nm (Sigma-Aldrich C0775 data sheet), weaker in the blue.
CRYSTAL_VIOLET_ABSORBANCE = np.array([0.75, 1.0, 0.30])
#: Neutral absorbance for dust, rim and bubble edges.
NEUTRAL_ABSORBANCE = np.array([1.0, 1.0, 1.0])
#: Fraction of well area covered by counted colonies (sets the median radius).
TARGET_COVERAGE = 0.10
#: Smallest and largest median colony radius (mm) the generator uses.
COLONY_MEDIAN_RADIUS_MM = (0.26, 0.8)
#: Smallest counted colony radius (mm).
COLONY_MIN_RADIUS_MM = 0.22
#: Radius range (mm) of abortive (< 50 cell) colonies, not counted.
ABORTIVE_RADIUS_MM = (0.06, 0.14)
#: Wells narrower than this (mm; a 24-well plate's 15.6 mm) get artefacts
#: scaled down with the well: the largest bubble (2 mm radius) and fibres by
#: diameter / this, the number of dust specks and bubbles by its square (as
#: many per unit area; bubbles a Poisson number) (48/96-well plates; a 2 mm
#: bubble would fill a 96-well well).
ARTEFACT_FULL_SIZE_MM = 15.6
#: Radius range (mm) of dust specks (10-60 um particles).
DUST_RADIUS_MM = (0.01, 0.06)
#: Pixels per millimetre by default: a 35 mm dish over ~1300 px (a 2 MP
#: photograph); a whole plate scanned at 600 dpi (23.6 px/mm, ~6 MP).
DEFAULT_PX_PER_MM = {"dish": 36.0, "6-well": 23.6, "12-well": 23.6, "24-well": 23.6,
                     "48-well": 23.6, "96-well": 23.6}

# Tewary et al. 2020 (EBioMedicine 51:102597), Table 1: baseline CFU median
# 8.5 (sitagliptin) and 12.0 (placebo) colonies, range 1-78.
TEWARY_BASELINE_MEDIAN_COLONIES = 10.0
# Tewary et al. 2020: adjusted rate ratio sitagliptin vs placebo, 1.52 (1.32-1.75)
# (decidua.literature.TEWARY_2020_CFU_RATE_RATIO).
TEWARY_RATE_RATIO = TEWARY_2020_CFU_RATE_RATIO[0]
TEWARY_RATE_RATIO_CI = TEWARY_2020_CFU_RATE_RATIO[1:]


@dataclass(frozen=True)
class SyntheticPlate:
    """A rendered plate and its truth.

    Attributes
    ----------
    image
        RGB ``uint8`` array (H, W, 3).
    truth
        One row per drawn object: ``well, x, y, radius_px, area_um2, kind``
        (``"colony"`` or ``"abortive"``), ``counted`` (bool), ``touching``.
    wells
        One row per well: ``well, cx, cy, radius_px``.
    layout
        Layout name.
    px_per_mm
        Scale used.
    seed
        Seed used.
    """

    image: np.ndarray = field(repr=False)
    truth: pd.DataFrame = field(repr=False)
    wells: pd.DataFrame = field(repr=False)
    layout: str
    px_per_mm: float
    seed: int | None
    #: picture <- plate homography of :func:`photograph` (None: a plate scan)
    homography: np.ndarray | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        """True number of counted colonies per well."""
        counted = self.truth[self.truth["counted"]]
        out = {w: 0 for w in self.wells["well"]}
        for w, n in counted.groupby("well").size().items():
            out[str(w)] = int(n)
        return out

    def to_dict(self) -> dict:
        """Summary (no image) as plain Python types."""
        return {
            "layout": self.layout,
            "px_per_mm": self.px_per_mm,
            "seed": self.seed,
            "counts": self.counts(),
        }


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int = 6) -> np.ndarray:
    """Smooth random field in [-1, 1] (bicubic upsampling of a coarse grid)."""
    coarse = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), -1, 1)


def _well_centres(layout: Layout, px_per_mm: float) -> tuple[tuple[int, int], list, float]:
    """Image shape, list of (name, cx, cy) and well radius in px."""
    r_px = layout.well_diameter_mm / 2 * px_per_mm
    if layout.name == "dish":
        side = int(round(layout.well_diameter_mm / 0.9 * px_per_mm))
        return (side, side), [("dish", side / 2, side / 2)], r_px
    w = int(round(SBS_FOOTPRINT_MM[0] * px_per_mm))
    h = int(round(SBS_FOOTPRINT_MM[1] * px_per_mm))
    ox, oy = layout.a1_offset_mm
    centres = []
    names = layout.well_names()
    for i, name in enumerate(names):
        r, c = divmod(i, layout.cols)
        x_mm, y_mm = ox + c * layout.pitch_mm, oy + r * layout.pitch_mm
        centres.append((name, x_mm * px_per_mm, y_mm * px_per_mm))
    return (h, w), centres, r_px


def _place(
    rng: np.random.Generator,
    n: int,
    cx: float,
    cy: float,
    r_avail: float,
    radii: np.ndarray,
    touching_fraction: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place ``n`` colonies in a well; returns xs, ys, touching flags (may be < n)."""
    xs: list[float] = []
    ys: list[float] = []
    rs: list[float] = []
    touch: list[bool] = []
    for i in range(n):
        r = radii[i]
        placed = False
        want_touch = bool(xs) and rng.random() < touching_fraction
        for _attempt in range(300):
            if want_touch and _attempt < 60:
                j = int(rng.integers(len(xs)))
                ang = rng.uniform(0, 2 * np.pi)
                d = rng.uniform(0.8, 1.0) * (r + rs[j])
                x, y = xs[j] + d * np.cos(ang), ys[j] + d * np.sin(ang)
                lo = 0.8
            else:
                rad = r_avail * np.sqrt(rng.random())
                ang = rng.uniform(0, 2 * np.pi)
                x, y = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
                lo = 1.0
            if np.hypot(x - cx, y - cy) > r_avail - r:
                continue
            if xs:
                dist = np.hypot(np.asarray(xs) - x, np.asarray(ys) - y)
                gap = dist / (np.asarray(rs) + r)
                if want_touch and _attempt < 60:
                    # only the intended neighbour may be close
                    others = np.delete(gap, j)
                    if gap[j] < lo or (others.size and others.min() < 1.0):
                        continue
                elif gap.min() < lo:
                    continue
            xs.append(x)
            ys.append(y)
            rs.append(r)
            touch.append(want_touch and _attempt < 60)
            placed = True
            break
        if not placed:
            continue
    return np.asarray(xs), np.asarray(ys), np.asarray(touch, dtype=bool)


def _draw_colony(
    od: np.ndarray,
    texture: np.ndarray,
    rng: np.random.Generator,
    x: float,
    y: float,
    r: float,
    peak: float,
) -> None:
    """Add one irregular domed colony to the OD map in place."""
    h, w = od.shape
    pad = int(np.ceil(r * 1.4)) + 2
    x0, x1 = max(int(x) - pad, 0), min(int(x) + pad + 1, w)
    y0, y1 = max(int(y) - pad, 0), min(int(y) + pad + 1, h)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - x, yy - y
    theta = np.arctan2(dy, dx)
    edge = np.ones_like(theta)
    for k in range(2, 6):
        edge += rng.uniform(0.0, 0.06) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    rho = np.hypot(dx, dy) / (r * edge)
    dome = np.clip(1.0 - rho**2, 0.0, None) ** 0.5
    tex = 1.0 + 0.35 * texture[y0:y1, x0:x1]
    od[y0:y1, x0:x1] += peak * dome * tex


def make_plate(
    layout: str = "dish",
    n_colonies: int | Sequence[int] = 100,
    *,
    seed: int | np.random.Generator | None = 0,
    px_per_mm: float | None = None,
    touching_fraction: float = 0.25,
    abortive_fraction: float = 0.3,
    n_bubbles: int = 3,
    n_dust: int = 25,
    n_fibres: int = 2,
    stain_cv: float = 0.3,
    gradient: float = 0.15,
    jpeg_quality: int | None = 90,
    grey: bool = False,
    stain_scale: float = 1.0,
    n_writing: int = 0,
    glare: float = 0.0,
    lid: bool = False,
) -> SyntheticPlate:
    """Render a stained CFU dish or multi-well plate with known colonies.

    Parameters
    ----------
    layout
        ``"dish"`` (35 mm), ``"6-well"``, ``"12-well"``, ``"24-well"``,
        ``"48-well"`` or ``"96-well"``.
    n_colonies
        Counted colonies per well (one int for all wells, or one per well).
        Up to ~300 per 35 mm dish; at very high density fewer may fit, the
        truth table always lists what was drawn.
    seed
        Seed or generator; the same seed gives a bit-identical plate.
    px_per_mm
        Image scale; default from :data:`DEFAULT_PX_PER_MM`.
    touching_fraction
        Probability that a colony is placed against an earlier one.
    abortive_fraction
        Number of abortive (uncounted) colonies as a fraction of ``n_colonies``.
    n_bubbles, n_dust, n_fibres
        Artefacts per well.
    stain_cv
        Coefficient of variation of colony peak stain density.
    gradient
        Relative amplitude of the illumination gradient.
    jpeg_quality
        JPEG quality (1-100) for a compression round-trip, or ``None``.
    grey
        Return a greyscale picture (replicated into three channels).
    stain_scale
        Multiplies every colony's stain density: below 1 gives pale, lightly
        stained colonies (0.15-0.3: unstained colonies on a photograph).
    n_writing
        Pen strokes per well (black, neutral, ~0.3 mm wide, 6-15 mm long,
        crossing colonies: labels and marks on the lid); never counted.
    glare
        Peak relative brightening of a reflection (an elliptical highlight of
        the light source on the lid), e.g. 0.25; 0 for none.
    lid
        Draw a lid's edge: a faint ring just outside each dish / well.

    The defaults draw the plates the accuracy tests were tuned on; the last
    four options add what real photographs have (their random draws come
    after the default ones, so the same seed gives the same colonies).

    Returns
    -------
    SyntheticPlate

    Examples
    --------
    >>> plate = make_plate("6-well", [1, 2, 3, 4, 5, 6], seed=3, px_per_mm=6)
    >>> plate.counts()["B3"], plate.image.dtype
    (6, dtype('uint8'))
    >>> (make_plate("dish", 5, seed=1, px_per_mm=8).image
    ...  == make_plate("dish", 5, seed=1, px_per_mm=8).image).all()  # seeded: identical
    np.True_
    """
    lay = get_layout(layout)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    seed_val = None if isinstance(seed, np.random.Generator) else seed
    scale = float(px_per_mm or DEFAULT_PX_PER_MM[lay.name])
    shape, centres, r_well = _well_centres(lay, scale)
    if isinstance(n_colonies, int | np.integer):
        per_well = [int(n_colonies)] * len(centres)
    else:
        per_well = [int(v) for v in n_colonies]
        if len(per_well) != len(centres):
            raise InputError(
                f"n_colonies has {len(per_well)} values for {len(centres)} wells",
                column="n_colonies",
            )
    if any(v < 0 for v in per_well):
        raise InputError("n_colonies must be >= 0", column="n_colonies")
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    od = np.zeros(shape, np.float32)  # crystal violet OD
    od_neutral = np.zeros(shape, np.float32)  # dust, rim, bubble edges
    inside = np.zeros(shape, bool)
    texture = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 1.2)
    texture /= max(float(texture.std()), 1e-6)
    stain_field = 1.0 + 0.3 * _smooth_field(rng, shape)
    rows: list[dict] = []
    well_rows = []
    well_area_mm2 = np.pi * (lay.well_diameter_mm / 2) ** 2
    # artefacts (bubbles, fibres, dust) scale down in wells smaller than a
    # 24-well plate's (48/96-well); 1 for the dish and the 6/12/24-well plates
    art = min(1.0, lay.well_diameter_mm / ARTEFACT_FULL_SIZE_MM)
    n_dust_well = n_dust if art == 1.0 else int(round(n_dust * art**2))
    # colonies kept 1 mm off the wall (the rim is masked); 0.5 mm in small wells
    margin = max(art, 0.5) * scale
    for (name, cx, cy), n in zip(centres, per_well, strict=True):
        well_rows.append({"well": name, "cx": cx, "cy": cy, "radius_px": r_well})
        # the well's rings computed in a box around it only: beyond 1.1 r + 6 mm every
        # ring term below underflows to exactly 0 in float32 (exp(-x) for x > 104), so the
        # picture is bit-identical to computing them on the whole image (96 wells: 96x less)
        reach = 1.1 * r_well + 6.0 * scale
        box = (slice(max(int(cy - reach), 0), min(int(cy + reach) + 2, h)),
               slice(max(int(cx - reach), 0), min(int(cx + reach) + 2, w)))
        d = np.hypot(xx[box] - cx, yy[box] - cy)
        inside[box] |= d <= r_well
        # wall and meniscus
        wall = 0.8 * scale
        od_neutral[box] += 0.45 * np.exp(-(((d - r_well - wall / 2) / (wall / 2)) ** 2))
        od_neutral[box] += 0.25 * np.exp(-(((d - r_well + 0.25 * scale) / (0.25 * scale)) ** 2))
        if n > 0:
            med_mm = np.sqrt(TARGET_COVERAGE * well_area_mm2 / (n * np.pi))
            med_mm = float(np.clip(med_mm, *COLONY_MEDIAN_RADIUS_MM))
            radii_mm = np.clip(
                med_mm * np.exp(rng.normal(0.0, 0.3, n)), max(0.6 * med_mm, COLONY_MIN_RADIUS_MM),
                1.8 * med_mm,
            )
            radii = np.sort(radii_mm * scale)[::-1]  # big first: easier packing
            xs, ys, touch = _place(rng, n, cx, cy, r_well - margin, radii, touching_fraction)
            radii = radii[: len(xs)]
            for x, y, r, t in zip(xs, ys, radii, touch, strict=True):
                peak = 1.1 * np.exp(rng.normal(0.0, stain_cv)) * stain_field[int(y), int(x)]
                peak = float(np.clip(peak, 0.45, 2.5)) * float(stain_scale)
                _draw_colony(od, texture, rng, x, y, r, peak)
                rows.append(
                    {"well": name, "x": x, "y": y, "radius_px": r,
                     "area_um2": np.pi * (r / scale * 1000) ** 2, "kind": "colony",
                     "counted": True, "touching": bool(t)}
                )
        # abortive colonies (not counted)
        n_ab = int(round(abortive_fraction * n))
        for _ in range(n_ab):
            r = rng.uniform(*ABORTIVE_RADIUS_MM) * scale
            rad = (r_well - margin) * np.sqrt(rng.random())
            ang = rng.uniform(0, 2 * np.pi)
            x, y = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
            _draw_colony(od, texture, rng, x, y, r, float(rng.uniform(0.4, 1.0)))
            rows.append(
                {"well": name, "x": x, "y": y, "radius_px": r,
                 "area_um2": np.pi * (r / scale * 1000) ** 2, "kind": "abortive",
                 "counted": False, "touching": False}
            )
        # bubbles: thin dark ring, bright interior, highlight
        # per well; in a small well as many per unit area as in a 24-well one
        n_bub = n_bubbles if art == 1.0 else int(rng.poisson(n_bubbles * art**2))
        for _ in range(n_bub):
            # no smaller than elsewhere, no larger than the well allows
            rb = rng.uniform(0.4, 2.0 if art == 1.0 else 0.4 + 1.6 * art) * scale
            rad = (r_well - rb - margin) * np.sqrt(rng.random())
            ang = rng.uniform(0, 2 * np.pi)
            bx, by = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
            pad = int(rb + 6)
            x0, x1 = max(int(bx) - pad, 0), min(int(bx) + pad + 1, w)
            y0, y1 = max(int(by) - pad, 0), min(int(by) + pad + 1, h)
            db = np.hypot(xx[y0:y1, x0:x1] - bx, yy[y0:y1, x0:x1] - by)
            width = rng.uniform(1.2, 2.5)
            od_neutral[y0:y1, x0:x1] += rng.uniform(0.25, 0.6) * np.exp(-(((db - rb) / width) ** 2))
            od_neutral[y0:y1, x0:x1] -= 0.03 * (db < rb - width)
            hx, hy = bx - 0.4 * rb, by - 0.4 * rb
            dh = np.hypot(xx[y0:y1, x0:x1] - hx, yy[y0:y1, x0:x1] - hy)
            od_neutral[y0:y1, x0:x1] -= 0.15 * np.exp(-((dh / (0.12 * rb + 1)) ** 2))
        # dust specks (too small to count) and fibres (thin, elongated)
        for _ in range(n_dust_well):
            rad = (r_well - margin) * np.sqrt(rng.random())
            ang = rng.uniform(0, 2 * np.pi)
            r_px = rng.uniform(*DUST_RADIUS_MM) * scale
            # sub-pixel specks: one-pixel disc with OD scaled by covered area
            od_dust = float(rng.uniform(0.4, 1.2)) * min(1.0, r_px**2)
            cv2.circle(
                od_neutral, (int(cx + rad * np.cos(ang)), int(cy + rad * np.sin(ang))),
                max(1, int(round(r_px))), od_dust, -1, lineType=cv2.LINE_AA,
            )
        for _ in range(n_fibres):
            rad = (r_well - 3 * art * scale) * np.sqrt(rng.random())
            ang = rng.uniform(0, 2 * np.pi)
            fx, fy = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
            length = rng.uniform(1.0, 4.0) * art * scale
            phi = rng.uniform(0, np.pi)
            p0 = (int(fx - length / 2 * np.cos(phi)), int(fy - length / 2 * np.sin(phi)))
            p1 = (int(fx + length / 2 * np.cos(phi)), int(fy + length / 2 * np.sin(phi)))
            cv2.line(od_neutral, p0, p1, float(rng.uniform(0.5, 1.0)), 1, lineType=cv2.LINE_AA)

        if lid:
            od_neutral[box] += 0.12 * np.exp(-(((d - 1.07 * r_well) / (0.15 * scale)) ** 2))
        for _ in range(n_writing):
            pts = [(cx + (r_well - 4 * scale) * np.sqrt(rng.random()) * np.cos(a),
                    cy + (r_well - 4 * scale) * np.sqrt(rng.random()) * np.sin(a))
                   for a in [rng.uniform(0, 2 * np.pi)]]
            heading = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(6.0, 15.0) * scale
            step = 0.5 * scale
            for _k in range(int(length / step)):
                heading += rng.normal(0.0, 0.35)
                x_, y_ = pts[-1]
                pts.append((x_ + step * np.cos(heading), y_ + step * np.sin(heading)))
            poly = np.round(np.array(pts)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(od_neutral, [poly], False, 2.2, max(2, int(round(0.3 * scale))),
                          lineType=cv2.LINE_AA)
            xs_, ys_ = poly[:, 0, 0], poly[:, 0, 1]
            rows.append({"well": name, "x": float(xs_.mean()), "y": float(ys_.mean()),
                         "radius_px": float(np.ptp(xs_) + np.ptp(ys_)) / 4, "area_um2": np.nan,
                         "kind": "writing", "counted": False, "touching": False})

    od = cv2.GaussianBlur(od, (0, 0), 0.8)
    bg_stain = 0.04 * (1.0 + _smooth_field(rng, shape)) * inside
    # illumination: linear gradient in a random direction + vignette
    phi = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - w / 2) * np.cos(phi) + (yy - h / 2) * np.sin(phi)) / (0.5 * max(h, w))
    rr = np.hypot(xx - w / 2, yy - h / 2) / (0.5 * np.hypot(h, w))
    illum = (1.0 + gradient * ramp - 0.12 * rr**2).astype(np.float32)
    base = np.where(inside, 232.0, 170.0).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        total = (od + bg_stain) * CRYSTAL_VIOLET_ABSORBANCE[c] + od_neutral * NEUTRAL_ABSORBANCE[c]
        img[..., c] = base * illum * np.power(10.0, -total)
    img += rng.normal(0.0, 2.0, img.shape).astype(np.float32)
    if glare > 0:
        gx, gy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
        gr, tilt = rng.uniform(0.08, 0.2) * min(h, w), rng.uniform(0, np.pi)
        u = ((xx - gx) * np.cos(tilt) + (yy - gy) * np.sin(tilt)) / gr
        v = (-(xx - gx) * np.sin(tilt) + (yy - gy) * np.cos(tilt)) / (0.45 * gr)
        img *= (1.0 + float(glare) * np.exp(-(u**2 + v**2)))[..., None]
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if grey:
        g = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
        out = np.repeat(g[..., None], 3, axis=2)
    if jpeg_quality is not None:
        quality = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        _ok, buf = cv2.imencode(".jpg", out[..., ::-1], quality)
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    truth = pd.DataFrame(
        rows,
        columns=["well", "x", "y", "radius_px", "area_um2", "kind", "counted", "touching"],
    )
    return SyntheticPlate(out, truth, pd.DataFrame(well_rows), lay.name, scale, seed_val)


def make_flask(
    n_colonies: int = 60,
    *,
    seed: int = 0,
    px_per_mm: float = 24.0,
    n_dust: int = 40,
    bench: float = 70.0,
    jpeg_quality: int | None = 90,
) -> SyntheticPlate:
    """A T25 flask photographed from above on the bench, with known colonies.

    The growth area (:data:`~decidua.assays.clonogenicity.layouts.FLASK_SIDES_MM`,
    25 cm2) is a light rectangle inside the flask's grey plastic body, with
    the neck and cap on the right; colonies are drawn as in
    :func:`make_plate` (domed, textured, median radius from 10 % coverage,
    crystal-violet Beer-Lambert colour), placed without overlap at least
    1.5 mm inside the growth area, with abortive colonies (30 %, not counted),
    dust, an illumination gradient, sensor noise and JPEG compression. The
    wells table has one row ``flask`` (centre, disc-equivalent radius) and
    the growth area's corners (``polygon``). The default 24 px/mm is a
    4.6 MP photograph; at 16 px/mm the counter accepts blurred abortive
    colonies (80 colonies, seed 1: 91 counted, the 11 extra all abortive).

    Examples
    --------
    >>> f = make_flask(12, seed=1, px_per_mm=6)
    >>> f.counts(), f.layout
    ({'flask': 12}, 'flask')
    """
    rng = np.random.default_rng(seed)
    s = float(px_per_mm)
    gw, gh = FLASK_SIDES_MM
    wall, neck, pad = 5.0, 22.0, 12.0  # mm: plastic around the growth area, neck, bench
    w = int(round((pad + wall + gw + wall + neck + pad) * s))
    h = int(round((pad + wall + gh + wall + pad) * s))
    gx0, gy0 = (pad + wall) * s, (pad + wall) * s
    gx1, gy1 = gx0 + gw * s, gy0 + gh * s
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = (xx >= pad * s) & (xx <= gx1 + wall * s) & (yy >= pad * s) & (yy <= gy1 + wall * s)
    cyn = (gy0 + gy1) / 2
    neck_m = (xx > gx1 + wall * s) & (xx <= gx1 + (wall + neck) * s) & \
        (np.abs(yy - cyn) <= 0.3 * gh * s)
    growth = (xx >= gx0) & (xx <= gx1) & (yy >= gy0) & (yy <= gy1)
    od = np.zeros((h, w), np.float32)
    texture = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.2)
    texture /= max(float(texture.std()), 1e-6)
    area_mm2 = gw * gh
    med = float(np.clip(np.sqrt(TARGET_COVERAGE * area_mm2 / (max(n_colonies, 1) * np.pi)),
                        *COLONY_MEDIAN_RADIUS_MM))
    radii = np.sort(np.clip(med * np.exp(rng.normal(0, 0.3, n_colonies)),
                            max(0.6 * med, COLONY_MIN_RADIUS_MM), 1.8 * med) * s)[::-1]
    rows: list[dict] = []
    placed: list[tuple[float, float, float]] = []
    m = 1.5 * s
    for r in radii:
        for _try in range(300):
            x = rng.uniform(gx0 + m + r, gx1 - m - r)
            y = rng.uniform(gy0 + m + r, gy1 - m - r)
            if all(np.hypot(x - a, y - b) >= 1.05 * (r + c) for a, b, c in placed):
                placed.append((x, y, r))
                peak = float(np.clip(1.1 * np.exp(rng.normal(0.0, 0.3)), 0.45, 2.5))
                _draw_colony(od, texture, rng, x, y, r, peak)
                rows.append({"well": "flask", "x": x, "y": y, "radius_px": r,
                             "area_um2": np.pi * (r / s * 1000) ** 2, "kind": "colony",
                             "counted": True, "touching": False})
                break
    for _ in range(int(round(0.3 * n_colonies))):
        r = rng.uniform(*ABORTIVE_RADIUS_MM) * s
        x, y = rng.uniform(gx0 + m, gx1 - m), rng.uniform(gy0 + m, gy1 - m)
        _draw_colony(od, texture, rng, x, y, r, float(rng.uniform(0.4, 1.0)))
        rows.append({"well": "flask", "x": x, "y": y, "radius_px": r,
                     "area_um2": np.pi * (r / s * 1000) ** 2, "kind": "abortive",
                     "counted": False, "touching": False})
    od_neutral = np.zeros((h, w), np.float32)
    for _ in range(n_dust):
        x, y = rng.uniform(gx0 + m, gx1 - m), rng.uniform(gy0 + m, gy1 - m)
        cv2.circle(od_neutral, (int(x), int(y)), 1, float(rng.uniform(0.2, 0.6)), -1,
                   lineType=cv2.LINE_AA)
    od = cv2.GaussianBlur(od, (0, 0), 0.8)
    base = np.full((h, w), bench, np.float32)
    base[body | neck_m] = 165.0
    base[growth] = 232.0
    base[(xx > gx1 + (wall + neck - 6) * s) & neck_m] = 95.0  # cap
    phi = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - w / 2) * np.cos(phi) + (yy - h / 2) * np.sin(phi)) / (0.5 * max(h, w))
    base = cv2.GaussianBlur(base, (0, 0), 0.6 * s) * (1.0 + 0.12 * ramp)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = base * np.power(10.0, -(od * CRYSTAL_VIOLET_ABSORBANCE[c] + od_neutral))
    img += rng.normal(0.0, 2.0, img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        _ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    truth = pd.DataFrame(
        rows, columns=["well", "x", "y", "radius_px", "area_um2", "kind", "counted", "touching"])
    wells = pd.DataFrame([{"well": "flask", "cx": (gx0 + gx1) / 2, "cy": cyn,
                           "radius_px": float(np.sqrt(gw * gh / np.pi) * s),
                           "polygon": [[gx0, gy0], [gx1, gy0], [gx1, gy1], [gx0, gy1]]}])
    return SyntheticPlate(out, truth, wells, "flask", s, seed)


def photograph(
    plate: SyntheticPlate,
    *,
    rotation_deg: float = 0.0,
    tilt: float = 0.2,
    scale: float = 1.0,
    margin: float = 0.2,
    seed: int = 0,
    bench: float = 80.0,
) -> SyntheticPlate:
    """The plate photographed lying on the bench: a perspective view.

    The plate picture is mapped by a homography onto a bench: the far side
    is shortened by ``tilt`` (a phone held at an angle: 0 is straight
    above, 0.3 strongly tilted; the far side also appears ``tilt / 2``
    shallower), the whole rotated by ``rotation_deg`` in the picture (90 or
    180 for a plate turned on the bench), scaled by ``scale``, and each
    corner moved by up to 1 % of the plate width (hand-held). The bench is
    a smooth, slightly tinted surface of grey level ``bench`` with texture;
    sensor noise and the original JPEG round-trip stay. The truth table's
    ``x, y`` and the wells' ``cx, cy`` are mapped to the picture
    (``radius_px`` scaled by the local magnification); ``homography`` maps
    plate pixels to picture pixels.

    Examples
    --------
    >>> plate = make_plate("6-well", 3, seed=0, px_per_mm=5)
    >>> photo = photograph(plate, rotation_deg=90, tilt=0.2)
    >>> photo.image.shape[0] > photo.image.shape[1]  # turned: portrait
    True
    >>> photo.counts() == plate.counts()
    True
    """
    rng = np.random.default_rng(seed)
    h, w = plate.image.shape[:2]
    t = float(tilt)
    if not 0.0 <= t < 0.8:
        raise InputError("tilt must be in [0, 0.8)", value=tilt)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    far = -h / 2 * (1 - t / 2)
    dst = np.array([[-w / 2 * (1 - t), far], [w / 2 * (1 - t), far],
                    [w / 2, h / 2], [-w / 2, h / 2]])
    dst += rng.uniform(-0.01, 0.01, dst.shape) * w
    a = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = dst @ rot.T * float(scale)
    lo, hi = dst.min(axis=0), dst.max(axis=0)
    pad = margin * (hi - lo).max()
    dst = dst - lo + pad
    cw, ch = (np.ceil(hi - lo + 2 * pad)).astype(int)
    hom = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    warped = cv2.warpPerspective(plate.image, hom, (int(cw), int(ch)), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), hom, (int(cw), int(ch)),
                                 flags=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255.0
    field_ = 1.0 + 0.15 * _smooth_field(rng, (int(ch), int(cw)), cells=4)
    tex = cv2.GaussianBlur(rng.standard_normal((int(ch), int(cw))).astype(np.float32), (0, 0), 1.5)
    tint = np.array([1.05, 1.0, 0.92], np.float32)
    bench_img = (bench * field_ * (1.0 + 0.06 * tex))[..., None] * tint
    out = warped.astype(np.float32) * inside + bench_img * (1.0 - inside)
    out += rng.normal(0.0, 2.0, out.shape).astype(np.float32)
    img = np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _map(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.stack([x, y], axis=-1).astype(np.float64).reshape(-1, 1, 2)
        m = cv2.perspectiveTransform(pts, hom)
        return m[:, 0, 0], m[:, 0, 1]

    truth = plate.truth.copy()
    wells = plate.wells.copy()
    for tab, xc, yc in ((truth, "x", "y"), (wells, "cx", "cy")):
        if len(tab):
            x, y = tab[xc].to_numpy(float), tab[yc].to_numpy(float)
            mx, my = _map(x, y)
            ex, ey = _map(x + 1.0, y)
            mag = np.hypot(ex - mx, ey - my)
            tab[xc], tab[yc] = mx, my
            tab["radius_px"] = tab["radius_px"].to_numpy(float) * mag
    return SyntheticPlate(img, truth, wells, plate.layout, plate.px_per_mm, plate.seed, hom)


@dataclass(frozen=True)
class SyntheticTrial:
    """A simulated two-arm CFU trial with a known treatment rate ratio.

    Attributes
    ----------
    data
        One row per woman: ``woman_id, arm`` (0 placebo / 1 treated), ``age``,
        ``cells_seeded``, ``baseline_colonies``, ``followup_colonies``.
    rate_ratio
        True multiplicative effect of treatment on the follow-up rate.
    dispersion
        Negative-binomial dispersion ``alpha`` (variance = mu + alpha mu^2).
    """

    data: pd.DataFrame
    rate_ratio: float
    dispersion: float

    def to_frame(self) -> pd.DataFrame:
        """The per-woman table."""
        return self.data.copy()


def simulate_trial(
    n_per_arm: int = 17,
    *,
    rate_ratio: float = TEWARY_RATE_RATIO,
    dispersion: float = 0.05,
    baseline_median: float = TEWARY_BASELINE_MEDIAN_COLONIES,
    cells_seeded: int = 5000,
    age_effect_per_year: float = -0.02,
    seed: int | np.random.Generator | None = 0,
) -> SyntheticTrial:
    """Simulate baseline and follow-up CFU counts for a randomised trial.

    Model (per woman *i*): a latent log-rate ``u_i ~ N(log(median), 0.8)``
    gives baseline counts ``B_i ~ NB(mean exp(u_i), alpha)``; follow-up counts
    ``F_i ~ NB(mean exp(u_i + b_age (age_i - 35)) * RR**arm_i, alpha)``. So
    ``log E[F | u] = u + ...`` and a GLM with ``log(B + 0.5)`` as a covariate
    recovers ``RR`` (the latent rate is measured with Poisson noise by B,
    which attenuates its slope but leaves the randomised arm effect unbiased).

    Parameters
    ----------
    n_per_arm
        Women per arm (Tewary 2020 analysed 16 and 17).
    rate_ratio
        True treatment effect on the colony rate.
    dispersion
        Negative-binomial ``alpha``; 0 gives Poisson.
    baseline_median
        Median colonies per plate at baseline.
    cells_seeded
        Cells seeded per plate (same for every plate).
    age_effect_per_year
        Log-rate change per year of age.
    seed
        Seed or generator.

    Returns
    -------
    SyntheticTrial

    Examples
    --------
    >>> trial = simulate_trial(20, seed=1)
    >>> trial.data.shape, trial.rate_ratio
    ((40, 6), 1.52)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = 2 * n_per_arm
    arm = np.repeat([0, 1], n_per_arm)
    age = rng.uniform(24, 42, n).round()
    u = rng.normal(np.log(baseline_median), 0.8, n)

    def nb(mean: np.ndarray) -> np.ndarray:
        if dispersion <= 0:
            return rng.poisson(mean)
        lam = rng.gamma(1.0 / dispersion, mean * dispersion)
        return rng.poisson(lam)

    base = nb(np.exp(u))
    follow_mu = np.exp(u + age_effect_per_year * (age - 35.0)) * rate_ratio**arm
    follow = nb(follow_mu)
    data = pd.DataFrame(
        {
            "woman_id": [f"W{i:03d}" for i in range(n)],
            "arm": arm,
            "age": age,
            "cells_seeded": cells_seeded,
            "baseline_colonies": base.astype(int),
            "followup_colonies": follow.astype(int),
        }
    )
    return SyntheticTrial(data, float(rate_ratio), float(dispersion))
