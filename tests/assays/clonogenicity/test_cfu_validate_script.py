"""benchmarks/cfu_validate.py: Decidua (and OpenCFU) against manual counts on
images the user supplies. Truth here: synthetic dishes from the documented
generator, their known count written as the 'manual' column."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2

from decidua.assays.clonogenicity.synthetic import make_plate

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "cfu_validate.py"


def _run(sheet: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")}
    return subprocess.run([sys.executable, str(SCRIPT), str(sheet), "--json"], capture_output=True,
                          text=True, env=env, check=False)


def test_validation_sheet_counts_and_reports_bad_rows(tmp_path):
    for n, seed in ((12, 0), (20, 1)):
        plate = make_plate("dish", n, seed=seed, px_per_mm=20)
        cv2.imwrite(str(tmp_path / f"dish{n}.png"), plate.image[..., ::-1])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    sheet = tmp_path / "counts.csv"
    sheet.write_text("image,manual\ndish12.png,12\ndish20.png,20\nbroken.png,5\n")
    proc = _run(sheet)
    assert proc.returncode == 1  # one image could not be read
    doc = json.loads(proc.stdout)
    recs = {Path(r["image"]).name: r for r in doc["images"]}
    assert abs(recs["dish12.png"]["decidua"] - 12) <= 1
    assert abs(recs["dish20.png"]["decidua"] - 20) <= 2
    assert recs["broken.png"]["decidua"] is None and "broken.png" in recs["broken.png"]["error"]
    assert doc["summary"]["decidua"]["images"] == 2
    assert doc["summary"]["decidua"]["median_abs_error"] <= 0.10


def test_bad_sheet_names_row_and_column(tmp_path):
    sheet = tmp_path / "counts.csv"
    sheet.write_text("image,manual\na.png,many\n")
    proc = _run(sheet)
    assert proc.returncode != 0 and "row 2, column manual" in proc.stderr
    assert "Traceback" not in proc.stderr
