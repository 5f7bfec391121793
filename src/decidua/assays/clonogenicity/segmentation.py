"""Segmentation of colonies within one well: background correction,
hysteresis threshold, hole filling, watershed splitting, per-object statistics.

- **Background correction**: per colour channel, a grey-level closing with
  a disc larger than any colony (on a downsampled copy) estimates the
  unstained background; the signal is the relative darkening
  ``1 - I / background`` of the channel where the stain shows best.
- **Threshold**: hysteresis, levels from the robust noise of the
  background (median + k sigma, sigma the MAD-scaled spread below the
  median, which colonies do not reach), never below fixed contrast floors.
- **Splitting**: marker-controlled watershed on the Euclidean distance
  transform, markers the maxima of dynamic >= ``h`` (Vincent & Soille, IEEE
  PAMI 1991; Geissmann, PLoS One 2013, OpenCFU). Colonies lying on an
  air-bubble outline are separated from it by an opening wider than the
  outline."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import segmentation

#: Relative-darkening floors of the hysteresis threshold (tuned on the
#: synthetic generator; 0.06 is about 2.5x the JPEG/sensor noise there).
LOW_CONTRAST_FLOOR = 0.06
HIGH_CONTRAST_FLOOR = 0.15
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


def _background_contrast(crop: np.ndarray, mask: np.ndarray, se_radius_px: float) -> np.ndarray:
    """Relative darkening map of a well (see :func:`_background_contrast_scored`)."""
    return _background_contrast_scored(crop, mask, se_radius_px)[0]


def _background_contrast_scored(
    crop: np.ndarray, mask: np.ndarray, se_radius_px: float, flat: bool = False
) -> tuple[np.ndarray, float]:
    """Relative darkening ``1 - I / background`` of the best colour channel.

    Each channel's background comes from a grey closing (on a copy
    downsampled so the closing disc is ~10 px); its darkening is shifted so
    the well's median is 0. The channel kept is the one with the highest
    ratio of bright-tail (99.5th percentile) darkening to robust noise, i.e.
    the channel in which the stain shows best (green for crystal violet,
    blue for brown colonies on yellow agar). Identical channels (grey
    images) are processed once.

    With ``flat`` (a small well, its wall shading already divided out) the
    background of each channel is one level, the mode of the well's values
    (histogram of the 256 grey levels smoothed over 1.5 levels, above the
    well's 25th percentile): a closing
    disc larger than the colonies would be the whole well.

    Returns the map and its score (bright-tail darkening over robust noise:
    how clearly anything darker than the background stands out).
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
        if flat:
            lv = np.clip(ch[mask], 0, 255).astype(np.int64)
            hist = np.bincount(lv, minlength=256)[:256]
            hist = cv2.GaussianBlur(hist.astype(np.float32).reshape(1, -1), (0, 0), 1.5).ravel()
            # the background is the lighter part: not the peak of colonies
            # saturated at black (a crystal-violet colony's green channel)
            hist[: max(1, int(np.percentile(lv, 25)))] = 0.0
            con = 1.0 - ch / max(float(np.argmax(hist)), 1.0)
            con = cv2.GaussianBlur(con.astype(np.float32), (0, 0), 1.0)
            vals = con.ravel()[sample]
            med, sigma = _background_level(vals, small_well=True)
            score = (float(np.percentile(vals, 99.5)) - med) / sigma
            if score > best_score:
                best, best_score = con - med, score
            continue
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
    return out, float(best_score) if np.isfinite(best_score) else 0.0


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


def _background_level(vals: np.ndarray, small_well: bool = False) -> tuple[float, float]:
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
    sigma = max(1.4826 * float(np.median(level - below)), 1e-3)
    if small_well and v.size >= 200:
        # small wells (48/96-well): when colonies, the meniscus and the
        # wall's shadow cover about half
        # the well (a 96-well well: the meniscus alone is ~20 % of it) the
        # median is no longer background: take the histogram's mode (the
        # background is the most common level; colonies spread over a wide
        # range) when the median lies clearly above it
        mode, sigma_m = _background_mode(v)
        if level - mode > MODE_SHIFT_K * sigma_m:
            return mode, sigma_m
    return level, sigma


#: The mode replaces the median as the background level when the median is
#: more than this many (mode-based) noise units above it.
MODE_SHIFT_K = 2.0


def _background_mode(v: np.ndarray) -> tuple[float, float]:
    """Mode of the values (histogram of 200 bins over the 1st-99th
    percentile, smoothed over 2 bins) and the MAD-scaled spread below it."""
    lo, hi = np.percentile(v, [1.0, 99.0])
    if not hi > lo:
        return float(lo), 1e-3
    hist, edges = np.histogram(v, bins=200, range=(float(lo), float(hi)))
    hist = cv2.GaussianBlur(hist.astype(np.float32).reshape(1, -1), (0, 0), 2.0).ravel()
    k = int(np.argmax(hist))
    mode = 0.5 * float(edges[k] + edges[k + 1])
    below = v[v <= mode]
    sigma = 1.4826 * float(np.median(mode - below)) if below.size else 1e-3
    return mode, max(sigma, 1e-3)


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


#: Ink (pen writing, labels, marker): pixels darker than this fraction of the
#: well's median lightness (CIE L*, OpenCV 8-bit Lab) ...
INK_L_FRACTION = 0.35
#: ... and close to neutral (Lab chroma below this, 8-bit units): black or
#: grey ink, unlike crystal violet (purple), Giemsa or haematoxylin (blue).
INK_CHROMA = 14.0
#: An ink component is writing when it is line-like: its area exceeds this
#: multiple of the disc inscribed at its thickest point (a round colony ~1,
#: a pen stroke tens).
INK_LINE_RATIO = 6.0
#: ... and long: at least this many mm of stroke (area over twice its
#: thickness). Components touching the well's edge are the wall's shadow,
#: handled by the rim rules, not writing.
#: A stroke is at least this thick (half-width, px) and covers at least this
#: multiple of the minimum colony area: thinner or smaller dark marks (dust
#: fibres) are left to the debris rules, which keep colonies touching them.
INK_MIN_HALF_WIDTH_PX = 2.5
#: Once a well has writing, every other ink mark of at least this fraction
#: of the minimum colony area is writing too (letters, dots).
INK_DOT_FRACTION = 0.5
INK_MIN_AREA_FACTOR = 10.0
INK_MIN_LENGTH_MM = 2.0


def _ink_mask(crop: np.ndarray, mask: np.ndarray, min_px: float, um_per_px: float) -> np.ndarray:
    """Pen writing and other near-black, neutral, line-like marks in a well.

    The stain axis in a perceptual colour space: stained colonies shift the
    hue (purple, blue, brown) as they darken; writing is dark and neutral.
    Pixels darker than :data:`INK_L_FRACTION` of the well's median L* with
    chroma below :data:`INK_CHROMA` are ink candidates; a connected group of
    them is writing when it is big and thick enough (:data:`INK_MIN_AREA_FACTOR`,
    :data:`INK_MIN_HALF_WIDTH_PX`), clear of the well's edge, line-like
    (:data:`INK_LINE_RATIO`) and long (:data:`INK_MIN_LENGTH_MM`), so a round
    dark colony or a dust fibre is never taken for ink. Grey pictures (no
    colour) have no ink by this rule.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the writing (inside ``mask``).
    """
    probe = crop[::7, ::7].astype(np.int16)
    spread = probe.max(axis=2) - probe.min(axis=2)
    if np.count_nonzero(spread > 4) < 0.01 * spread.size:
        # a grey picture: no colour to tell ink from stain
        return np.zeros(mask.shape, bool)
    lab = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2LAB)
    light = lab[..., 0]
    vals = light[mask]
    if vals.size == 0:
        return np.zeros(mask.shape, bool)
    dark = (light < INK_L_FRACTION * float(np.median(vals))) & mask
    if not dark.any():
        return dark
    a = lab[..., 1].astype(np.int16) - 128
    b = lab[..., 2].astype(np.int16) - 128
    cand = dark & (a * a + b * b < INK_CHROMA**2)
    n, lab_c, stats, _ = cv2.connectedComponentsWithStats(cand.view(np.uint8), connectivity=8)
    big = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= INK_MIN_AREA_FACTOR * min_px)
    big = big[big > 0]
    out = np.zeros(mask.shape, bool)
    if big.size == 0:
        return out
    ring = cv2.erode(mask.view(np.uint8), np.ones((5, 5), np.uint8)) == 0
    at_edge = np.zeros(n, bool)
    at_edge[np.unique(lab_c[ring & cand])] = True
    dist = cv2.distanceTransform(cand.view(np.uint8), cv2.DIST_L2, 3)
    thick = np.zeros(n, np.float64)
    for i in big:  # thickest point of each big component, within its box
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        box = lab_c[y:y + bh, x:x + bw] == i
        thick[i] = float(dist[y:y + bh, x:x + bw][box].max())
    writing = np.zeros(n, bool)
    for i in big:
        area = float(stats[i, cv2.CC_STAT_AREA])
        length_mm = area / (2.0 * max(thick[i], 1.0)) * um_per_px / 1000.0
        writing[i] = (not at_edge[i] and thick[i] >= INK_MIN_HALF_WIDTH_PX
                      and area > INK_LINE_RATIO * math.pi * max(thick[i], 1.0) ** 2
                      and length_mm >= INK_MIN_LENGTH_MM)
    if writing.any():
        # a pen was used in this well: its shorter strokes (letters) and dots
        # are writing too (on a colour picture stained colonies are not
        # neutral black, so near-black neutral marks here are ink)
        area_all = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        shorter = ~at_edge & (area_all >= INK_DOT_FRACTION * min_px)
        shorter[0] = False
        writing |= shorter
        out = writing[lab_c]
    return out


