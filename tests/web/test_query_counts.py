"""No N+1 queries: the patient list and the patient page issue a number of SQL
statements that does not grow with the number of women or of their records.

Counted with SQLAlchemy's ``before_cursor_execute`` event on the application's
engine, on the real test database.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from decidua.services.imports import import_file
from decidua.store.session import get_engine, session_scope


def _load(url: str, folder: Path, n: int, per: int, start: int = 0) -> None:
    """``n`` synthetic women W-<i>, each with ``per`` pregnancies and ``per`` biopsies."""
    pats = ["patient_id,year_of_birth,study_group"]
    preg = ["patient_id,order,outcome,outcome_date"]
    bio = ["biopsy_id,patient_id,lh_surge_date,biopsy_date,clinic_call"]
    for i in range(start, start + n):
        pats.append(f"W-{i:04d},{1980 + i % 15},rpl")
        for k in range(1, per + 1):
            preg.append(f"W-{i:04d},{k},miscarriage,{2010 + k}-01-15")
            bio.append(f"W-{i:04d}-B{k},W-{i:04d},{2015 + k}-03-01,{2015 + k}-03-08,"
                       f"{'abnormal' if k % 2 else 'normal'}")
    for kind, lines in (("patients", pats), ("pregnancies", preg), ("biopsies", bio)):
        path = folder / f"{kind}-{start}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with session_scope(url) as s:
            import_file(s, "tester", kind, path)


def _count(url: str, client, path: str) -> int:  # type: ignore[no-untyped-def]
    n = 0

    def on_execute(*_a):  # type: ignore[no-untyped-def]
        nonlocal n
        n += 1

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        r = client.get(path)
        assert r.status_code == 200, r.text[:300]
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return n


def test_patient_list_query_count_does_not_grow_with_women(as_role, web_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    _load(web_db, tmp_path, 3, 1)
    small = _count(web_db, c, "/patients?min_losses=1")
    _load(web_db, tmp_path, 40, 3, start=3)
    large = _count(web_db, c, "/patients?min_losses=1")
    assert c.get("/patients?min_losses=1").text.count("W-00") >= 43
    assert large == small, (small, large)
    assert small <= 12


def test_patient_page_query_count_does_not_grow_with_her_records(as_role, web_db,
                                                                 tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    _load(web_db, tmp_path, 1, 1)
    _load(web_db, tmp_path, 1, 8, start=1)
    few = _count(web_db, c, "/patients/W-0000")
    many = _count(web_db, c, "/patients/W-0001")
    assert "W-0001-B8" in c.get("/patients/W-0001").text
    assert many == few, (few, many)


def test_cached_patient_page_follows_every_write(as_role, web_db, tmp_path, csrf) -> None:  # type: ignore[no-untyped-def]
    """The patient view is cached by the database's content version: a new record shows."""
    c = as_role("clinician")
    _load(web_db, tmp_path, 1, 1)
    first = c.get("/patients/W-0000").text
    assert c.get("/patients/W-0000").text == first  # served again, unchanged
    page = c.get("/patients/W-0000/pregnancies/new")
    r = c.post("/patients/W-0000/pregnancies/new", data={
        "csrf_token": csrf(page.text), "order": "2", "outcome": "miscarriage",
        "outcome_date": "2013-01-01"})
    assert r.status_code == 303, r.text
    after = c.get("/patients/W-0000").text
    assert "pregnancy 2" in after and "pregnancy 2" not in first


def test_a_cached_patient_page_carries_each_sessions_own_csrf_token(as_role, web_db,
                                                                    tmp_path, csrf) -> None:  # type: ignore[no-untyped-def]
    """The rendered page is cached per user and content version; the CSRF token is filled
    in per request, so a second browser of the same user gets its own and can post."""
    _load(web_db, tmp_path, 1, 1)
    a, b = as_role("clinician"), as_role("clinician")
    pa, pb = a.get("/patients/W-0000").text, b.get("/patients/W-0000").text
    assert csrf(pa) != csrf(pb) and "__decidua_csrf_slot__" not in pa + pb
    assert pa.replace(csrf(pa), "") == pb.replace(csrf(pb), "")  # the same cached page
    assert b.post("/logout", data={"csrf_token": csrf(pb)}).status_code == 303
    assert a.post("/logout", data={"csrf_token": csrf(pb)}).status_code == 403  # not a's
