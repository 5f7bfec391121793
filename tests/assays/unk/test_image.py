"""uNK from CD56 images: colour deconvolution, nucleus counts, overlay, CLI errors.

Checks:
- deconvolution recovers known haematoxylin / DAB amounts from images built here
  by Beer-Lambert with the Ruifrok-Johnston vectors as printed in the paper
  (Anal Quant Cytol Histol 2001;23:291): exactly on a float image, to the 8-bit
  quantisation on a uint8 one; scikit-image's own matrix is the paper's rounded;
- counts on the documented synthetic field generator
  (:mod:`decidua.assays.unk.synthetic`, known truth): 30 fields;
- the CLI refuses a file that is not an image, negative counts and CD56+ above
  the total with exit 1 naming file, row and column.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from decidua.assays.unk.image import (
    RUIFROK_DAB,
    RUIFROK_E,
    RUIFROK_H,
    count_field,
    deconvolve,
    render_overlay,
)
from decidua.assays.unk.synthetic import make_field
from decidua.cli import app

runner = CliRunner()


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def test_skimage_matrix_is_ruifrok_johnston_rounded():
    from skimage.color import rgb_from_hed

    for row, paper in zip(rgb_from_hed, (RUIFROK_H, RUIFROK_E, RUIFROK_DAB), strict=True):
        # scikit-image rounds the paper's vectors to two decimals
        assert np.allclose(_unit(row), _unit(paper), atol=5e-3)


def test_deconvolution_recovers_known_amounts():
    rng = np.random.default_rng(7)
    h = rng.uniform(0, 1.0, (64, 64))
    d = rng.uniform(0, 1.0, (64, 64))
    od = h[..., None] * _unit(RUIFROK_H) + d[..., None] * _unit(RUIFROK_DAB)
    rgb = 10.0 ** -od  # float image, no quantisation
    st = deconvolve(rgb)
    assert np.max(np.abs(st.haematoxylin - h)) < 1e-9
    assert np.max(np.abs(st.dab - d)) < 1e-9
    assert np.max(np.abs(st.eosin)) < 1e-9
    # 8-bit image: quantisation costs at most ~0.02 OD at OD <= 1
    rgb8 = np.clip(np.rint(255 * rgb), 0, 255).astype(np.uint8)
    st8 = deconvolve(rgb8)
    assert np.median(np.abs(st8.dab - d)) < 0.01
    assert np.percentile(np.abs(st8.haematoxylin - h), 99) < 0.05


def test_counts_on_synthetic_fields():
    rng = np.random.default_rng(0)
    err_total, err_pos, err_pct = [], [], []
    for s in range(30):
        n_str, n_unk = int(rng.integers(60, 140)), int(rng.integers(0, 16))
        f = make_field(n_str, n_unk, seed=100 + s)
        r = count_field(f.image)
        truth = f.n_stromal + f.n_cd56
        err_total.append(abs(r.total - truth) / truth)
        err_pos.append(abs(r.cd56_positive - f.n_cd56))
        err_pct.append(abs(r.unk_pct - 100 * f.n_cd56 / truth))
    # measured (seeds 100-129): median |total error| 0.74 % (worst 2.9 %), CD56+ exact in
    # all 30 fields, median |uNK % error| 0.03 percentage points (worst 0.35)
    assert np.median(err_total) <= 0.02
    assert np.median(err_pos) == 0
    assert np.median(err_pct) <= 0.3
    assert max(err_total) <= 0.08


def test_field_without_cd56_counts_none_and_overlay_marks_positives():
    f = make_field(50, 0, seed=1)
    r = count_field(f.image)
    assert r.cd56_positive == 0 and r.total >= 45
    f = make_field(40, 6, seed=2)
    r = count_field(f.image)
    ov = render_overlay(f.image, r)
    assert ov.shape == f.image.shape
    red = (ov[..., 0] == 230) & (ov[..., 1] == 0)
    green = (ov[..., 1] == 190) & (ov[..., 0] == 0)
    assert red.any() and green.any()


def test_bad_parameters_refused():
    from decidua.errors import InputError

    with pytest.raises(InputError, match="nucleus_diameter_px"):
        count_field(make_field(5, 1, seed=0).image, nucleus_diameter_px=0)


def test_cli_count_json_and_overlay(tmp_path: Path):
    paths = []
    for s in range(2):
        p = tmp_path / f"f{s}.png"
        Image.fromarray(make_field(70, 7, seed=s).image).save(p)
        paths.append(str(p))
    r = runner.invoke(app, ["unk", "count", *paths, "--biopsy", "B1", "--overlay-dir",
                            str(tmp_path / "qc"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["protocol"] == "image" and len(doc["fields"]) == 2
    assert all(Path(f["overlay"]).is_file() for f in doc["fields"])
    assert doc["pooled"]["n_fields"] == 2
    assert doc["pooled"]["cd56_positive"] == sum(f["cd56_positive"] for f in doc["fields"])


def test_cli_refuses_a_file_that_is_not_an_image(tmp_path: Path):
    p = tmp_path / "notes.png"
    p.write_text("this is not a picture")
    r = runner.invoke(app, ["unk", "count", str(p), "--json"])
    assert r.exit_code == 1
    assert "notes.png" in r.output and "not an image" in r.output


@pytest.mark.parametrize(("rows", "want"), [
    ("F1,-2,100\n", "cd56_positive"),
    ("F1,5,-100\n", "total"),
    ("F1,120,100\n", "above the total"),
    ("F1,x,100\n", "not a whole number"),
])
def test_cli_pool_refuses_bad_counts(tmp_path: Path, rows: str, want: str):
    p = tmp_path / "counts.csv"
    p.write_text("field,cd56_positive,total\nF0,3,90\n" + rows)
    r = runner.invoke(app, ["unk", "pool", str(p), "--json"])
    assert r.exit_code == 1
    assert "counts.csv" in r.output and want in r.output and "3" in r.output


def test_count_sheet_imports_as_image_counts(db, tmp_path: Path):
    """`unk count --sheet-out` writes a sheet `decidua import unk` stores (method image)."""
    examples = Path(__file__).resolve().parents[3] / "examples" / "import"
    for kind in ("patients", "biopsies"):
        r = runner.invoke(app, ["--db", db, "import", kind, str(examples / f"{kind}.csv")])
        assert r.exit_code == 0, r.output
    paths = []
    for s in range(3):
        p = tmp_path / f"f{s}.png"
        Image.fromarray(make_field(50, 5, seed=10 + s).image).save(p)
        paths.append(str(p))
    sheet = tmp_path / "counts.csv"
    r = runner.invoke(app, ["unk", "count", *paths, "--biopsy", "EX-001-B1", "--sheet-out",
                            str(sheet), "--json"])
    assert r.exit_code == 0, r.output
    counted = json.loads(r.stdout)["fields"]
    r = runner.invoke(app, ["--db", db, "import", "unk", str(sheet)])
    assert r.exit_code == 0, r.output
    show = json.loads(runner.invoke(app, ["--db", db, "biopsy", "show", "EX-001-B1",
                                          "--json"]).stdout)
    stored = sorted((x for x in show["results"] if x["kind"] == "unk"),
                    key=lambda x: x["values"]["field"])
    assert [x["values"]["method"] for x in stored] == ["image"] * 3
    assert [x["values"]["protocol"] for x in stored] == ["lash2016"] * 3
    assert [x["values"]["cd56_positive"] for x in stored] == [f["cd56_positive"] for f in counted]
    assert [x["values"]["stromal_cells"] for x in stored] == [f["total"] for f in counted]
