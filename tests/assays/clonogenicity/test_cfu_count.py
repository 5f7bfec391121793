"""Colony counting on synthetic plates with known truth (see conftest.py)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from decidua.assays.clonogenicity.count import (
    COLONY_COLUMNS,
    Correction,
    apply_corrections,
    check_image,
    count_colonies,
    count_image_file,
    image_sha256,
    load_corrections,
    load_image,
    render_overlay,
    save_corrections,
    save_overlay,
    sidecar_path,
)
from decidua.assays.clonogenicity.synthetic import make_plate
from decidua.errors import InputError

#: Acceptance criteria of issue 5.
MEDIAN_ERROR_MAX = 0.05
WORST_ERROR_MAX = 0.15
#: The validation grid of docs/cfu.md: every density and layout, seeds 0-2 in the
#: default run (30 images, about 1.5 minutes, most of it rendering the plates);
#: ``DECIDUA_CFU_FULL_GRID=1`` adds seeds 3-8 (seeds 6-8 were never used for tuning).
GRID_SEEDS = tuple(range(9)) if os.environ.get("DECIDUA_CFU_FULL_GRID") else (0, 1, 2)
WIDER_GRID = [
    (layout, n, seed)
    for layout, n in (("dish", 10), ("dish", 30), ("dish", 100), ("dish", 200), ("dish", 300),
                      ("6-well", 5), ("6-well", 40), ("12-well", 20),
                      ("24-well", 10), ("24-well", 30))
    for seed in GRID_SEEDS
]


def _check_errors(runs):
    errors = {}
    for case, plate, res in runs:
        truth = sum(plate.counts().values())
        errors[case] = abs(res.total - truth) / truth
    assert np.median(list(errors.values())) <= MEDIAN_ERROR_MAX, errors
    worst = max(errors, key=errors.get)
    assert errors[worst] <= WORST_ERROR_MAX, (worst, errors[worst])


def test_count_error_across_densities(accuracy_runs):
    """Median |count error| <= 5 %, no image worse than 15 % (truth: generator)."""
    _check_errors(accuracy_runs)


@pytest.mark.slow
def test_count_error_wider_grid(count_grid):
    """The issue's criteria on every density of docs/cfu.md (30 images; 90 with the env var)."""
    _check_errors(count_grid(WIDER_GRID))


def _ownership(plate, res):
    """Truth colonies and, for each, how many counted objects have their
    centroid inside its drawn radius (same well)."""
    truth = plate.truth[plate.truth["counted"]].reset_index(drop=True)
    acc = res.colonies[res.colonies["accepted"]]
    owners = np.zeros(len(truth), int)
    for x, y, well in zip(acc["x"], acc["y"], acc["well"], strict=True):
        d = np.array(np.hypot(truth["x"] - x, truth["y"] - y) / truth["radius_px"], float)
        d[(truth["well"] != well).to_numpy()] = np.inf
        j = int(np.argmin(d))
        if d[j] <= 1.0:
            owners[j] += 1
    return truth, owners


def test_large_colonies_not_cut_in_pieces(accuracy_runs):
    """No colony is counted as several pieces (pale spots inside large ragged
    colonies used to dent the distance map: the 10-colony dish, seed 2, had
    one colony cut in three)."""
    for case, plate, res in accuracy_runs:
        truth, owners = _ownership(plate, res)
        assert (owners > 1).sum() <= 0.01 * len(truth), (case, int((owners > 1).sum()))
        if case[:2] == ("dish", 10):
            assert (owners == 1).all(), case


def test_touching_colonies_are_split(accuracy_runs):
    """Colonies the generator placed touching a neighbour are each counted
    once (without the watershed split, at most ~16 % are on these plates)."""
    hit = total = 0
    for case, plate, res in accuracy_runs:
        truth, owners = _ownership(plate, res)
        touching = truth["touching"].to_numpy()
        if touching.sum() >= 20:
            assert (owners[touching] == 1).mean() >= 0.6, case
        hit += int((owners[touching] == 1).sum())
        total += int(touching.sum())
    assert total > 100 and hit / total >= 0.7, (hit, total)


def test_per_well_counts_and_table_agree(accuracy_runs):
    for _case, plate, res in accuracy_runs:
        tab = res.to_frame()
        assert list(tab.columns) == COLONY_COLUMNS
        acc = tab[tab["accepted"]].groupby("well").size()
        for well, n in res.counts().items():
            assert int(acc.get(well, 0)) == n
        assert set(res.counts()) == set(plate.wells["well"])
        # counted colonies lie inside their well
        w = res.wells.set_index("well")
        a = tab[tab["accepted"]]
        d = np.hypot(a["x"] - w.loc[a["well"], "cx"].to_numpy(),
                     a["y"] - w.loc[a["well"], "cy"].to_numpy())
        assert (d <= w.loc[a["well"], "radius_px"].to_numpy()).all()


