"""The web sign-off action on the biopsy page (POST /biopsies/{code}/sign): scientist role
from the one role table, CSRF, audited, the signed results then refused any change, and
new results needing a new signed version."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from decidua.store import models as m
from decidua.store.session import session_scope

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"


def _plate(tmp_path: Path, shift: float, name: str) -> tuple[Path, Path]:
    """A synthetic qPCR plate for EX-001-B1 (ΔCq of an EndoTime training biopsy)."""
    from decidua.assays.timing import GENES, load_endotime_training_data

    t = load_endotime_training_data().iloc[0]
    rows, col = [("well", "sample", "target", "cq")], 1
    for target, level in [("RPL19", 0.0)] + [(g, float(t[g])) for g in GENES]:
        for d in (-0.05, 0.05):
            rows.append((f"A{col}", "S1", target, f"{20 + level + d + shift:.6f}"))
            col += 1
    plate, bmap = tmp_path / f"{name}.csv", tmp_path / f"{name}-map.csv"
    with plate.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    bmap.write_text("sample,biopsy_id\nS1,EX-001-B1\n")
    return plate, bmap


@pytest.fixture
def stored(web_db: str, tmp_path: Path) -> str:
    from decidua.services.biopsies import import_qpcr
    from decidua.services.imports import import_file

    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, EXAMPLES / f"{kind}.csv")
        plate, bmap = _plate(tmp_path, 0.0, "p1")
        import_qpcr(s, "tester", plate, bmap)
    return web_db


def _signoffs(url: str) -> list[m.BiopsySignoff]:
    with session_scope(url) as s:
        rows = list(s.scalars(select(m.BiopsySignoff).order_by(m.BiopsySignoff.version)))
        s.expunge_all()
        return rows


def test_scientist_signs_on_the_biopsy_page_audited(as_role, stored, csrf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = as_role("scientist")
    page = c.get("/biopsies/EX-001-B1")
    assert page.status_code == 200 and "Not signed." in page.text
    assert 'action="/biopsies/EX-001-B1/sign"' in page.text
    # without the CSRF token: refused, nothing stored
    r = c.post("/biopsies/EX-001-B1/sign", data={"note": "x"})
    assert r.status_code == 403 and _signoffs(stored) == []
    r = c.post("/biopsies/EX-001-B1/sign", data={"csrf_token": csrf(page.text),
                                                 "note": "checked plate"})
    assert r.status_code == 303
    (v1,) = _signoffs(stored)
    assert (v1.version, v1.actor, v1.role, v1.note) == (1, "scientist1", "scientist",
                                                        "checked plate")
    page = c.get("/biopsies/EX-001-B1")
    assert "Version 1: signed by" in page.text and "covers the results shown" in page.text
    with session_scope(stored) as s:
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "biopsy_signoff")
                       ).all()
        assert [(e.actor, e.entity_key) for e in ev] == [("scientist1", "EX-001-B1:v1")]
    # signing unchanged results again adds nothing
    r = c.post("/biopsies/EX-001-B1/sign", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 303 and len(_signoffs(stored)) == 1
    # a signed result cannot change
    with pytest.raises(Exception, match="sign"), session_scope(stored) as s:
        row = s.scalars(select(m.AssayResult).where(
            m.AssayResult.id.in_(v1.result_ids))).first()
        row.qc_status = "fail"
    # new results: the page says the sign-off is stale until a new version is signed
    from decidua.services.biopsies import import_qpcr

    plate, bmap = _plate(tmp_path, 0.5, "p2")
    with session_scope(stored) as s:
        import_qpcr(s, "tester", plate, bmap)
    page = c.get("/biopsies/EX-001-B1")
    assert "NOT signed" in page.text
    r = c.post("/biopsies/EX-001-B1/sign", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 303 and [v.version for v in _signoffs(stored)] == [1, 2]


@pytest.mark.parametrize("role", ["clinician", "researcher"])
def test_other_roles_get_no_form_and_are_refused(as_role, stored, csrf, role) -> None:  # type: ignore[no-untyped-def]
    c = as_role(role)
    page = c.get("/patients")
    r = c.post("/biopsies/EX-001-B1/sign", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 403 and _signoffs(stored) == []
    if role == "clinician":
        assert "Sign these results" not in c.get("/biopsies/EX-001-B1").text


def test_a_biopsy_without_results_is_a_clear_error(as_role, stored, csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("scientist")
    page = c.get("/biopsies/EX-002-B1")
    r = c.post("/biopsies/EX-002-B1/sign", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 422 and "no assay results to sign" in r.text
    assert c.post("/biopsies/NOPE/sign", data={"csrf_token": csrf(page.text)}
                  ).status_code == 404
