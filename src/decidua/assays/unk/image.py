"""uNK cells counted on CD56 immunostained sections (DAB + haematoxylin images).

Pipeline, per field:

1. **Colour deconvolution** (Ruifrok AC, Johnston DA. Quantification of
   histochemical staining by color deconvolution. Anal Quant Cytol Histol
   2001;23:291-299): optical density ``OD = -log10(I / I0)`` of the R, G, B
   channels is unmixed into haematoxylin, eosin and DAB amounts with the
   inverse of their stain-vector matrix, using scikit-image's
   ``separate_stains(rgb, hed_from_rgb)`` (its ``hed_from_rgb`` is the
   Ruifrok-Johnston H / E / DAB matrix). scikit-image returns the amounts
   divided by ``-log(1e-6)`` in natural-log units; :func:`deconvolve` rescales
   them to **base-10 optical density along each unit stain vector**
   (x 6 = ln(1e6) / ln(10)), the unit Ruifrok and Johnston use.
2. **Nuclei**: every cell's nucleus takes the haematoxylin counterstain. The
   haematoxylin map is smoothed (Gaussian, sigma = diameter / 8), thresholded
   (Otsu's threshold, floored at ``min_h_od``), and touching nuclei are split by
   a watershed on the distance transform seeded at maxima at least half a
   nucleus diameter apart. Objects smaller than a quarter of a nucleus area
   are dropped.
3. **CD56+**: CD56 is a membrane antigen, so DAB surrounds the nucleus. A
   nucleus is CD56+ when the mean DAB OD over the nucleus and a ring of half a
   diameter around it (excluding other nuclei) exceeds ``dab_threshold``.
   Others are stromal (haematoxylin only). ``total = cd56_positive + stromal``
   and ``unk_pct = 100 cd56_positive / total``: the % of stromal cells of
   Lash et al. 2016, where the uNK cells are counted among the stromal cells.

Counting protocol (Lash GE, Bulmer JN, Li TC, et al. Standardisation of
uterine natural killer (uNK) cell measurements in the endometrium of women with
recurrent reproductive failure. J Reprod Immunol 2016;116:50-59): CD56
immunohistochemistry on formalin-fixed, wax-embedded sections; **10 random
fields at x400**; total stromal and uNK cells counted (ImageJ), reported as %
uNK of stromal cells. Fields should be stromal fields: glandular epithelium
and luminal surface have nuclei too and are not excluded here.
``nucleus_diameter_px`` must match the image scale (e.g. a 7 um stromal
nucleus at 0.25 um/px is 28 px).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decidua.errors import InputError

#: Ruifrok & Johnston 2001 stain vectors (RGB optical density, unit length),
#: as tabulated in the paper (haematoxylin, eosin, DAB).
RUIFROK_H = (0.650, 0.704, 0.286)
RUIFROK_E = (0.072, 0.990, 0.105)
RUIFROK_DAB = (0.268, 0.570, 0.776)
#: Rows: unit H, E, DAB vectors; and its inverse (RGB OD -> stain amounts).
RGB_FROM_HED = np.array([np.asarray(v) / np.linalg.norm(v)
                         for v in (RUIFROK_H, RUIFROK_E, RUIFROK_DAB)])
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)
#: scikit-image's amounts x this = base-10 OD (ln(1e6) / ln(10)).
_SKIMAGE_TO_OD10 = float(np.log(1e6) / np.log(10.0))
#: Defaults (our choices, documented in docs/unk.md): nucleus diameter at x400
#: on the synthetic generator's scale, DAB threshold (OD10), haematoxylin floor.
DEFAULT_NUCLEUS_DIAMETER_PX = 12.0
DEFAULT_DAB_THRESHOLD = 0.15
DEFAULT_MIN_H_OD = 0.08
PROTOCOL = "image"
ANALYSIS_VERSION = "decidua.assays.unk.image/1"


@dataclass(frozen=True)
class StainAmounts:
    """Per-pixel stain amounts (base-10 OD along each unit stain vector)."""

    haematoxylin: np.ndarray
    eosin: np.ndarray
    dab: np.ndarray


@dataclass(frozen=True)
class FieldCount:
    """One field's count.

    Attributes
    ----------
    field
        Field name (usually the image file name).
    cd56_positive, stromal, total
        CD56+ cells, haematoxylin-only stromal cells, and their sum.
    unk_pct
        ``100 cd56_positive / total`` (NaN with no cells).
    labels
        Nucleus label image (0 = background), for the overlay.
    positive_labels
        Labels of the CD56+ nuclei.
    parameters
        The parameters used (nucleus diameter, thresholds).
    """

    field: str
    cd56_positive: int
    stromal: int
    total: int
    unk_pct: float
    labels: np.ndarray
    positive_labels: tuple[int, ...]
    parameters: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        pct = None if np.isnan(self.unk_pct) else float(self.unk_pct)
        return {"field": self.field, "cd56_positive": self.cd56_positive,
                "stromal": self.stromal, "total": self.total, "unk_pct": pct,
                "parameters": dict(self.parameters)}


def deconvolve(image: np.ndarray) -> StainAmounts:
    """Haematoxylin / eosin / DAB amounts of an RGB image (Ruifrok-Johnston vectors).

    Examples
    --------
    >>> import numpy as np
    >>> od = 0.5 * np.array(RUIFROK_DAB) / np.linalg.norm(RUIFROK_DAB)
    >>> px = np.full((2, 2, 3), 10 ** -od)
    >>> round(float(deconvolve(px).dab.mean()), 3)
    0.5
    """
    from skimage.color import separate_stains

    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"deconvolution needs an RGB image, got shape {a.shape}")
    hed = separate_stains(a, HED_FROM_RGB) * _SKIMAGE_TO_OD10
    return StainAmounts(hed[..., 0], hed[..., 1], hed[..., 2])


def count_field(
    image: np.ndarray,
    *,
    field: str = "",
    nucleus_diameter_px: float = DEFAULT_NUCLEUS_DIAMETER_PX,
    dab_threshold: float = DEFAULT_DAB_THRESHOLD,
    min_h_od: float = DEFAULT_MIN_H_OD,
) -> FieldCount:
    """Count CD56+ and stromal cells in one field (RGB ``uint8`` or float 0-1).

    Raises
    ------
    InputError
        A non-positive nucleus diameter or threshold; an image that is not RGB.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.segmentation import watershed

    for name, v in (("nucleus_diameter_px", nucleus_diameter_px),
                    ("dab_threshold", dab_threshold), ("min_h_od", min_h_od)):
        if not (np.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a positive number", column=name, value=v)
    st = deconvolve(image)
    diam = float(nucleus_diameter_px)
    h = gaussian(st.haematoxylin, sigma=max(diam / 8.0, 0.5))
    try:
        thr = float(threshold_otsu(h))
    except ValueError:
        thr = min_h_od
    thr = max(thr, min_h_od)
    mask = h > thr
    mask = ndi.binary_opening(mask, iterations=max(1, int(diam / 8)))
    mask = ndi.binary_fill_holes(mask)
    dist = ndi.distance_transform_edt(mask)
    min_dist = max(1, int(round(diam / 2.0)))
    lab0, _ = ndi.label(mask)
    peaks = peak_local_max(dist, min_distance=min_dist, labels=lab0, exclude_border=False,
                           threshold_abs=diam / 6.0)
    markers = np.zeros(mask.shape, dtype=np.int32)
    for i, (r, c) in enumerate(peaks, start=1):
        markers[r, c] = i
    labels = watershed(-dist, markers, mask=mask)
    min_area = 0.25 * np.pi * (diam / 2.0) ** 2
    areas = np.bincount(labels.ravel())
    small = np.flatnonzero(areas < min_area)
    small = small[small > 0]
    if small.size:
        labels[np.isin(labels, small)] = 0
    ids = np.unique(labels)
    ids = ids[ids > 0]
    # DAB around each nucleus: nucleus + ring of half a diameter, other nuclei excluded
    ring = max(1, int(round(diam / 2.0)))
    region = _expand(labels, ring)  # grows into background only, never over a nucleus
    dab = gaussian(st.dab, sigma=1.0)
    if ids.size:
        means = np.asarray(ndi.mean(dab, labels=region, index=ids), dtype=float)
    else:
        means = np.zeros(0)
    pos = tuple(int(i) for i, mv in zip(ids, means, strict=True) if mv > dab_threshold)
    n_pos, total = len(pos), int(ids.size)
    pct = 100.0 * n_pos / total if total else float("nan")
    return FieldCount(field=field, cd56_positive=n_pos, stromal=total - n_pos, total=total,
                      unk_pct=pct, labels=labels, positive_labels=pos,
                      parameters={"nucleus_diameter_px": diam, "dab_threshold": dab_threshold,
                                  "min_h_od": min_h_od, "h_threshold": thr})


def _expand(labels: np.ndarray, distance: int) -> np.ndarray:
    from skimage.segmentation import expand_labels

    return expand_labels(labels, distance=distance)


def render_overlay(image: np.ndarray, result: FieldCount) -> np.ndarray:
    """QC picture: CD56+ nuclei outlined in red, stromal nuclei in green (RGB ``uint8``)."""
    from skimage.segmentation import find_boundaries

    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.asarray(img, dtype=float) * 255.0, 0, 255).astype(np.uint8)
    out = img.copy()
    bound = find_boundaries(result.labels, mode="inner")
    positive = np.isin(result.labels, np.asarray(result.positive_labels, dtype=int))
    out[bound & ~positive] = (0, 190, 0)
    out[bound & positive] = (230, 0, 0)
    return out


def save_overlay(path: str | Path, image: np.ndarray, result: FieldCount) -> Path:
    """Write :func:`render_overlay` as PNG."""
    from PIL import Image

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_overlay(image, result)).save(p, format="PNG")
    return p


def count_images(paths: Sequence[str | Path], **kwargs: Any) -> list[FieldCount]:
    """Load and count several field images (``load_image`` refuses non-images)."""
    from decidua.assays.clonogenicity.image import load_image

    return [count_field(load_image(p), field=Path(p).name, **kwargs) for p in paths]
