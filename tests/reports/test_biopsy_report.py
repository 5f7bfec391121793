"""`decidua biopsy sign` and `decidua report biopsy` on a migrated database (SQLite;
PostgreSQL when configured), with the example records and synthetic qPCR plates of
known content (see conftest.qpcr_plate)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from decidua.cli import app
from decidua.errors import InputError
from decidua.store import models as m
from decidua.store.session import session_scope

runner = CliRunner()


def _text(path: Path) -> str:
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(path.read_bytes())).pages
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages))


def _run(db: str, *args: str, user: str | None = None):  # type: ignore[no-untyped-def]
    env = {"DECIDUA_USER": user} if user else None
    return runner.invoke(app, ["--db", db, *args], env=env)


def test_sign_then_report_then_new_results_need_a_new_version(loaded: str, tmp_path: Path,
                                                              make_plate) -> None:  # type: ignore[no-untyped-def]
    # a clinician may not sign; a scientist may
    res = _run(loaded, "biopsy", "sign", "EX-001-B1", user="cleo")
    assert res.exit_code == 1 and "may not run" in res.output
    res = _run(loaded, "biopsy", "sign", "EX-001-B1", "--note", "checked", user="sam")
    assert res.exit_code == 0 and "signed, version 1" in res.output, res.output
    res = _run(loaded, "biopsy", "sign", "EX-001-B1", user="sam")
    assert "already signed" in res.output and "version 1" in res.output
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).select_from(m.BiopsySignoff)) == 1
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "biopsy_signoff")
                       ).all()
        assert [(e.actor, e.entity_key) for e in ev] == [("sam", "EX-001-B1:v1")]
        results = s.scalars(select(m.AssayResult).join(m.Biopsy)
                            .where(m.Biopsy.code == "EX-001-B1")).all()
        shas = {r.source_sha256 for r in results}
        kinds = sorted(r.kind for r in results)
    assert kinds == ["qpcr", "timing"]

    out = tmp_path / "b1.pdf"
    res = _run(loaded, "report", "biopsy", "EX-001-B1", "-o", str(out), user="cleo")
    assert res.exit_code == 0, res.output
    text = _text(out)
    assert "Biopsy report: EX-001-B1" in text and "Patient id EX-001" in text
    assert "Call: uncallable" in text and "QC status pass" in text
    assert "source file plate.csv" in text and "decidua.io.qpcr/1" in text
    for sha in shas:  # full checksum in the assay table, 16 digits in the footer
        assert sha in text.replace(" ", "") and f"sha256:{sha[:16]}" in text
    assert re.search(r"Signed by Sam Scientist \(scientist\) on \d{4}-\d\d-\d\d, version 1\.",
                     text)
    assert "Note: checked" in text and text.count("Research use only") >= 2

    # signed results cannot change in place
    with pytest.raises(InputError, match="is signed"), session_scope(loaded) as s:
        r = s.scalars(select(m.AssayResult).join(m.Biopsy)
                      .where(m.Biopsy.code == "EX-001-B1")).first()
        r.qc_status = "fail"
    with pytest.raises(InputError, match="is signed"), session_scope(loaded) as s:
        r = s.scalars(select(m.AssayResult).join(m.Biopsy)
                      .where(m.Biopsy.code == "EX-001-B1")).first()
        s.delete(r)
    with session_scope(loaded) as s:
        assert {r.qc_status for r in s.scalars(select(m.AssayResult))} <= {"pass", "pending"}
    # an unsigned biopsy's result may still change (the guard is about signatures only)
    with session_scope(loaded) as s:
        r = s.scalars(select(m.AssayResult).join(m.Biopsy)
                      .where(m.Biopsy.code == "EX-002-B1")).first()
        r.qc_status = "fail"

    # a second plate adds results: the signature no longer covers them
    plate, bmap = make_plate(tmp_path, shift=0.5, name="plate2")
    res = _run(loaded, "import", "qpcr", str(plate), "--biopsy-map", str(bmap))
    assert res.exit_code == 0, res.output
    res = _run(loaded, "report", "biopsy", "EX-001-B1", "-o", str(out), user="sam")
    assert res.exit_code == 0, res.output
    assert "these results are NOT signed" in _text(out)
    res = _run(loaded, "biopsy", "sign", "EX-001-B1", "--json", user="sam")
    assert res.exit_code == 0 and '"version": 2' in res.output and '"created": true' in res.output
    res = _run(loaded, "report", "biopsy", "EX-001-B1", "-o", str(out), user="sam")
    text = _text(out)
    assert "version 2." in text and "NOT signed" not in text and "plate2.csv" in text


def test_biopsy_without_results_cannot_be_signed_and_unknown_codes(loaded: str,
                                                                   tmp_path: Path) -> None:
    with session_scope(loaded) as s:  # a biopsy with no results
        p = s.scalar(select(m.Patient).where(m.Patient.pseudonym == "EX-001"))
        import datetime as dt

        s.add(m.Biopsy(code="EX-001-B9", patient_id=p.id, biopsy_date=dt.date(2023, 1, 1)))
    res = _run(loaded, "biopsy", "sign", "EX-001-B9", user="sam")
    assert res.exit_code == 1 and "no assay results to sign" in res.output
    out = tmp_path / "b9.html"
    res = _run(loaded, "report", "biopsy", "EX-001-B9", "-o", str(out), user="sam")
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "Not signed." in html and "No assay results stored." in html
    res = _run(loaded, "biopsy", "sign", "NOPE", user="sam")
    assert res.exit_code == 1 and "NOPE" in res.output
