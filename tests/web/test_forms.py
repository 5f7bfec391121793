"""Forms that add and edit investigations and interventions (and edit pregnancies and
biopsies): validated by the importer on the server, errors beside the field, what was typed
kept on error, nothing stored on error, CSRF, audited with the logged-in user."""

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
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    return web_db


def _id(url: str, model, **where) -> int:  # type: ignore[no-untyped-def]
    with session_scope(url) as s:
        stmt = select(model.id).join(m.Patient).where(m.Patient.pseudonym == "EX-001")
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return s.scalars(stmt).one()


def _error(html: str, field: str) -> str:
    found = re.search(rf'id="error-{field}"[^>]*>([^<]+)<', html)
    assert found, f"no error beside {field}"
    return found.group(1)


def _value(html: str, field: str) -> str:
    found = re.search(rf'id="f-{field}" name="{field}"[^>]*value="([^"]*)"', html)
    assert found, field
    return found.group(1)


def test_add_an_investigation_and_an_intervention(as_role, cohort, csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    page = c.get("/patients/EX-002")
    assert "Add an investigation" in page.text and "Add an intervention" in page.text
    form = c.get("/patients/EX-002/investigations/new")
    r = c.post("/patients/EX-002/investigations/new", data={
        "csrf_token": csrf(form.text), "kind": "tsh", "date": "2023-02-01", "value": "3.4",
        "unit": "", "interpretation": "normal", "text": ""})
    assert r.status_code == 303 and r.headers["location"] == "/patients/EX-002", r.text
    form = c.get("/patients/EX-002/interventions/new")
    r = c.post("/patients/EX-002/interventions/new", data={
        "csrf_token": csrf(form.text), "kind": "progesterone", "start_date": "2023-03-01",
        "end_date": "2023-05-01", "dose": "400 mg", "trial_arm": ""})
    assert r.status_code == 303, r.text
    shown = c.get("/patients/EX-002").text
    assert "3.4 mIU/L, normal" in shown and "progesterone 400 mg, until 2023-05-01" in shown
    with session_scope(cohort) as s:
        inv = s.scalars(select(m.Investigation).where(m.Investigation.kind == "tsh")
                        .order_by(m.Investigation.id.desc())).first()
        assert inv.value == 3.4 and inv.unit == "mIU/L"  # the kind's unit, from the importer
        events = {(a.entity, a.actor) for a in s.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == "create"))}
        assert ("investigation", "clinician1") in events
        assert ("intervention", "clinician1") in events


def test_a_bad_form_keeps_what_was_typed_and_stores_nothing(as_role, cohort, csrf,
                                                            snap) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    before = snap(cohort)
    form = c.get("/patients/EX-002/interventions/new")
    r = c.post("/patients/EX-002/interventions/new", data={
        "csrf_token": csrf(form.text), "kind": "aspirin", "start_date": "2023-03-01",
        "end_date": "2023-01-01", "dose": "75 mg <b>", "trial_arm": ""})
    assert r.status_code == 422
    assert "before start_date" in _error(r.text, "end_date")
    assert _value(r.text, "dose") == "75 mg &lt;b&gt;"
    assert _value(r.text, "end_date") == "2023-01-01"
    assert re.search(r'<option value="aspirin" selected>', r.text)
    form = c.get("/patients/EX-002/investigations/new")
    r = c.post("/patients/EX-002/investigations/new", data={
        "csrf_token": csrf(form.text), "kind": "tsh", "date": "2023-02-01", "value": "lots",
        "interpretation": "normal"})
    assert r.status_code == 422 and _error(r.text, "value")
    assert _value(r.text, "value") == "lots"
    assert snap(cohort) == before


def test_edit_an_intervention_and_a_pregnancy(as_role, cohort, csrf, snap) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    iv = _id(cohort, m.Intervention, kind="sitagliptin")
    page = c.get("/patients/EX-001")
    assert f"/patients/EX-001/interventions/{iv}/edit" in page.text
    form = c.get(f"/patients/EX-001/interventions/{iv}/edit")
    assert form.status_code == 200
    assert _value(form.text, "dose") == "100 mg daily"  # the stored values, to change
    assert re.search(r'id="f-start_date" name="start_date" value="2022-01-05" readonly', form.text)
    r = c.post(f"/patients/EX-001/interventions/{iv}/edit", data={
        "csrf_token": csrf(form.text), "kind": "sitagliptin", "start_date": "2000-01-01",
        "end_date": "2022-04-05", "dose": "50 mg daily", "trial_arm": "SIT-1 active"})
    assert r.status_code == 303, r.text
    with session_scope(cohort) as s:
        rows = list(s.scalars(select(m.Intervention).join(m.Patient)
                              .where(m.Patient.pseudonym == "EX-001")))
        assert len(rows) == 1 and rows[0].dose == "50 mg daily"
        assert rows[0].start_date.isoformat() == "2022-01-05"  # the key is not taken from the post
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "intervention",
                                                  m.AuditEvent.action == "update")).one()
        assert ev.actor == "clinician1" and "50 mg daily" in str(ev.after)
        assert "100 mg daily" in str(ev.before)
    # an edit with an error: beside the field, typed values kept, nothing changed
    pg = _id(cohort, m.Pregnancy, order=2)
    before = snap(cohort)
    form = c.get(f"/patients/EX-001/pregnancies/{pg}/edit")
    assert _value(form.text, "karyotype_detail") == "47,XX,+16"
    r = c.post(f"/patients/EX-001/pregnancies/{pg}/edit", data={
        "csrf_token": csrf(form.text), "outcome": "miscarriage", "gestation_weeks": "99",
        "conception": "spontaneous", "karyotype": "abnormal", "karyotype_detail": "47,XX,+22",
        "outcome_date": "2020-01-15"})
    assert r.status_code == 422 and _error(r.text, "gestation_weeks")
    assert _value(r.text, "karyotype_detail") == "47,XX,+22"
    assert _value(r.text, "order") == "2"
    assert snap(cohort) == before


def test_edits_need_csrf_their_woman_and_an_allowed_role(as_role, cohort, csrf, snap) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    s = as_role("scientist")
    iv = _id(cohort, m.Intervention, kind="sitagliptin")
    before = snap(cohort)
    r = c.post(f"/patients/EX-001/interventions/{iv}/edit", data={"dose": "1 mg"})
    assert r.status_code == 403
    assert c.get(f"/patients/EX-002/interventions/{iv}/edit").status_code == 404  # not hers
    assert c.get("/patients/EX-001/interventions/999999/edit").status_code == 404
    form = s.get("/patients")
    r = s.post(f"/patients/EX-001/interventions/{iv}/edit", data={
        "csrf_token": csrf(form.text), "dose": "1 mg"})
    assert r.status_code == 403
    assert "Edit a record" not in s.get("/patients/EX-001").text
    assert snap(cohort) == before
