"""Quality control of a colony count: per-well rejected objects by reason,
flags for hard images, and a confidence in 0-1.

Pure functions of a count's public tables (``wells`` and ``colonies`` of
:class:`~decidua.assays.clonogenicity.counting.CountResult`).

Flags (per well):

- ``low_contrast`` - nothing stands out clearly from the background (the
  well's bright-tail contrast score, robust noise units, is below
  :data:`LOW_CONTRAST_SCORE`): pale or unstained colonies may be missed.
- ``most_rejected`` - most candidate objects were rejected (and at least
  :data:`MIN_REJECTED_FOR_FLAG` of them; specks below the minimum area and
  objects at the edge / on the wall not counted): the artefact rules decided
  the count.
- ``tntc`` - too many to count: accepted colonies cover more than
  :data:`TNTC_COVERAGE` of the well, where touching colonies merge and counts
  under-estimate.
- ``partly_in_roi`` - only part of the well lies in the user's region of
  interest (``--roi``): counted there only (no confidence penalty: the user
  chose it; a well wholly outside the region is not countable).
- ``not_fully_visible`` - part of the well lies outside the picture; a well
  with less than :data:`MIN_VISIBLE_DISH` (dish) / :data:`MIN_VISIBLE_WELL`
  (plate well) in view is not countable and left out of the total.

The confidence is 1 multiplied by a penalty per flag (:data:`FLAG_PENALTY`),
0 for a well that is not countable; the image's confidence is the mean over
countable wells (0 if none).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: Reasons reported in every well's ``rejected`` counts (others - "faint",
#: "manual-remove" - are added when they occur). ``rim`` objects are
#: reported as ``edge``.
REJECT_REASONS = ("small", "debris", "bubble", "writing", "edge")
#: Bright-tail contrast score (99.5th percentile of the darkening over the
#: robust noise) below which a well is flagged low contrast. Stained
#: synthetic and OpenCFU sample plates score > 25; a blank well ~5.
LOW_CONTRAST_SCORE = 12.0
#: Rejected objects (not counting "small" specks) needed before "most
#: candidates rejected" is flagged.
MIN_REJECTED_FOR_FLAG = 10
#: Fraction of the well covered by accepted colonies above which the count
#: is flagged too many to count.
TNTC_COVERAGE = 0.35
#: Smallest visible fraction of a dish / of a plate well that is counted.
MIN_VISIBLE_DISH = 0.85
MIN_VISIBLE_WELL = 0.98
#: Visible fraction below which ``not_fully_visible`` is flagged.
FULLY_VISIBLE = 0.995
#: Multiplicative confidence penalty of each flag.
FLAG_PENALTY = {"low_contrast": 0.5, "most_rejected": 0.7, "tntc": 0.4,
                "not_fully_visible": 0.85, "partly_in_roi": 1.0}


def min_visible(layout: str) -> float:
    """Smallest visible fraction of a well that is still counted."""
    return MIN_VISIBLE_DISH if layout == "dish" else MIN_VISIBLE_WELL


def well_qc(wells: pd.DataFrame, colonies: pd.DataFrame, *, layout: str,
            min_area_px: float) -> list[dict[str, Any]]:
    """Per-well QC records: count, rejected by reason, flags, confidence.

    Parameters
    ----------
    wells, colonies
        The count's tables (``wells`` with ``colonies`` and, when produced by
        :func:`~decidua.assays.clonogenicity.counting.count_colonies`,
        ``polarity``, ``contrast_score``, ``visible_fraction``, ``countable``).
    layout
        Layout name.
    min_area_px
        Minimum colony area (px).

    Returns
    -------
    list of dict
        ``well, colonies (None if not countable), countable, polarity,
        pale (the pale-colony thresholds were used), split (touching objects
        cut by the watershed and the pieces they gave), rejected {reason: n},
        flags [..], confidence``.

    Examples
    --------
    >>> import pandas as pd
    >>> wells = pd.DataFrame({"well": ["A1"], "cx": [50.0], "cy": [50.0],
    ...                       "radius_px": [40.0], "colonies": [2]})
    >>> col = pd.DataFrame({"well": ["A1"] * 3, "accepted": [True, True, False],
    ...                     "reason": ["", "", "rim"], "area_px": [30.0, 30.0, 10.0],
    ...                     "source": ["auto"] * 3})
    >>> rec = well_qc(wells, col, layout="6-well", min_area_px=20)[0]
    >>> rec["colonies"], rec["rejected"]["edge"], rec["flags"], rec["confidence"]
    (2, 1, [], 1.0)
    """
    out = []
    acc_mask = colonies["accepted"].to_numpy(dtype=bool) if len(colonies) else np.zeros(0, bool)
    for w in wells.to_dict("records"):
        name = str(w["well"])
        in_well = (colonies["well"] == name).to_numpy(dtype=bool) if len(colonies) else acc_mask
        rej = colonies.loc[in_well & ~acc_mask, "reason"] if len(colonies) else pd.Series([])
        rejected = {r: 0 for r in REJECT_REASONS}
        for r, n in rej.replace({"rim": "edge"}).value_counts().items():
            rejected[str(r)] = int(n)
        visible = float(w.get("visible_fraction", 1.0))
        countable = bool(w.get("countable", visible >= min_visible(layout)))
        n_acc = int(w["colonies"])
        flags = []
        score = w.get("contrast_score")
        if countable and score is not None and not _isnan(score) \
                and float(score) < LOW_CONTRAST_SCORE:
            flags.append("low_contrast")
        n_rej = sum(v for k, v in rejected.items() if k not in ("small", "edge"))
        if countable and n_rej >= MIN_REJECTED_FOR_FLAG and n_rej > n_acc:
            flags.append("most_rejected")
        if countable and len(colonies):
            area = colonies.loc[in_well & acc_mask, "area_px"].astype(float)
            area = area.fillna(min_area_px)
            well_area = math.pi * float(w["radius_px"]) ** 2
            if float(area.sum()) > TNTC_COVERAGE * well_area:
                flags.append("tntc")
        if visible < FULLY_VISIBLE:
            flags.append("not_fully_visible")
        roi_frac = w.get("roi_fraction")
        if roi_frac is not None and not _isnan(roi_frac) and float(roi_frac) < FULLY_VISIBLE:
            flags.append("partly_in_roi")
        conf = 0.0
        if countable:
            conf = 1.0
            for f in flags:
                conf *= FLAG_PENALTY[f]
        pol = w.get("polarity")
        out.append({
            "well": name, "colonies": n_acc if countable else None, "countable": countable,
            "polarity": None if pol is None or _isnan(pol) else str(pol),
            "pale": bool(w.get("pale", False)),
            "split": _split_record(w),
            "rejected": rejected, "flags": flags, "confidence": round(conf, 3),
        })
    return out


def _split_record(w: dict[str, Any]) -> dict[str, Any]:
    """How touching colonies were separated in one well: objects cut and the
    pieces they gave, in all and by method (distance watershed; size prior,
    with the typical single-colony area it used). A watershed piece cut again
    by the size prior counts in both."""
    ws_o, ws_p = int(w.get("split_objects", 0) or 0), int(w.get("split_pieces", 0) or 0)
    sz_o = int(w.get("size_split_objects", 0) or 0)
    sz_p = int(w.get("size_split_pieces", 0) or 0)
    typ = w.get("typical_area_px")
    typ = None if typ is None or _isnan(float(typ)) else round(float(typ), 1)
    return {
        "objects": ws_o + sz_o, "pieces": ws_p + sz_p,
        "method": "distance-transform watershed, h-maxima markers; then size prior",
        "watershed": {"objects": ws_o, "pieces": ws_p},
        "size_prior": {"objects": sz_o, "pieces": sz_p, "typical_area_px": typ},
    }


def image_confidence(records: list[dict[str, Any]]) -> float:
    """Mean confidence over countable wells (0 if none is countable).

    Examples
    --------
    >>> image_confidence([{"countable": True, "confidence": 1.0},
    ...                   {"countable": True, "confidence": 0.5},
    ...                   {"countable": False, "confidence": 0.0}])
    0.75
    """
    vals = [float(r["confidence"]) for r in records if r["countable"]]
    return round(float(np.mean(vals)), 3) if vals else 0.0


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