#: Size prior for merged colonies (:func:`_split_by_size`): the typical single
#: colony area is the median area of the well's round objects (solidity >=
#: :data:`SINGLE_SOLIDITY`, at least the minimum colony area), when there are
#: at least this many of them (in sparser wells touching is rare and the
#: typical size too noisy: a 30-colony synthetic dish at 0.3 MP had two large
#: colonies cut with 20) ...
SIZE_PRIOR_MIN_SINGLES = 30
#: ... an object the watershed left whole is a merged cluster when it is at
#: least this multiple of the typical area ...
SIZE_PRIOR_MIN_RATIO = 1.3
#: ... and its shape says so: solidity below this (two touching discs of
#: equal size: 0.88-0.95; a round single colony in OpenCFU's samples 0.95-0.98).
SIZE_PRIOR_MAX_SOLIDITY = 0.94
#: A cluster is made of colonies: at its thickest it reaches this fraction of
#: the typical colony radius (a piece of the wall, a meniscus arc or a fibre
#: does not), its solidity is at least this, and every piece of the cut
#: reaches :data:`SIZE_PRIOR_PIECE_DEPTH` of the typical radius at its thickest.
SIZE_PRIOR_MIN_DEPTH = 0.7
SIZE_PRIOR_MIN_SOLIDITY = 0.6
SIZE_PRIOR_PIECE_DEPTH = 0.5
#: ... and it is elongated (ellipse of the same second moments: major / minor
#: axis at least this; two touching colonies >= ~1.4) or notched all round
#: (solidity below SIZE_PRIOR_ROUND_SOLIDITY: three or more in a clump). A
#: large single colony with a ragged outline is round: not cut (synthetic
#: dish, 150 colonies, seed 1: two large colonies were cut in 2 and 3).
SIZE_PRIOR_MIN_ELONGATION = 1.15
SIZE_PRIOR_ROUND_SOLIDITY = 0.88
#: Objects on the well's edge are cut only into at most this many pieces:
#: larger ones are lengths of the wall (OpenCFU sample A), not colonies.
SIZE_PRIOR_EDGE_MAX_K = 4
#: Lloyd iterations of the k-means cut of a merged cluster.
SIZE_PRIOR_ITERATIONS = 10


