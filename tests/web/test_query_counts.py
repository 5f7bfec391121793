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


def _builds(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The women whose patient view is computed (not served from the cache) from now on
    (the caches emptied first: another test's database may have had the same versions)."""
    from collections import OrderedDict

    from decidua.web import common, pages

    monkeypatch.setattr(common, "_DETAIL_CACHE", OrderedDict())
    monkeypatch.setattr(pages, "_PAGE_CACHE", OrderedDict())
    built: list[str] = []
    real = common._patient_detail

    def spy(session, user, patient_id, ids=None):  # type: ignore[no-untyped-def]
        built.append(patient_id)
        return real(session, user, patient_id, ids)

    monkeypatch.setattr(common, "_patient_detail", spy)
    return built


def test_a_write_to_another_woman_keeps_her_cached_page(as_role, web_db, tmp_path, csrf,
                                                        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Her cached view is keyed by her own records' version: adding a pregnancy to
    W-0001 does not recompute W-0000's page, and W-0001's page shows it."""
    c = as_role("clinician")
    _load(web_db, tmp_path, 2, 1)
    built = _builds(monkeypatch)
    first = c.get("/patients/W-0000").text
    c.get("/patients/W-0001")
    assert built == ["W-0000", "W-0001"]
    page = c.get("/patients/W-0001/pregnancies/new")
    r = c.post("/patients/W-0001/pregnancies/new", data={
        "csrf_token": csrf(page.text), "order": "2", "outcome": "miscarriage",
        "outcome_date": "2013-01-01"})  # fmt: skip
    assert r.status_code == 303, r.text
    assert c.get("/patients/W-0000").text == first
    assert "pregnancy 2" in c.get("/patients/W-0001").text
    assert built == ["W-0000", "W-0001", "W-0001"]


def test_an_edit_of_her_record_recomputes_her_page(as_role, web_db, tmp_path, csrf,
                                                   monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An edit changes no row count or id, only adds an audit event: her page follows."""
    from decidua.store import models as m

    c = as_role("clinician")
    _load(web_db, tmp_path, 1, 1)
    assert "miscarriage" in c.get("/patients/W-0000").text
    with session_scope(web_db) as s:
        rid = s.query(m.Pregnancy.id).one()[0]
    edit = f"/patients/W-0000/pregnancies/{rid}/edit"
    form = c.get(edit)
    r = c.post(edit, data={"csrf_token": csrf(form.text), "outcome": "live_birth",
                           "outcome_date": "2011-01-15"})  # fmt: skip
    assert r.status_code == 303, r.text
    built = _builds(monkeypatch)
    page = c.get("/patients/W-0000").text
    assert built == ["W-0000"] and "live birth" in page


def test_patient_version_follows_her_records_only(web_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """:func:`patient_version` changes with a row added to any table of her records and
    with a fitted reference, not with another woman's rows; unknown id: ``None``."""
    from decidua.services.patients import patient_version
    from decidua.store import models as m

    _load(web_db, tmp_path, 2, 1)
    with session_scope(web_db) as s:
        assert patient_version(s, "W-9999") is None
        before = patient_version(s, "W-0000")
        other = patient_version(s, "W-0001")
        b0, b1 = (s.query(m.Biopsy).filter_by(code=f"W-000{i}-B1").one() for i in (0, 1))
        s.add(m.AssayResult(biopsy_id=b1.id, kind="cfu", result_key="r1", values={"x": 1},
                            qc_status="pass"))  # fmt: skip
        s.flush()
        assert patient_version(s, "W-0000") == before
        assert patient_version(s, "W-0001") != other
        s.add(m.AssayResult(biopsy_id=b0.id, kind="cfu", result_key="r1", values={"x": 1},
                            qc_status="pass"))  # fmt: skip
        s.flush()
        mine = patient_version(s, "W-0000")
        assert mine != before
        s.add(m.AuditEvent(actor="t", action="update", entity="biopsy", entity_id=b1.id,
                           entity_key="k"))  # fmt: skip
        s.flush()
        assert patient_version(s, "W-0000") == mine
        s.add(m.AuditEvent(actor="t", action="update", entity="biopsy", entity_id=b0.id,
                           entity_key="k"))  # fmt: skip
        s.flush()
        assert patient_version(s, "W-0000") != mine
        s.rollback()


def test_a_researchers_cached_page_survives_a_write_to_another_woman(
        as_role, web_db, tmp_path, csrf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A researcher names women by pseudonym; her view is still keyed by her own records
    (the pseudonym map only by the women and biopsies there are)."""
    import re

    r = as_role("researcher")
    _load(web_db, tmp_path, 2, 1)
    names = sorted(set(re.findall(r'href="/patients/(P[^"/]+)"', r.get("/patients").text)))
    assert len(names) == 2
    built = _builds(monkeypatch)
    first = {n: r.get(f"/patients/{n}").text for n in names}
    assert sorted(built) == ["W-0000", "W-0001"]  # computed for her clinic id
    c = as_role("clinician")
    page = c.get("/patients/W-0001/pregnancies/new")
    assert c.post("/patients/W-0001/pregnancies/new", data={
        "csrf_token": csrf(page.text), "order": "2", "outcome": "miscarriage",
        "outcome_date": "2013-01-01"}).status_code == 303  # fmt: skip
    again = {n: r.get(f"/patients/{n}").text for n in names}
    assert sorted(built) == ["W-0000", "W-0001", "W-0001"]
    assert sum(again[n] == first[n] for n in names) == 1  # the other one: unchanged
    assert "W-000" not in "".join(again.values())
