"""`decidua report patient` through the real CLI on a migrated database (SQLite; PostgreSQL
when configured): the example records (EX-001: three losses, biopsies called abnormal then
normal) and a synthetic qPCR plate with known truth (as in tests/assays/qpcr: each sample's
Cqs built from one EndoTime training biopsy's ΔCt) stored on EX-001's biopsies.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.store.session import session_scope

runner = CliRunner()


def _text(path: Path) -> str:
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(path.read_bytes())).pages
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages))


def test_patient_report_pdf_from_stored_records(loaded: str, tmp_path: Path) -> None:
    from decidua.services import biopsies

    out = tmp_path / "EX-001.pdf"
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(out),
                              "--on", "2024-01-15"])
    assert res.exit_code == 0, res.output
    text = _text(out)
    assert "Patient report: EX-001" in text and "Year of birth 1989" in text
    with session_scope(loaded) as s:
        doc = biopsies.show_biopsy(s, "EX-001-B1")
        sha = doc["results"][0]["source_sha256"]
    t = doc["timing"]
    assert f"LH+{t['estimated_lh_day']:.1f}" in text  # the stored placement
    assert re.search(r"EX-001-B1 timing \d", text) and "IGFBP1 dCq" in text
    assert f"sha256:{sha[:16]}" in text  # the plate's checksum in the footer
    assert "decidua.io.qpcr/1" in text and text.count("Research use only") >= 2
    # the HTML carries the same risk line
    html = tmp_path / "EX-001.html"
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(html),
                              "--on", "2024-01-15"])
    assert res.exit_code == 0, res.output
    risk = re.search(r"Risk of losing the next pregnancy: [^)]*\)", text)[0]
    assert risk in html.read_text()


def test_roles_identified_for_clinicians_pseudonymised_for_researchers(
        loaded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.pdf"
    monkeypatch.setenv("DECIDUA_USER", "rita")
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(out)])
    assert res.exit_code == 1 and "may not run" in res.output and not out.exists()
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", "report-test-key-" + "0" * 32)
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(out),
                              "--pseudonymise"])
    assert res.exit_code == 0, res.output
    text = _text(out)
    for ident in ("EX-001", "1989", "2021-11-10", "White British", "plate.csv"):
        assert ident not in text
    assert re.search(r"R-[0-9a-f]{16}", text)
    monkeypatch.setenv("DECIDUA_USER", "cleo")
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(out)])
    assert res.exit_code == 0, res.output


def test_bad_requests_are_clear_errors(loaded: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "NOBODY", "-o",
                              str(tmp_path / "x.pdf")])
    assert res.exit_code == 1 and "NOBODY" in res.output
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o",
                              str(tmp_path / "x.doc")])
    assert res.exit_code == 1 and ".pdf or .html" in res.output
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o",
                              str(tmp_path / "x.pdf"), "--on", "yesterday"])
    assert res.exit_code == 1 and "--on" in res.output


def test_output_folder_is_refused_and_missing_folders_are_made(loaded: str,
                                                               tmp_path: Path) -> None:
    (tmp_path / "a.pdf").mkdir()
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o",
                              str(tmp_path / "a.pdf")])
    assert res.exit_code == 1 and "is a folder" in res.output
    out = tmp_path / "new" / "dir" / "EX-001.html"
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Research use only; not a diagnostic device." in out.read_text()


def test_report_risk_is_the_risk_patient_figure(loaded: str, tmp_path: Path) -> None:
    """After `biopsy analyse`, both use each biopsy's computed call (else the typed one)."""
    import json

    from decidua.reports.patient import pct

    res = runner.invoke(app, ["--db", loaded, "biopsy", "analyse", "--all"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--db", loaded, "risk", "patient", "EX-001", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    out = tmp_path / "r.pdf"
    res = runner.invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lo, hi = doc["interval"]
    text = _text(out)
    assert (f"Risk of losing the next pregnancy: {pct(doc['p_loss'])} (95% credible interval "
            f"{pct(lo)} to {pct(hi)})") in text, doc["biopsy_calls"]