@dataclass(frozen=True)
class SizeSplit:
    """What :func:`_split_by_size` did in one well.

    Attributes
    ----------
    typical_area_px
        Typical single-colony area (px), ``nan`` when too few round colonies.
    objects, pieces
        Merged clusters cut by the size prior and the pieces they gave.
    """

    typical_area_px: float
    objects: int
    pieces: int


def _kmeans_cut(m: np.ndarray, dist: np.ndarray, k: int) -> np.ndarray:
    """Cut one object mask into ``k`` compact pieces: k-means (Lloyd) on its
    pixel coordinates, started from its ``k`` farthest-apart distance-map
    maxima (deterministic: the deepest pixel first, then each next seed the
    pixel maximising distance-map value x distance to the seeds so far).

    Returns
    -------
    numpy.ndarray
        Labels 1..k on the object's pixels (0 elsewhere).
    """
    ys, xs = np.nonzero(m)
    pts = np.column_stack([ys, xs]).astype(np.float64)
    depth = dist[ys, xs].astype(np.float64)
    seeds = [int(np.argmax(depth))]
    near = np.hypot(*(pts - pts[seeds[0]]).T)
    for _ in range(1, k):
        j = int(np.argmax(near * depth))
        seeds.append(j)
        near = np.minimum(near, np.hypot(*(pts - pts[j]).T))
    centres = pts[seeds]
    assign = np.zeros(len(pts), np.int64)
    for _ in range(SIZE_PRIOR_ITERATIONS):
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new = np.argmin(d2, axis=1)
        if np.array_equal(new, assign) and _ > 0:
            break
        assign = new
        for c in range(k):
            sel = assign == c
            if sel.any():
                centres[c] = pts[sel].mean(axis=0)
    out = np.zeros(m.shape, np.int32)
    out[ys, xs] = assign + 1
    return out


