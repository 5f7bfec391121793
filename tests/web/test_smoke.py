from __future__ import annotations


def test_clinician_creates_a_woman_and_sees_her_page(as_role, csrf) -> None:
    c = as_role("clinician")
    page = c.get("/patients/new")
    assert page.status_code == 200
    r = c.post("/patients/new", data={"csrf_token": csrf(page.text), "patient_id": "WEB-1",
               "year_of_birth": "1988", "study_group": "rpl", "consent_research": "yes"})
    assert r.status_code == 303, r.text
    p = c.get("/patients/WEB-1")
    assert p.status_code == 200
    assert "Patient WEB-1" in p.text