def test_wells_found_where_drawn_and_scale_calibrated(accuracy_runs):
    for (layout, _n, _s), plate, res in accuracy_runs:
        got = res.wells.set_index("well")
        for t in plate.wells.itertuples():
            assert abs(got.loc[t.well, "cx"] - t.cx) < 0.05 * t.radius_px, layout
            assert abs(got.loc[t.well, "cy"] - t.cy) < 0.05 * t.radius_px, layout
        true_um_per_px = 1000.0 / plate.px_per_mm
        assert res.um_per_px == pytest.approx(true_um_per_px, rel=0.06), layout


def test_artefacts_only_plate_counts_nothing():
    """Bubbles, dust and fibres but no colonies: nothing may be counted."""
    p = make_plate("dish", 0, seed=11, n_bubbles=6, n_dust=80, n_fibres=5)
    res = count_colonies(p.image, "dish")
    assert res.total <= 1
    rejected = res.colonies[~res.colonies["accepted"]]
    assert len(rejected) > 0  # the artefacts were seen and rejected


def test_abortive_colonies_rejected_by_min_area(dish_plate, dish_result):
    ab = dish_plate.truth[dish_plate.truth["kind"] == "abortive"]
    acc = dish_result.colonies[dish_result.colonies["accepted"]]
    hits = 0
    for t in ab.itertuples():
        if (np.hypot(acc["x"] - t.x, acc["y"] - t.y) < 3).any():
            hits += 1
    assert hits <= 0.1 * len(ab)


def test_larger_min_area_counts_fewer(dish_plate, dish_result):
    big = count_colonies(dish_plate.image, "dish", min_area_um2=2_500_000)
    assert big.total < dish_result.total
    px = count_colonies(dish_plate.image, "dish", min_area_px=dish_result.min_area_px)
    assert px.total == dish_result.total


def test_grey_image_counts_too():
    p = make_plate("dish", 60, seed=2, grey=True)
    res = count_colonies(p.image[..., 0], "dish")  # 2-D array
    assert abs(res.total - 60) <= 0.1 * 60


def test_wrong_layout_is_an_error(dish_plate):
    with pytest.raises(InputError, match="wells"):
        count_colonies(dish_plate.image, "6-well")
    plate = make_plate("6-well", 5, seed=0)
    with pytest.raises(InputError, match="6-well"):
        count_colonies(plate.image, "dish")
    with pytest.raises(InputError):
        count_colonies(dish_plate.image, "384-well")