def _split_by_size(lab: np.ndarray, min_px: float, skip: set[int],
                   on_edge: set[int] = frozenset()) -> tuple[np.ndarray, SizeSplit]:
    """Cut merged clusters the distance watershed left whole, by a size prior.

    A small colony sunk into the flank of a larger one, or three colonies in
    a tight clump, leave distance-map saddles too shallow for the watershed
    (dynamic below ``h``). The well's own isolated colonies give the typical
    single-colony area ``a1`` (median area of the round objects, see
    :data:`SIZE_PRIOR_MIN_SINGLES`); an object of area ``A >=``
    :data:`SIZE_PRIOR_MIN_RATIO` ``x a1`` whose solidity is below
    :data:`SIZE_PRIOR_MAX_SOLIDITY` (its outline is notched where colonies
    meet) and which is elongated or clumped (:data:`SIZE_PRIOR_MIN_ELONGATION`,
    :data:`SIZE_PRIOR_ROUND_SOLIDITY`; a large ragged single colony is round)
    is counted as ``k = round(A / a1)`` colonies (at least 2) and cut
    into ``k`` compact pieces (:func:`_kmeans_cut`), so that each keeps a row
    of its own in the colony table. Objects in ``skip`` (bubble outlines) are
    left alone. ``lab`` is changed in place; new pieces get new labels.

    Returns
    -------
    tuple
        ``(lab, SizeSplit)``.
    """
    n = int(lab.max())
    none = SizeSplit(float("nan"), 0, 0)
    if n < SIZE_PRIOR_MIN_SINGLES:
        return lab, none
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    slices = ndi.find_objects(lab)
    sol = np.full(n + 1, np.nan)
    for i in np.flatnonzero(sizes >= min_px):
        if i == 0 or i in skip or slices[i - 1] is None:
            continue
        sol[i] = _solidity(lab[slices[i - 1]] == i)
    round_ = np.flatnonzero(sol >= SINGLE_SOLIDITY)
    if round_.size < SIZE_PRIOR_MIN_SINGLES:
        return lab, none
    a1 = float(np.median(sizes[round_]))
    r1 = math.sqrt(a1 / math.pi)
    cand = np.flatnonzero((sizes >= SIZE_PRIOR_MIN_RATIO * a1) & (sol < SIZE_PRIOR_MAX_SOLIDITY)
                          & (sol >= SIZE_PRIOR_MIN_SOLIDITY))
    next_id = n + 1
    objects = pieces = 0
    for i in cand:
        sl = slices[i - 1]
        pad = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        m = lab[pad] == i
        if sol[i] >= SIZE_PRIOR_ROUND_SOLIDITY and _elongation(m) < SIZE_PRIOR_MIN_ELONGATION:
            continue  # round: one large colony with a ragged outline
        k = max(2, int(round(float(sizes[i]) / a1)))
        if i in on_edge and k > SIZE_PRIOR_EDGE_MAX_K:
            continue  # a long piece of the wall, not a few colonies at the edge
        dist = cv2.distanceTransform(m.view(np.uint8), cv2.DIST_L2, 5)
        if float(dist.max()) < SIZE_PRIOR_MIN_DEPTH * r1:
            continue  # thin: an arc of the wall or meniscus, a fibre
        cut = _kmeans_cut(m, dist, k)
        depth = np.zeros(k + 1)
        np.maximum.at(depth, cut.ravel(), _piece_depth(cut).ravel())
        if float(depth[1:].min()) < SIZE_PRIOR_PIECE_DEPTH * r1:
            continue  # a piece would be a sliver, not a colony
        sub = lab[pad]
        for j in range(2, k + 1):
            sub[cut == j] = next_id
            next_id += 1
        objects += 1
        pieces += k
    return lab, SizeSplit(a1, objects, pieces)


def _piece_depth(cut: np.ndarray) -> np.ndarray:
    """Distance of each pixel of a labelled cut to the nearest pixel of another
    label or the background (the pieces' own distance maps, in one pass)."""
    edges = np.zeros(cut.shape, bool)
    edges[:-1] |= cut[:-1] != cut[1:]
    edges[1:] |= cut[1:] != cut[:-1]
    edges[:, :-1] |= cut[:, :-1] != cut[:, 1:]
    edges[:, 1:] |= cut[:, 1:] != cut[:, :-1]
    inner = (cut > 0) & ~edges
    return cv2.distanceTransform(inner.view(np.uint8), cv2.DIST_L2, 5)


def _elongation(m: np.ndarray) -> float:
    """Major over minor axis of the ellipse with a mask's second moments."""
    mom = cv2.moments(m.view(np.uint8), binaryImage=True)
    if mom["m00"] <= 0:
        return 1.0
    a, b, c = mom["mu20"] / mom["m00"], mom["mu02"] / mom["m00"], mom["mu11"] / mom["m00"]
    root = math.sqrt(max(((a - b) / 2.0) ** 2 + c * c, 0.0))
    l1, l2 = (a + b) / 2.0 + root, max((a + b) / 2.0 - root, 1e-9)
    return math.sqrt(l1 / l2)
