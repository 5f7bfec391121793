"""`cfu count|correct` input cases found by trying the commands as a lab user would
(issue 14, items 4-5): phone JPEGs with an EXIF orientation, unusable output folders,
non-finite correction coordinates, several images with the same file name.

Plates are synthetic (documented generator with known truth,
:func:`decidua.assays.clonogenicity.synthetic.make_plate`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from decidua.assays.clonogenicity.counting import count_image_file
from decidua.assays.clonogenicity.image import load_image
from decidua.assays.clonogenicity.synthetic import make_plate
from decidua.cli import app

runner = CliRunner()

#: EXIF tag 0x0112 (Orientation) -> np.rot90 turns (counter-clockwise) that store the
#: displayed picture as the camera's raw pixels: the viewer turns them back.
_RAW_TURNS = {3: 2, 6: 1, 8: -1}


def _save_with_orientation(path, displayed: np.ndarray, orientation: int) -> None:
    raw = Image.fromarray(np.ascontiguousarray(np.rot90(displayed, _RAW_TURNS[orientation])))
    exif = raw.getexif()
    exif[0x0112] = orientation
    raw.save(path, exif=exif, quality=95)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_gives_the_displayed_picture(tmp_path, orientation):
    yy, xx = np.mgrid[:90, :140]
    displayed = np.dstack([xx * 255 // 139, yy * 255 // 89, np.full_like(xx, 128)])
    displayed = displayed.astype(np.uint8)
    path = tmp_path / f"phone{orientation}.jpg"
    _save_with_orientation(path, displayed, orientation)
    with Image.open(path) as im:  # what an image viewer shows (Pillow's own transpose)
        shown = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = load_image(path)
    assert got.shape == displayed.shape
    assert np.abs(got.astype(int) - shown.astype(int)).max() == 0
    assert np.abs(got.astype(int) - displayed.astype(int)).mean() < 3


def test_exif_rotated_phone_photo_names_wells_as_displayed(tmp_path):
    counts = [2, 5, 9, 14, 20, 27]
    plate = make_plate("6-well", counts, seed=5, jpeg_quality=None)
    path = tmp_path / "plate.jpg"
    _save_with_orientation(path, plate.image, 3)  # phone held upside down
    _img, res = count_image_file(path, "6-well")
    got = {w["well"]: w["colonies"] for w in res.report()["wells"]}
    truth = plate.counts()
    assert got["A1"] <= 4 and got["B3"] >= 22, (got, truth)
    assert sum(abs(got[w] - truth[w]) for w in truth) <= 6, (got, truth)


@pytest.mark.parametrize("point", ["nan,nan", "inf,5", "5,-inf", "1e400,3"])
def test_correct_refuses_non_finite_coordinates(tmp_path, point):
    path = tmp_path / "dish.png"
    Image.fromarray(make_plate("dish", 5, seed=1, px_per_mm=10).image).save(path)
    res = runner.invoke(app, ["cfu", "correct", str(path), "--add", point, "--json"])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "finite" in res.output, res.output
    assert not (tmp_path / "dish.png.cfu.json").exists()
    # the image still counts, and later corrections still work
    res = runner.invoke(app, ["cfu", "correct", str(path), "--add", "10,10", "--json"])
    assert res.exit_code == 0, res.output
    json.loads(res.stdout)


@pytest.fixture(scope="module")
def dish_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("dish") / "dish.png"
    Image.fromarray(make_plate("dish", 6, seed=2, px_per_mm=10).image).save(path)
    return path


@pytest.mark.parametrize("option", ["--overlay-dir", "--table-dir"])
def test_unusable_output_folder_is_one_line_error(tmp_path, dish_png, option):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = runner.invoke(app, ["cfu", "count", str(dish_png), option, str(blocker / "a" / "b")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert str(blocker / "a" / "b") in res.output, res.output
    # the output file's name taken by a folder
    out = tmp_path / "out"
    (out / "dish.colonies.csv").mkdir(parents=True)
    (out / "dish.cfu.png").mkdir(parents=True)
    res = runner.invoke(app, ["cfu", "count", str(dish_png), option, str(out)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), repr(res.exception)
    assert "dish." in res.output, res.output


def test_images_with_the_same_name_keep_their_own_overlay_and_table(tmp_path, dish_png):
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    first, second = tmp_path / "day1" / "plate.png", tmp_path / "day2" / "plate.png"
    first.write_bytes(dish_png.read_bytes())
    Image.fromarray(make_plate("dish", 15, seed=4, px_per_mm=10).image).save(second)
    res = runner.invoke(app, ["cfu", "count", str(first), str(second), "--overlay-dir",
                              str(tmp_path / "qc"), "--table-dir", str(tmp_path / "tab"),
                              "--json"])
    assert res.exit_code == 0, res.output
    docs = json.loads(res.stdout)
    overlays = [d["overlay"] for d in docs]
    tables = [d["table"] for d in docs]
    assert len(set(overlays)) == 2 and len(set(tables)) == 2, (overlays, tables)
    n_rows = [len(Path(t).read_text().splitlines()) - 1 for t in tables]
    for d, n in zip(docs, n_rows, strict=True):
        assert n >= d["colonies"]  # each table is its own image's
    assert docs[0]["colonies"] != docs[1]["colonies"] and n_rows[0] != n_rows[1]
