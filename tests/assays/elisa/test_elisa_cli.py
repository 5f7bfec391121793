"""`decidua elisa fit` end to end: real Gen5 export, synthetic grid + map plates, bad inputs.

Synthetic plates: a 4PL with known truth (a 0.05, b 1.2, c 150, d 3.2), 8
standards 0-1000 in duplicate (columns 1-2), samples at known
concentrations and dilutions in duplicate, written as a plain 8 x 12 CSV grid
with a plate-map CSV.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from decidua.assays.elisa import models
from decidua.cli import app

runner = CliRunner()
TRUTH = (0.05, 1.2, 150.0, 3.2)
LEVELS = [0, 7.8, 15.6, 31.25, 62.5, 125, 250, 500]
SAMPLES = {"s1": (40.0, 1.0), "s2": (900.0, 10.0), "s3": (200.0, 2.0)}


def write_plate(tmp: Path, od_edit=None, map_edit=None, levels=LEVELS):  # type: ignore[no-untyped-def]
    grid = np.full((8, 12), "", dtype=object)
    rows = ["well,role,concentration,dilution,sample"]
    for r, conc in enumerate(levels):
        for c in range(2):
            grid[r, c] = f"{models.logistic4(np.array([conc]), *TRUTH)[0]:.6f}"
            rows.append(f"{'ABCDEFGH'[r]}{c + 1},standard,{conc},,std{r}")
    for k, (name, (conc, dil)) in enumerate(SAMPLES.items()):
        for c in (2, 3):
            grid[k, c] = f"{models.logistic4(np.array([conc / dil]), *TRUTH)[0]:.6f}"
            rows.append(f"{'ABCDEFGH'[k]}{c + 1},sample,,{dil},{name}")
    if od_edit:
        for (r, c), v in od_edit.items():
            grid[r, c] = v
    if map_edit:
        rows = map_edit(rows)
    g = tmp / "plate1.csv"
    g.write_text("," + ",".join(map(str, range(1, 13))) + "\n" + "\n".join(
        "ABCDEFGH"[r] + "," + ",".join(grid[r]) for r in range(8)) + "\n")
    m = tmp / "map.csv"
    m.write_text("\n".join(rows) + "\n")
    return g, m


def test_fit_json_shape_and_values(tmp_path):  # type: ignore[no-untyped-def]
    g, m = write_plate(tmp_path)
    res = runner.invoke(app, ["elisa", "fit", str(g), "--map", str(m), "--json",
                              "--analyte", "PRL"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (p,) = doc["plates"]
    assert p["plate"] == "plate1" and p["analyte"] == "PRL" and p["model"] == "4pl"
    assert set(p["params"]) == {"a", "b", "c", "d"}
    np.testing.assert_allclose([p["params"][k] for k in "abcd"], TRUTH, rtol=1e-4)
    assert p["r2"] > 0.9999 and p["lloq"] == 7.8 and p["uloq"] == 500
    w = p["wells"][0]
    assert set(w) >= {"well", "group", "sample", "od", "concentration", "flag"}
    by = {s["sample"]: s for s in p["samples"]}
    assert by["s1"]["mean_concentration"] == pytest.approx(40.0, rel=1e-4)
    assert by["s3"]["mean_concentration"] == pytest.approx(200.0, rel=1e-4)
    assert by["s3"]["dilution"] == 2.0
    # 900 / 10 = 90 in the well: inside the range
    assert by["s2"]["mean_concentration"] == pytest.approx(900.0, rel=1e-4)
    assert by["s1"]["flag"] is None and set(by["s1"]) >= {"sample", "mean_concentration",
                                                           "cv_pct", "flag"}


@pytest.mark.parametrize("model,weights", [("5pl", "none"), ("4pl", "1/y2"), ("4pl", "1/var"),
                                           ("4pl", "power")])
def test_fit_options(tmp_path, model, weights):  # type: ignore[no-untyped-def]
    g, m = write_plate(tmp_path)
    res = runner.invoke(app, ["elisa", "fit", str(g), "--map", str(m), "--model", model,
                              "--weights", weights, "--json"])
    # (1/var: noise-free duplicates have zero variance; floored, the fit still runs)
    assert res.exit_code == 0, res.output
    p = json.loads(res.stdout)["plates"][0]
    assert ("g" in p["params"]) == (model == "5pl")


def test_plot_dir(tmp_path):  # type: ignore[no-untyped-def]
    g, m = write_plate(tmp_path)
    res = runner.invoke(app, ["elisa", "fit", str(g), "--map", str(m), "--json",
                              "--plot-dir", str(tmp_path / "qc")])
    assert res.exit_code == 0, res.output
    png = Path(json.loads(res.stdout)["plates"][0]["plot"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_real_gen5_file_text_output(elisa_data):  # type: ignore[no-untyped-def]
    res = runner.invoke(app, ["elisa", "fit", str(elisa_data / "gen5_fluorescamine_4pl.txt")])
    assert res.exit_code == 0, res.output
    assert "SPL1" in res.stdout and "LLOQ 50" in res.stdout


def _shift(rows, well, new):  # type: ignore[no-untyped-def]
    return [r.replace(well + ",", new + ",", 1) if r.startswith(well + ",") else r for r in rows]


BAD = {
    "non-numeric OD": (dict(od_edit={(2, 3): "OVRFLW"}), r"plate 'plate1', well C4, field 'od'"),
    "missing standards": (
        dict(map_edit=lambda rows: [r for r in rows if ",standard," not in r]),
        r"plate 'plate1', field 'role': no standard wells",
    ),
    "non-monotone": (
        dict(od_edit={(5, 0): "0.01", (5, 1): "0.01"}),
        r"plate 'plate1', well F1,F2, field 'od': standard response is not monotone",
    ),
    "fewer than 5 levels": (
        dict(levels=LEVELS[:4]), r"plate 'plate1', field 'concentration': a 4PL needs at least 5",
    ),
    "all standards one OD": (
        dict(od_edit={(r, c): "0.5" for r in range(8) for c in range(2)}),
        r"plate 'plate1', field 'od': all standards have the same OD",
    ),
    "map well not on plate": (
        dict(map_edit=lambda rows: [*rows, "I13,sample,,,x"]),
        r"plate 'plate1', well I13, field 'well': the plate map names a well that is not on",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exit_1_naming_plate_well_field(tmp_path, case):  # type: ignore[no-untyped-def]
    kwargs, pattern = BAD[case]
    g, m = write_plate(tmp_path, **kwargs)
    res = runner.invoke(app, ["elisa", "fit", str(g), "--map", str(m), "--json"])
    assert res.exit_code == 1, res.output
    assert re.search(pattern, res.output.replace("\n", " ")), res.output
    assert "Traceback" not in res.output


def test_map_well_beyond_96_is_named(tmp_path):  # type: ignore[no-untyped-def]
    g, m = write_plate(tmp_path, map_edit=lambda rows: [*rows, "H13,sample,,,x"])
    res = runner.invoke(app, ["elisa", "fit", str(g), "--map", str(m)])
    assert res.exit_code == 1
    assert "plate 'plate1', well H13, field 'well'" in res.output
    assert "not on the plate" in res.output


def test_bad_option_and_no_plateau(elisa_data):  # type: ignore[no-untyped-def]
    res = runner.invoke(app, ["elisa", "fit", str(elisa_data / "gen5_fluorescamine_4pl.txt"),
                              "--weights", "1/x"])
    assert res.exit_code == 1 and "--weights must be one of" in res.output
    res = runner.invoke(app, ["elisa", "fit",
                              str(elisa_data / "softmax_absorbance_endpoint_example01.txt")])
    assert res.exit_code == 1 and "plate 'Plate01'" in res.output
    assert "Traceback" not in res.output
