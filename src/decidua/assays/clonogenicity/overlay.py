"""QC overlay of a count: outlines, numbers and well labels drawn on the image
(public attributes of :class:`~decidua.assays.clonogenicity.counting.CountResult` only)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import segmentation

from decidua.assays.clonogenicity.counting import CountResult
from decidua.assays.clonogenicity.image import check_image
from decidua.errors import InputError


def render_overlay(image: np.ndarray, result: CountResult, *, legend: bool = False) -> np.ndarray:
    """QC picture: counted colonies outlined in green and numbered, rejected
    objects outlined in red, manual additions as cyan circles, manual
    removals crossed in orange, wells in yellow with their count (a well
    that is not countable: "not countable").

    With ``legend``, a box in the top-left corner explains the colours and
    gives the total, the flags and the confidence (as in the JSON).

    Returns
    -------
    numpy.ndarray
        RGB ``uint8`` image of the same size as ``image``.

    Examples
    --------
    >>> from decidua.assays.clonogenicity.counting import count_colonies
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> picture = render_overlay(plate.image, count_colonies(plate.image, "dish"))
    >>> picture.shape == plate.image.shape, bool((picture != plate.image).any())
    (True, True)
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
        poly = getattr(wrow, "polygon", None)
        if isinstance(poly, list | np.ndarray):  # flask growth area, drawn region
            pts = np.round(np.asarray(poly, float)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], True, (255, 215, 0), 2)
        else:
            cv2.circle(img, (int(wrow.cx), int(wrow.cy)), int(wrow.radius_px), (255, 215, 0), 2)
        countable = bool(getattr(wrow, "countable", True))
        label = f"{wrow.well}: {wrow.colonies}" if countable else f"{wrow.well}: not countable"
        org = (int(wrow.cx - wrow.radius_px * 0.5), int(max(wrow.cy - wrow.radius_px * 0.85, 20)))
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * max(scale, 0.6), (0, 0, 0), 5,
                    cv2.LINE_AA)
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * max(scale, 0.6),
                    (255, 215, 0), 2, cv2.LINE_AA)
    del ids
    if legend:
        _draw_legend(img, result, scale)
    return img


_LEGEND = (((0, 200, 0), "counted colony (numbered)"), ((230, 0, 0), "rejected object"),
           ((255, 140, 0), "removed by hand"), ((0, 220, 255), "added by hand"),
           ((255, 215, 0), "well: count"))


def _draw_legend(img: np.ndarray, result: CountResult, scale: float) -> None:
    rep = result.report()
    lines = [f"colonies: {rep['colonies']}   confidence: {rep['confidence']:.2f}",
             "flags: " + (", ".join(rep["flags"]) or "none")]
    fs = 0.5 * max(scale, 0.6)
    step = int(22 * max(scale, 0.6))
    width = int(430 * max(scale, 0.6))
    height = step * (len(_LEGEND) + len(lines)) + step // 2
    h, w = img.shape[:2]
    x1, y1 = min(width, w - 1), min(height, h - 1)
    img[:y1, :x1] = (img[:y1, :x1].astype(np.float32) * 0.25 + 191).astype(np.uint8)
    y = step
    for colour, text in _LEGEND:
        cv2.rectangle(img, (8, y - step // 2), (8 + step // 2, y), colour, 2)
        cv2.putText(img, text, (16 + step // 2, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 1,
                    cv2.LINE_AA)
        y += step
    for text in lines:
        cv2.putText(img, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 1, cv2.LINE_AA)
        y += step


def save_overlay(path: str | Path, image: np.ndarray, result: CountResult, *,
                 legend: bool = True) -> Path:
    """Render the QC overlay (with its legend) and write it as PNG; returns the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import cv2
    >>> from decidua.assays.clonogenicity.counting import count_colonies
    >>> from decidua.assays.clonogenicity.synthetic import make_plate
    >>> plate = make_plate("dish", 12, seed=0, px_per_mm=12)  # a small 35 mm dish
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "qc.png"
    >>> path = save_overlay(out, plate.image, count_colonies(plate.image, "dish"))
    >>> cv2.imread(str(path)).shape
    (467, 467, 3)
    """
    out = render_overlay(image, result, legend=legend)
    p = Path(path)
    if not cv2.imwrite(str(p), out[..., ::-1]):
        raise InputError("cannot write overlay", file=str(p))
    return p
