"""The OpenCV-based helpers of count.py give the same masks and labels as the
scikit-image / SciPy functions they replace (speed work, results unchanged)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters, morphology

from decidua.assays.clonogenicity.count import (
    _drop_small_labels,
    _fill_small_holes,
    _hysteresis_threshold,
    _split,
)


def _field(seed: int, shape: tuple[int, int] = (300, 400)) -> np.ndarray:
    """A smooth random float32 field with blobs, holes and thin bridges."""
    rng = np.random.default_rng(seed)
    f = rng.random(shape).astype(np.float32)
    return cv2.GaussianBlur(f, (0, 0), 2.5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hysteresis_matches_skimage(seed):
    """OpenCV-labelled hysteresis gives scikit-image's mask."""
    f = _field(seed)
    lo, hi = np.quantile(f, [0.55, 0.8])
    ref = filters.apply_hysteresis_threshold(f, lo, hi)
    got = _hysteresis_threshold(f, float(lo), float(hi))
    assert ref.any() and not ref.all()
    assert np.array_equal(got, ref)
    # low above high is clipped to high, as in scikit-image
    assert np.array_equal(_hysteresis_threshold(f, float(hi), float(lo)),
                          filters.apply_hysteresis_threshold(f, hi, lo))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_size", [0, 3, 20, 200])
def test_fill_small_holes_matches_skimage(seed, max_size):
    """Filling holes of at most max_size pixels equals remove_small_holes."""
    m = _field(seed) > np.float32(0.48)  # many holes of all sizes, some on the border
    ref = morphology.remove_small_holes(m, max_size=max_size)
    got = _fill_small_holes(m, max_size)
    assert np.array_equal(got, ref)
    if max_size >= 20:
        assert got.sum() > m.sum()  # holes were filled


@pytest.mark.parametrize("inclusive", [True, False])
def test_drop_small_labels_matches_skimage(inclusive):
    """In-place removal of small labels equals remove_small_objects on labels."""
    lab, n = ndi.label(_field(4) > np.float32(0.52), structure=np.ones((3, 3), bool))
    assert n > 10
    size = 40
    ref = morphology.remove_small_objects(lab, max_size=size if inclusive else size - 1)
    got = lab.copy()
    _drop_small_labels(got, size, inclusive=inclusive)
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("seed", [0, 1])
def test_split_labels_like_ndi_label(seed):
    """Objects that are not split keep ndi.label's numbering (raster order)."""
    m = _field(seed) > np.float32(0.5)
    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in count_colonies
    try:
        lab, rings = _split(m, h=1.0, min_single_px=1e9)  # too small to split: labels only
    finally:
        cv2.setNumThreads(prev)
    ref, _n = ndi.label(m)
    assert not rings
    assert np.array_equal(lab, ref)


def _disc_field(clusters, r=8.4, shape=(260, 420)):
    """Binary field of discs of radius ``r``: each cluster a list of centre
    offsets (y, x) from the cluster's grid position."""
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    m = np.zeros(shape, bool)
    for j, offs in enumerate(clusters):
        cy, cx = 25 + 50 * (j // 8), 25 + 50 * (j % 8)
        for dy, dx in offs:
            m |= (yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 <= r * r
    return m


def test_size_prior_cuts_merged_pairs_the_watershed_leaves():
    """Known truth: 30 isolated discs (r = 8.4 px), 2 pairs whose centres are
    1.5 r apart (distance-map dynamic 2.8 px, below h = 3 px; solidity 0.92-0.93)
    and a chain of three. The watershed leaves the pairs whole; the size prior (typical
    area from the isolated discs) cuts each pair in 2 and the triple in 3, and
    leaves every isolated disc alone."""
    from decidua.assays.clonogenicity.segmentation import _split_by_size

    singles = [[(0, 0)]] * 30
    pairs = [[(0, -6.3), (0, 6.3)], [(-4.45, -4.45), (4.45, 4.45)]]
    triple = [[(0, -12.6), (0, 0), (0, 12.6)]]
    m = _disc_field(singles + pairs + triple)
    lab, _rings = _split(m, h=3.0, min_single_px=60.0)
    n_ws = len(np.unique(lab[lab > 0]))
    assert n_ws == 30 + 3  # the watershed alone leaves the pairs and the triple whole
    lab, rep = _split_by_size(lab.copy(), 60.0, set())
    assert abs(rep.typical_area_px - np.pi * 8.4**2) < 0.15 * np.pi * 8.4**2
    assert len(np.unique(lab[lab > 0])) == 30 + 2 * 2 + 3
    assert (rep.objects, rep.pieces) == (3, 7)
    # every piece is a compact part of one colony: no sliver
    sizes = np.bincount(lab.ravel())[1:]
    assert sizes[sizes > 0].min() > 0.5 * np.pi * 8.4**2


def test_size_prior_needs_enough_round_colonies():
    """Fewer than SIZE_PRIOR_MIN_SINGLES round objects: no typical size, nothing cut."""
    from decidua.assays.clonogenicity.segmentation import _split_by_size

    m = _disc_field([[(0, 0)]] * 5 + [[(0, -4.4), (0, 4.4)]])
    lab, _ = _split(m, h=3.0, min_single_px=60.0)
    before = lab.copy()
    lab, rep = _split_by_size(lab, 60.0, set())
    assert np.isnan(rep.typical_area_px) and rep.objects == 0
    assert np.array_equal(lab, before)
