"""The biopsy report's ELISA standard curve, through the CLI on a migrated database:
the real Gen5 export in tests/data/elisa (provenance in its README) imported onto the
example biopsies with `decidua import elisa`, then `decidua report biopsy`."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from decidua.assays.elisa.models import response
from decidua.cli import app

runner = CliRunner()
GEN5 = Path(__file__).resolve().parents[1] / "data" / "elisa" / "gen5_fluorescamine_4pl.txt"


def _run(db: str, *args: str, user: str | None = None):  # type: ignore[no-untyped-def]
    env = {"DECIDUA_USER": user} if user else None
    return runner.invoke(app, ["--db", db, *args], env=env)


@pytest.fixture
def with_elisa(loaded: str, tmp_path: Path) -> str:
    bmap = tmp_path / "elisa_map.csv"
    bmap.write_text("sample,biopsy_id,culture_day,treatment,analyte\n"
                    "SPL1,EX-001-B1,0,cAMP+MPA,IGFBP1\nSPL2,EX-001-B1,8,cAMP+MPA,IGFBP1\n"
                    "SPL17,EX-002-B1,0,vehicle,IGFBP1\n")
    res = _run(loaded, "import", "elisa", str(GEN5), "--biopsy-map", str(bmap))
    assert res.exit_code == 0, res.output
    return loaded


def test_biopsy_report_shows_the_standard_curve_with_the_samples(with_elisa: str,
                                                                 tmp_path: Path) -> None:
    html_out = tmp_path / "b1.html"
    res = _run(with_elisa, "report", "biopsy", "EX-001-B1", "-o", str(html_out), user="cleo")
    assert res.exit_code == 0, res.output
    html = html_out.read_text()
    assert "Standard curves" in html and "ELISA standard curve: IGFBP1, plate" in html
    (uri,) = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="ELISA', html)
    svg = base64.b64decode(uri).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg

    # a biopsy with no ELISA result has no curve
    other = tmp_path / "b3.html"
    res = _run(with_elisa, "report", "biopsy", "EX-003-B1", "-o", str(other), user="cleo")
    assert res.exit_code == 0, res.output
    assert "ELISA standard curve" not in other.read_text()

    pdf_out = tmp_path / "b1.pdf"
    res = _run(with_elisa, "report", "biopsy", "EX-001-B1", "-o", str(pdf_out), user="cleo")
    assert res.exit_code == 0, res.output
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf_out.read_bytes()))
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert "ELISA standard curve: IGFBP1" in text and "IGFBP1" in text
    images = [im for p in reader.pages for im in p.images]
    # the 6.0 x 3.4 in figure at 237 dpi (200 dpi or more printed 180 mm wide)
    assert any(im.image.size == (1422, 805) for im in images), [im.image.size for im in images]


def test_each_sample_well_lies_on_the_stored_curve(with_elisa: str) -> None:
    """The plot's points are the wells' back-calculated in-well concentrations: each must
    sit on the stored curve at its measured OD (the curve inverted then re-applied), and
    only this biopsy's samples are drawn."""
    from decidua.services.reports import biopsy_report
    from decidua.store.session import session_scope

    with session_scope(with_elisa) as s:
        rep = biopsy_report(s, "cleo", "EX-001-B1", generated_at="2026-01-01T00:00:00Z")
    (plot,) = [p for p in rep.plots if p.kind == "elisa_curve"]
    d = plot.data
    assert d["analyte"] == "IGFBP1" and d["model"] == "4pl"
    labels = {x["label"] for x in d["samples"]}
    assert labels == {"SPL1 (day 0)", "SPL2 (day 8)"}
    theta = np.array([d["params"][k] for k in "abcd"])
    for x in d["samples"]:
        assert response("4pl", np.array([x["x"]]), theta)[0] == pytest.approx(x["od"],
                                                                               rel=1e-6)


def test_biopsy_report_shows_the_cfu_overlay_a_result_names(loaded: str,
                                                            tmp_path: Path) -> None:
    """A colony count by `decidua cfu count --overlay-dir` (a synthetic dish of the
    clonogenicity generator), stored on a biopsy naming its overlay: the report embeds
    exactly that picture (PNG bytes as written) with its SHA-256; a result naming a file
    that does not exist says so and shows no picture. No importer stores an overlay path
    yet, so the result rows are written through the store directly."""
    import hashlib
    import json

    import cv2
    from sqlalchemy import select

    from decidua.assays.clonogenicity.synthetic import make_plate
    from decidua.store import models as m
    from decidua.store.session import session_scope

    plate = make_plate("dish", 12, seed=0, px_per_mm=12)
    img = tmp_path / "dish1.png"
    cv2.imwrite(str(img), plate.image[..., ::-1])
    res = runner.invoke(app, ["cfu", "count", str(img), "--overlay-dir", str(tmp_path / "qc"),
                              "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    doc = doc[0] if isinstance(doc, list) else doc
    overlay = Path(doc["overlay"])
    png = overlay.read_bytes()
    with session_scope(loaded) as s:
        b = s.scalar(select(m.Biopsy).where(m.Biopsy.code == "EX-002-B1"))
        for key, path in (("dish1", str(overlay)), ("dish2", str(tmp_path / "gone.png"))):
            s.add(m.AssayResult(biopsy_id=b.id, kind="cfu", result_key=f"plate={key}",
                                values={"plate": key, "colonies": 12, "cells_seeded": 500,
                                        "method": "image", "overlay": path},
                                qc_status="pass", source_file=img.name,
                                source_sha256=hashlib.sha256(img.read_bytes()).hexdigest()))

    out = tmp_path / "b.html"
    res = _run(loaded, "report", "biopsy", "EX-002-B1", "-o", str(out), user="cleo")
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "QC overlays" in html
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="QC overlay', html)
    assert [base64.b64decode(u) for u in uris] == [png]
    assert hashlib.sha256(png).hexdigest() in html
    assert f"{tmp_path / 'gone.png'}: not found" in html

    pdf = tmp_path / "b.pdf"
    res = _run(loaded, "report", "biopsy", "EX-002-B1", "-o", str(pdf), user="cleo")
    assert res.exit_code == 0, res.output
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf.read_bytes()))
    sizes = [im.image.size for p in reader.pages for im in p.images]
    assert plate.image.shape[1::-1] in sizes, sizes
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "QC overlay of result" in re.sub(r"\s+", " ", text)
