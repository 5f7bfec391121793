"""`decidua demo` then `decidua report patient` on the fresh demo database, as a new user
would (the bundled SYNTHETIC cohort; DEC-0003 has four losses and three biopsies)."""

from __future__ import annotations

import io
import re

import pytest
from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_patient_report_right_after_demo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = runner.invoke(app, ["demo"])  # $DECIDUA_DATA_DIR/demo.sqlite (per test)
    assert res.exit_code == 0, res.output
    url = re.search(r"Database: (\S+)", res.output)[1]
    out = tmp_path / "DEC-0003.pdf"
    res = runner.invoke(app, ["--db", url, "report", "patient", "DEC-0003", "-o", str(out)])
    assert res.exit_code == 0, res.output
    from pypdf import PdfReader

    text = re.sub(r"\s+", " ", " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages))
    assert "Patient report: DEC-0003" in text and "Losses: 4 (4 consecutive)" in text
    for code in ("DEC-0003-B1", "DEC-0003-B2", "DEC-0003-B3"):
        assert code in text
    assert re.search(r"Risk of losing the next pregnancy: [\d.]+% \(95% credible interval", text)
