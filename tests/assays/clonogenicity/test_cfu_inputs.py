"""Every `cfu count` input case ends in a count or in exit 1 naming the file and
the problem, never a traceback (issue 14, item 5); the JSON QC shape (item 4).

Images are synthetic (documented generator with known truth,
:func:`decidua.assays.clonogenicity.synthetic.make_plate`) or built here
(blank, random noise, huge, multi-page, NaN pixels).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from decidua.assays.clonogenicity.counting import count_colonies
from decidua.assays.clonogenicity.image import check_image, load_image
from decidua.assays.clonogenicity.synthetic import make_plate
from decidua.cli import app
from decidua.errors import InputError

runner = CliRunner()


def _write(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


@pytest.fixture(scope="module")
def small_plate():
    return make_plate("dish", 25, seed=3, px_per_mm=14)


def _fails_cleanly(args, needle, file=None):
    res = runner.invoke(app, args)
    assert res.exit_code == 1, (args, res.output)
    assert "Traceback" not in res.output
    assert needle in res.output, res.output
    if file is not None:
        assert str(file) in res.output, res.output


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 10_000)).save(path)  # 120 MP, tiny file
    _fails_cleanly(["cfu", "count", str(path)], "too large", path)


def test_nan_pixels_are_refused(tmp_path):
    a = np.random.default_rng(0).uniform(0, 1, (120, 120)).astype(np.float32)
    a[5, 7] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(a, mode="F").save(path)
    _fails_cleanly(["cfu", "count", str(path)], "NaN", path)
    with pytest.raises(InputError, match="NaN"):
        check_image(np.where(np.eye(100) > 0, np.nan, 1.0))


def test_multi_page_tiff_is_refused(tmp_path, small_plate):
    path = tmp_path / "pages.tif"
    page = Image.fromarray(small_plate.image)
    page.save(path, save_all=True, append_images=[page])
    _fails_cleanly(["cfu", "count", str(path)], "2 pages", path)


@pytest.mark.parametrize("args,needle", [
    (["--min-area", "1e400"], "finite"),
    (["--min-area", "1e12um2"], "quarter of the well"),
    (["--min-area", "0.0000001um2"], "at least 3 px"),
    (["--well-diameter-mm", "0"], "between"),
    (["--well-diameter-mm", "-35"], "between"),
    (["--well-diameter-mm", "nan"], "finite"),
    (["--well-diameter-mm", "1e9"], "between"),
    (["--polarity", "sideways"], "polarity"),
])
def test_bad_settings_exit_1(tmp_path, small_plate, args, needle):
    path = _write(tmp_path / "dish.png", small_plate.image)
    _fails_cleanly(["cfu", "count", str(path), *args], needle)


def test_pale_colonies_on_dark_background(tmp_path):
    """The inverted synthetic dish (pale colonies on a dark background; formerly
    `KeyError: 'well'`) is counted as light polarity, within 5 % of the truth."""
    plate = make_plate("dish", 60, seed=5)
    path = _write(tmp_path / "pale.png", 255 - plate.image)
    res = runner.invoke(app, ["cfu", "count", str(path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["wells"][0]["polarity"] == "light"
    assert abs(doc["colonies"] - 60) <= 3, doc["colonies"]
    # forced dark polarity finds (almost) nothing but still answers
    res = runner.invoke(app, ["cfu", "count", str(path), "--json", "--polarity", "dark"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["colonies"] < 10


def test_json_qc_shape(tmp_path, small_plate):
    one = _write(tmp_path / "one.png", small_plate.image)
    two = _write(tmp_path / "two.png", small_plate.image)
    res = runner.invoke(app, ["cfu", "count", str(one), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {"image", "colonies", "wells"} <= set(doc)
    assert isinstance(doc["colonies"], int) and abs(doc["colonies"] - 25) <= 3  # small image
    w = doc["wells"][0]
    assert w["well"] == "dish" and w["colonies"] == doc["colonies"] and w["countable"]
    assert set(w["rejected"]) >= {"small", "debris", "bubble", "writing", "edge"}
    assert sum(w["rejected"].values()) > 0  # the generator draws dust and bubbles
    assert w["polarity"] == "dark"
    s = doc["settings"]
    assert s["min_area"] == {"value": 0.1, "unit": "mm2"} and s["min_cells"] == 50
    assert s["well_diameter_mm"] == 35.0 and s["well_diameter_assumed"] is True
    assert s["polarity"] == "auto"
    assert 0.9 <= doc["confidence"] <= 1.0 and doc["flags"] == []
    res = runner.invoke(app, ["cfu", "count", str(one), str(two), "--json",
                              "--well-diameter-mm", "35"])
    docs = json.loads(res.stdout)
    assert isinstance(docs, list) and [d["image"] for d in docs] == [str(one), str(two)]
    assert docs[0]["settings"]["well_diameter_assumed"] is False


def test_flags_lower_the_confidence(tmp_path):
    """A colony-free dish is low contrast; a dish cut by the frame is flagged not
    fully visible; both have a lower confidence than a clean plate."""
    empty = make_plate("dish", 0, seed=1, px_per_mm=14, n_dust=0, n_bubbles=0, n_fibres=0)
    rep = count_colonies(empty.image, "dish").report()
    assert rep["colonies"] == 0 and "low_contrast" in rep["flags"]
    assert rep["confidence"] <= 0.5
    plate = make_plate("dish", 25, seed=3, px_per_mm=14)
    r = plate.wells["radius_px"].iloc[0]
    cut = plate.image[int(0.16 * r):]  # a cap of the dish is outside the picture
    rep = count_colonies(cut, "dish").report()
    assert "not_fully_visible" in rep["wells"][0]["flags"], rep
    assert rep["wells"][0]["countable"] and rep["confidence"] < 1.0


def test_partly_visible_plate_wells_are_not_countable(small_plate):
    """A plate well half outside the picture is reported, not counted."""
    plate = make_plate("6-well", [5, 5, 5, 5, 5, 5], seed=2, px_per_mm=10)
    wells = plate.wells.copy()
    h, w = plate.image.shape[:2]
    wells.loc[0, "cx"] = -0.5 * wells.loc[0, "radius_px"] + 1  # A1 mostly outside
    rep = count_colonies(plate.image, "6-well", wells=wells).report()
    a1 = rep["wells"][0]
    assert a1["countable"] is False and a1["colonies"] is None and a1["confidence"] == 0.0
    assert rep["colonies"] == sum(x["colonies"] for x in rep["wells"][1:])
    del h, w


def test_huge_image_is_counted_at_working_resolution():
    """A 36 MP picture of a dish is counted on a downsampled copy (same count as
    the small original; the result is in the big image's pixels)."""
    plate = make_plate("dish", 40, seed=0, px_per_mm=12)
    big = cv2.resize(plate.image, (6000, 6000), interpolation=cv2.INTER_LINEAR)
    res = count_colonies(big, "dish")
    assert res.params["working_scale"] > 2
    assert res.total == count_colonies(plate.image, "dish").total == 40
    assert res.labels.shape == (6000, 6000)
    acc = res.colonies[res.colonies["accepted"]]
    assert acc["x"].max() > 3000 and res.um_per_px < 10


def test_min_area_one_pixel_is_refused(small_plate):
    with pytest.raises(InputError, match="at least 3 px"):
        count_colonies(small_plate.image, "dish", min_area_px=1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["noise", "blank", "empty_dish", "gradient"]),
    side=st.integers(64, 400),
    seed=st.integers(0, 2**16),
    layout=st.sampled_from(["dish", "6-well", "flask"]),
    roi=st.sampled_from([None, "polygon", "mask", "outside"]),
)
def test_any_image_gives_a_count_or_an_input_error(kind, side, seed, layout, roi):
    """Random, blank and colony-free images, any layout (flasks too), with or
    without a drawn region (also one outside the picture): a CountResult with
    sane QC or an InputError, never another exception."""
    rng = np.random.default_rng(seed)
    if kind == "noise":
        img = rng.integers(0, 256, (side, int(side * 1.3), 3), dtype=np.uint8)
    elif kind == "blank":
        img = np.full((side, side, 3), rng.integers(0, 256), np.uint8)
    elif kind == "gradient":
        img = np.repeat(np.linspace(0, 255, side, dtype=np.uint8)[None, :, None], side, 0)
        img = np.repeat(img, 3, 2)
    else:
        img = make_plate("dish", 0, seed=seed, px_per_mm=side / 39).image
    h, w = img.shape[:2]
    region = {None: None,
              "polygon": rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * [w, h],
              "mask": rng.random((h, w)) < 0.5,
              "outside": np.array([[w + 5.0, h + 5], [w + 50, h + 5], [w + 50, h + 50]])}[roi]
    try:
        res = count_colonies(img, layout, roi=region)
    except InputError as exc:
        assert str(exc)
        return
    rep = res.report()
    assert isinstance(rep["colonies"], int) and rep["colonies"] >= 0
    assert 0.0 <= rep["confidence"] <= 1.0
    assert all(0.0 <= w["confidence"] <= 1.0 for w in rep["wells"])


def test_loaded_float_image_with_negative_values(tmp_path):
    """A float TIFF with negative values is shifted, not wrapped."""
    a = np.linspace(-1, 1, 100 * 100, dtype=np.float32).reshape(100, 100)
    path = tmp_path / "f.tif"
    Image.fromarray(a, mode="F").save(path)
    img = load_image(path)
    assert img[0, 0, 0] == 0 and img[-1, -1, 0] == 255


def test_split_touching_colonies_are_reported():
    """The per-well QC says how many touching objects the watershed cut and into
    how many pieces; a dense synthetic dish (generator: a quarter of colonies
    placed touching) has some, a dish of isolated colonies none."""
    dense = make_plate("dish", 150, seed=1, touching_fraction=0.5)
    split = count_colonies(dense.image, "dish").report()["wells"][0]["split"]
    assert split["objects"] >= 5 and split["pieces"] >= 2 * split["objects"]
    sparse = make_plate("dish", 8, seed=1, touching_fraction=0.0, n_bubbles=0, n_fibres=0)
    few = count_colonies(sparse.image, "dish").report()["wells"][0]["split"]["objects"]
    assert few <= 2 and few < split["objects"]  # (the wall's shadow can be cut too)
