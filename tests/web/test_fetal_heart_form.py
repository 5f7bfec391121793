"""The pregnancy form has the fetal-heart-activity field (schema 0011): shown with the
stored value, stored on an edit (audited), refused for a biochemical loss beside the
field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from decidua.services.imports import import_file
from decidua.store import models as m
from decidua.store.session import session_scope


@pytest.fixture
def cohort(web_db: str, examples: Path) -> str:
    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    return web_db


def _pregnancy(url: str, order: int) -> m.Pregnancy:
    with session_scope(url) as s:
        p = s.scalars(select(m.Pregnancy).join(m.Patient).where(
            m.Patient.pseudonym == "EX-001", m.Pregnancy.order == order)).one()
        s.expunge(p)
        return p


def test_edit_a_pregnancy_sets_fetal_heart_activity(as_role, cohort, csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    p = _pregnancy(cohort, 2)
    assert p.fetal_heart_activity is None
    form = c.get(f"/patients/EX-001/pregnancies/{p.id}/edit")
    assert form.status_code == 200 and 'name="fetal_heart_activity"' in form.text
    data = {"csrf_token": csrf(form.text), "outcome": p.outcome,
            "gestation_weeks": f"{p.gestation_weeks:g}" if p.gestation_weeks else "",
            "conception": p.conception, "karyotype": p.karyotype,
            "karyotype_detail": p.karyotype_detail or "",
            "outcome_date": p.outcome_date.isoformat() if p.outcome_date else "",
            "fetal_heart_activity": "true"}
    r = c.post(f"/patients/EX-001/pregnancies/{p.id}/edit", data=data)
    assert r.status_code == 303, r.text
    assert _pregnancy(cohort, 2).fetal_heart_activity is True
    with session_scope(cohort) as s:
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "pregnancy",
                                                  m.AuditEvent.action == "update")).one()
        assert "fetal_heart_activity" in str(ev.after)
    form = c.get(f"/patients/EX-001/pregnancies/{p.id}/edit")
    assert re.search(r'<option value="true"[^>]*selected', form.text)
    r = c.post(f"/patients/EX-001/pregnancies/{p.id}/edit",
               data={**data, "csrf_token": csrf(form.text), "outcome": "biochemical",
                     "gestation_weeks": ""})
    assert r.status_code == 422 and 'id="error-fetal_heart_activity"' in r.text
    assert _pregnancy(cohort, 2).fetal_heart_activity is True