def test_bad_images(tmp_path, dish_file):
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(dish_file.read_bytes()[:4000])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for path, msg in ((trunc, "truncated"), (text, "not an image"), (empty, "empty"),
                      (tmp_path / "missing.png", "not found")):
        with pytest.raises(InputError, match=msg) as info:
            load_image(path)
        assert info.value.file == str(path)
    with pytest.raises(InputError, match="blank"):
        check_image(np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(InputError, match="small"):
        check_image(np.zeros((10, 10), np.uint8))
    assert load_image(dish_file).shape[2] == 3


def test_corrections_remove_and_add(dish_result):
    acc = dish_result.colonies[dish_result.colonies["accepted"]]
    target = acc.iloc[0]
    removed = apply_corrections(dish_result, [Correction("remove", target.x, target.y)])
    assert removed.total == dish_result.total - 1
    w = dish_result.wells.iloc[0]
    # a point inside the dish with nothing segmented under it
    ys, xs = np.nonzero(dish_result.labels == 0)
    inside = np.hypot(xs - w.cx, ys - w.cy) < 0.5 * w.radius_px
    x, y = float(xs[inside][0]), float(ys[inside][0])
    added = apply_corrections(removed, [Correction("add", x, y)])
    assert added.total == dish_result.total
    assert (added.colonies["source"] == "manual").sum() == 1
    # a removal far from every colony changes nothing
    same = apply_corrections(dish_result, [Correction("remove", 1.0, 1.0)])
    assert same.total == dish_result.total
    with pytest.raises(InputError, match="outside"):
        apply_corrections(dish_result, [Correction("add", 1.0, 1.0)])


def test_sidecar_corrections_reapplied(dish_file, dish_result):
    acc = dish_result.colonies[dish_result.colonies["accepted"]]
    corr = [Correction("remove", acc.iloc[0].x, acc.iloc[0].y),
            Correction("remove", acc.iloc[1].x, acc.iloc[1].y)]
    side = sidecar_path(dish_file)
    save_corrections(side, corr, image_sha="0" * 64)
    assert load_corrections(side) == corr
    with pytest.raises(InputError, match="different version"):
        count_image_file(dish_file, "dish")  # stored for another image
    save_corrections(side, corr, image_sha=image_sha256(dish_file))
    _img, res = count_image_file(dish_file, "dish")
    assert res.total == dish_result.total - 2
    _img, raw = count_image_file(dish_file, "dish", use_sidecar=False)
    assert raw.total == dish_result.total
    side.write_text('{"corrections": [{"action": "grow", "x": 1, "y": 2}]}')
    with pytest.raises(InputError, match="action"):
        load_corrections(side)


def test_overlay_marks_colonies(tmp_path, dish_plate, dish_result):
    out = render_overlay(dish_plate.image, dish_result)
    assert out.shape == dish_plate.image.shape
    green = (out[..., 0] == 0) & (out[..., 1] == 200) & (out[..., 2] == 0)
    red = (out[..., 0] == 230) & (out[..., 1] == 0) & (out[..., 2] == 0)
    assert green.sum() > 10 * dish_result.total
    assert red.any()  # rejected objects are drawn differently
    path = save_overlay(tmp_path / "qc.png", dish_plate.image, dish_result)
    assert load_image(path).shape == dish_plate.image.shape


def test_to_dict_shape(dish_result):
    d = dish_result.to_dict()
    assert d["colonies"] == dish_result.total
    assert d["wells"] == [{"well": "dish", "colonies": dish_result.total}]


def test_sixteen_bit_tiff_is_read(tmp_path, dish_plate, dish_result):
    """A 16-bit grey TIFF scan is scaled to 8 bits and counted like the original."""
    grey16 = (cv2.cvtColor(dish_plate.image, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    path = tmp_path / "scan.tif"
    assert cv2.imwrite(str(path), grey16)
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == dish_plate.image.shape
    res = count_colonies(img, "dish")
    assert abs(res.total - dish_result.total) <= 0.1 * dish_result.total


@pytest.mark.parametrize("gap", [0.80, 0.90, 0.97])
@pytest.mark.parametrize("h", [0.5, 2.0, 6.0])
def test_dynamics_markers_match_h_maxima(gap, h):
    """The basin merging by dynamics keeps as many pieces as scikit-image's
    h-maxima has markers (two overlapping discs, neck depth vs h)."""
    from scipy import ndimage as ndi
    from skimage import morphology, segmentation

    from decidua.assays.clonogenicity.count import _merge_shallow_basins

    yy, xx = np.mgrid[0:90, 0:140]
    r1, r2 = 30.0, 20.0
    x2 = 40 + gap * (r1 + r2)
    m = ((xx - 40) ** 2 + (yy - 45) ** 2 <= r1**2) | ((xx - x2) ** 2 + (yy - 45) ** 2 <= r2**2)
    d = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
    d = cv2.GaussianBlur(d, (0, 0), 1.0) * m
    peaks = (d >= ndi.maximum_filter(d, size=3)) & m
    markers, _k = ndi.label(peaks, structure=np.ones((3, 3), bool))
    ws = _merge_shallow_basins(d, segmentation.watershed(-d, markers, mask=m), h)
    _lab, n_ref = ndi.label(morphology.h_maxima(d.astype(np.float64), h) & m,
                            structure=np.ones((3, 3), bool))
    assert int(ws.max()) == n_ref
    assert set(np.unique(ws[m])) == set(range(1, n_ref + 1))


def test_pen_writing_is_rejected_as_writing():
    """Synthetic pen strokes across a dish (generator truth: never counted) are
    reported as "writing" and the colonies are still counted within 5 %."""
    plate = make_plate("dish", 60, seed=4, n_writing=3)
    res = count_colonies(plate.image, "dish")
    rep = res.report()
    assert rep["wells"][0]["rejected"]["writing"] >= 2
    assert abs(res.total - 60) <= 3, res.total


def test_glare_and_lid_do_not_change_the_count():
    plate = make_plate("dish", 60, seed=4, glare=0.3, lid=True)
    assert abs(count_colonies(plate.image, "dish").total - 60) <= 3


def test_overlay_legend(dish_plate, dish_result):
    """The CLI's overlay has a legend box in the top-left corner; the plain
    overlay does not."""
    plain = render_overlay(dish_plate.image, dish_result)
    with_legend = render_overlay(dish_plate.image, dish_result, legend=True)
    box = (slice(0, 60), slice(0, 200))
    assert (plain[box] != with_legend[box]).any()
    assert (plain[300:, 300:] == with_legend[300:, 300:]).all()


def test_cluster_density_dish():
    """Clusters with known truth: a dish where 60 % of the 200 colonies are
    placed against an earlier one (chains and clumps of 3+; generator
    ``touching_fraction``). Counted within 10 %, and the QC reports the
    clusters the size prior cut (measured 2026-12-02: 207 of 200, 10 objects
    cut into 26 pieces; 191 without the size prior)."""
    plate = make_plate("dish", 200, seed=0, touching_fraction=0.6)
    truth = sum(plate.counts().values())
    assert plate.truth["touching"].sum() >= 0.4 * truth
    res = count_colonies(plate.image, "dish")
    assert abs(res.total - truth) <= 0.10 * truth, (res.total, truth)
    prior = res.report()["wells"][0]["split"]["size_prior"]
    assert prior["objects"] >= 3 and prior["pieces"] >= 2 * prior["objects"]
