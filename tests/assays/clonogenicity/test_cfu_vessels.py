"""Vessels as they are photographed (issue 14, item 1): partly cropped plates,
plates photographed at an angle, flasks, user-drawn regions.

Truth comes from the documented synthetic generator
(:func:`decidua.assays.clonogenicity.synthetic.make_plate`): well positions
and every colony are known.
"""

from __future__ import annotations

import json

import cv2
import pytest
from typer.testing import CliRunner

from decidua.assays.clonogenicity.counting import count_colonies
from decidua.assays.clonogenicity.synthetic import make_plate
from decidua.cli import app

runner = CliRunner()

#: Colonies per well, all different, so that a wrongly named well shows.
SIX = [6, 9, 12, 15, 18, 21]


@pytest.fixture(scope="module")
def six_well():
    return make_plate("6-well", SIX, seed=4)


def _fully_inside(plate, x0, y0, x1, y1):
    w = plate.wells
    return {
        str(r.well)
        for r in w.itertuples()
        if r.cx - r.radius_px >= x0
        and r.cx + r.radius_px <= x1
        and r.cy - r.radius_px >= y0
        and r.cy + r.radius_px <= y1
    }


@pytest.mark.parametrize("crop", ["right 30 %", "left 25 %", "bottom 35 %", "corner"])
def test_partly_cropped_plate_counts_the_whole_wells(six_well, crop):
    """Wells cut by the frame are reported not countable; the whole ones are
    found where they are, named right and counted (total within 10 %)."""
    h, w = six_well.image.shape[:2]
    x0, y0, x1, y1 = {
        "right 30 %": (0, 0, int(0.7 * w), h),
        "left 25 %": (int(0.25 * w), 0, w, h),
        "bottom 35 %": (0, 0, w, int(0.65 * h)),
        "corner": (int(0.2 * w), 0, w, int(0.7 * h)),
    }[crop]
    res = count_colonies(six_well.image[y0:y1, x0:x1], "6-well")
    rep = res.report()
    whole = _fully_inside(six_well, x0, y0, x1, y1)
    countable = {r["well"] for r in rep["wells"] if r["countable"]}
    assert countable == whole and whole
    truth = six_well.wells.set_index("well")
    got = res.wells.set_index("well")
    for name in whole:
        assert (
            abs(got.loc[name, "cx"] + x0 - truth.loc[name, "cx"])
            < 0.05 * truth.loc[name, "radius_px"]
        )
        assert (
            abs(got.loc[name, "cy"] + y0 - truth.loc[name, "cy"])
            < 0.05 * truth.loc[name, "radius_px"]
        )
    for r in rep["wells"]:
        if r["well"] not in whole:
            assert r["colonies"] is None and "not_fully_visible" in r["flags"]
    n_true = sum(six_well.counts()[k] for k in whole)
    assert rep["colonies"] == sum(r["colonies"] for r in rep["wells"] if r["countable"])
    assert abs(rep["colonies"] - n_true) <= 0.1 * n_true, (rep["colonies"], n_true)


def test_cropped_plate_on_the_command_line(tmp_path, six_well):
    """Formerly 'found 4 of 6 wells' and exit 1; now a count with the cut wells
    flagged, in the JSON shape of docs/cfu.md."""
    h, w = six_well.image.shape[:2]
    path = tmp_path / "cropped.png"
    cv2.imwrite(str(path), six_well.image[:, : int(0.7 * w), ::-1])
    res = runner.invoke(app, ["cfu", "count", str(path), "--layout", "6-well", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) >= {"image", "colonies", "wells"}
    assert [r["well"] for r in doc["wells"] if not r["countable"]] == ["A3", "B3"]
    assert isinstance(doc["colonies"], int)
