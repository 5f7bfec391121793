"""The patient page's before/after an intervention (``patient monitor``) and the list's
filters, on the real application and test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from decidua.services.imports import import_file
from decidua.store.session import session_scope


@pytest.fixture
def treated(web_db: str, examples: Path, tmp_path: Path) -> str:
    """The examples plus a biopsy after EX-001's sitagliptin (2022-01-05) with CFU counts."""
    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions",
                     "cfu"):  # fmt: skip
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    bio = tmp_path / "b3.csv"
    bio.write_text("biopsy_id,patient_id,cycle_number,lh_surge_date,biopsy_date,on_treatment,"
                   "clinic_call\nEX-001-B3,EX-001,3,2022-02-03,2022-02-10,true,normal\n")
    cfu = tmp_path / "cfu3.csv"
    cfu.write_text("biopsy_id,plate,well,cells_seeded,colonies,count_date,batch\n"
                   "EX-001-B3,P2,A1,500,30,2022-03-01,CFU-2022-03\n")
    with session_scope(web_db) as s:
        import_file(s, "tester", "biopsies", bio)
        import_file(s, "tester", "cfu", cfu)
    return web_db


def test_patient_page_shows_before_and_after_the_intervention(as_role, treated) -> None:  # type: ignore[no-untyped-def]
    page = as_role("clinician").get("/patients/EX-001")
    assert page.status_code == 200
    html = page.text
    start = html.index('id="monitor"')
    section = html[start:html.index("</section>", start)]
    assert "sitagliptin 100 mg daily from 2022-01-05" in section
    # before: her latest biopsy before the start (B2, 11/500); after: the first on or after (B3)
    assert "EX-001-B2" in section and "EX-001-B3" in section and "EX-001-B1" not in section
    assert "rate ratio 2.73" in section  # (30/500) / (11/500), computed by hand
    assert "Loss risk:" in section and "→" in section


def test_researcher_sees_before_after_by_pseudonym_without_dose(app, as_role, treated,
                                                                tokens) -> None:  # type: ignore[no-untyped-def]
    api = TestClient(app, headers={"Authorization": f"Bearer {tokens['researcher']}"})
    pid = next(r["patient_id"] for r in api.get("/api/v1/patients").json()["patients"]
               if r["losses"] == 3)  # EX-001: three losses
    body = api.get(f"/api/v1/patients/{pid}").json()
    (iv,) = body["monitor"]
    assert iv["comparable"] and iv["dose"] is None and iv["trial_arm"] is None
    assert iv["before"]["biopsy"].startswith("B") and "EX-" not in str(body)
    clin = TestClient(app, headers={"Authorization": f"Bearer {tokens['clinician']}"})
    (civ,) = clin.get("/api/v1/patients/EX-001").json()["monitor"]
    assert civ["before"]["biopsy"] == "EX-001-B2" and civ["dose"] == "100 mg daily"
    assert civ["risk"] == iv["risk"]  # the same numbers, only names differ


def test_no_comparison_without_a_biopsy_after(as_role, web_db, examples) -> None:  # type: ignore[no-untyped-def]
    with session_scope(web_db) as s:
        for kind in ("patients", "biopsies", "interventions"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    html = as_role("clinician").get("/patients/EX-001").text
    assert "Not compared: no biopsy on or after the start." in html


@pytest.fixture
def cohort(web_db: str, examples: Path) -> str:
    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    return web_db


def _ids(client, **params) -> set[str]:  # type: ignore[no-untyped-def]
    import re

    r = client.get("/patients", params=params)
    assert r.status_code == 200, r.text[:300]
    return set(re.findall(r">(EX-\d{3})</a>", r.text))


def test_list_filter_by_pathway_step_matches_each_womans_pathway(as_role, cohort) -> None:  # type: ignore[no-untyped-def]
    from decidua.services.risk import DUE_STATUSES, pathway_for_patient, pathway_step_choices

    c = as_role("clinician")
    assert 'name="step"' in c.get("/patients").text
    women = {"EX-001", "EX-002", "EX-003"}
    with session_scope(cohort) as s:
        pathways = {w: pathway_for_patient(s, "tester", w) for w in women}
    proper = 0
    for step, _ in pathway_step_choices():
        want = {w for w, pw in pathways.items()
                if (st := pw.step(step)) is not None and st.status in DUE_STATUSES}
        assert _ids(c, step=step) == want, step
        proper += 0 < len(want) < 3
    assert proper >= 2  # the filter separates women on several steps
    # combined with another filter: an intersection
    step = next(k for k, _ in pathway_step_choices()
                if {w for w, pw in pathways.items() if (st := pw.step(k)) is not None
                    and st.status in DUE_STATUSES} >= {"EX-001"})  # fmt: skip
    assert _ids(c, step=step, min_losses=3) == {"EX-001"}
    api = TestClient(c._transport.app)
    assert api.get("/api/v1/patients", params={"step": step}).status_code == 401  # no token


def test_other_list_filters(as_role, cohort) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    c = as_role("clinician")
    assert _ids(c, min_losses=3) == {"EX-001"}  # 2 miscarriages + 1 biochemical
    assert _ids(c, max_losses=0) == {"EX-003"}
    year = dt.date.today().year
    assert _ids(c, min_age=year - 1988) == {"EX-002"}  # born 1985; 1989 is younger
    assert _ids(c, max_age=year - 1990) == {"EX-003"}  # born 1992
    assert _ids(c, last_call="abnormal") == {"EX-002"}  # EX-001's latest (B2) is normal
    assert _ids(c, last_call="normal") == {"EX-001", "EX-003"}
    assert _ids(c, last_call="none") == set()


def test_api_step_filter_and_roles(app, cohort, tokens) -> None:  # type: ignore[no-untyped-def]
    from decidua.services.risk import pathway_step_choices

    step = pathway_step_choices()[0][0]
    for role, ok in (("clinician", True), ("researcher", True), ("scientist", False)):
        api = TestClient(app, headers={"Authorization": f"Bearer {tokens[role]}"})
        r = api.get("/api/v1/patients", params={"step": step})
        assert (r.status_code == 200) == ok and (r.status_code == 403) == (not ok), role
    api = TestClient(app, headers={"Authorization": f"Bearer {tokens['clinician']}"})
    r = api.get("/api/v1/patients", params={"step": "no_such_step"})
    assert r.status_code == 422 and r.json()["status"] == 422


def test_biopsy_page_shows_the_overlays_its_results_name(as_role, cohort, tmp_path,
                                                         tokens, app) -> None:  # type: ignore[no-untyped-def]
    """A CFU result naming an overlay picture (a synthetic dish written as PNG), one naming
    a missing file, one naming a file that is no picture. Rows written through the store
    (no importer stores an overlay path yet)."""
    import base64
    import hashlib
    import re

    import cv2
    from sqlalchemy import select

    from decidua.assays.clonogenicity.synthetic import make_plate
    from decidua.store import models as m

    plate = make_plate("dish", 8, seed=1, px_per_mm=6)
    png_path = tmp_path / "overlay.png"
    cv2.imwrite(str(png_path), plate.image[..., ::-1])
    png = png_path.read_bytes()
    text_path = tmp_path / "notes.txt"
    text_path.write_text("not a picture")
    with session_scope(cohort) as s:
        b = s.scalar(select(m.Biopsy).where(m.Biopsy.code == "EX-002-B1"))
        for key, path in (("d1", png_path), ("d2", tmp_path / "gone.png"), ("d3", text_path)):
            s.add(m.AssayResult(biopsy_id=b.id, kind="cfu", result_key=f"plate={key}",
                                values={"colonies": 8, "cells_seeded": 500, "overlay": str(path)},
                                qc_status="pass", source_file="dish.png"))  # fmt: skip
    page = as_role("scientist").get("/biopsies/EX-002-B1")
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    html = page.text
    section = html[html.index('id="overlays"'):]
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="QC overlay', section)
    assert [base64.b64decode(u) for u in uris] == [png]  # exactly the picture as written
    assert hashlib.sha256(png).hexdigest() in section
    assert "gone.png</code> · <span class=\"error\">file not found" in section
    assert "not a PNG or JPEG picture" in section
    r = as_role("clinician").get("/biopsies/EX-001-B1").text
    assert 'id="overlays"' not in r  # no result names an overlay
    api = TestClient(app, headers={"Authorization": f"Bearer {tokens['researcher']}"})
    pid = next(p["patient_id"] for p in api.get("/api/v1/patients").json()["patients"]
               if p["live_births"] == 1 and p["losses"] == 2)  # EX-002
    code = api.get(f"/api/v1/patients/{pid}").json()["biopsies"][0]["biopsy_id"]
    researcher = as_role("researcher").get(f"/biopsies/{code}").text
    assert 'id="overlays"' not in researcher and str(tmp_path) not in researcher


def test_step_filter_after_a_write_recomputes_only_her_pathway(as_role, cohort, tmp_path,
                                                              monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After EX-003's two miscarriages are added, the step filter computes her pathway
    alone, and every step's list is still what each woman's own pathway says."""
    from decidua.services import risk
    from decidua.services.risk import DUE_STATUSES, pathway_for_patient, pathway_step_choices

    c = as_role("clinician")
    steps = [k for k, _ in pathway_step_choices()]
    _ids(c, step=steps[0])  # every woman's pathway computed and kept
    asked: list = []
    real = risk.due_steps

    def spy(session, actor, *, on=None, patients=None):  # type: ignore[no-untyped-def]
        asked.append(None if patients is None else set(patients))
        return real(session, actor, on=on, patients=patients)

    monkeypatch.setattr(risk, "due_steps", spy)
    path = tmp_path / "preg3.csv"
    path.write_text("patient_id,order,outcome,outcome_date\nEX-003,2,miscarriage,2021-05-01\n"
                    "EX-003,3,miscarriage,2022-05-01\n")  # fmt: skip
    with session_scope(cohort) as s:
        import_file(s, "tester", "pregnancies", path)
    with session_scope(cohort) as s:
        pathways = {w: pathway_for_patient(s, "tester", w) for w in ("EX-001", "EX-002",
                                                                     "EX-003")}  # fmt: skip
    for step in steps:
        want = {w for w, pw in pathways.items()
                if (st := pw.step(step)) is not None and st.status in DUE_STATUSES}
        assert _ids(c, step=step) == want, step
    assert asked == [{"EX-003"}]
    changed = sum(1 for k in steps if (st := pathways["EX-003"].step(k)) is not None
                  and st.status in DUE_STATUSES)  # fmt: skip
    assert changed > 0  # her losses made steps due: the recomputation mattered


def test_patients_changed_since_names_the_women_written(cohort, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Added rows and audited edits name their woman; nothing written: nobody; a row
    removed: ``None`` (cannot tell)."""
    from sqlalchemy import delete

    from decidua.services.patients import patients_changed_since, record_mark
    from decidua.store import models as m

    with session_scope(cohort) as s:
        mark = record_mark(s)
        assert patients_changed_since(s, mark) == set()
    path = tmp_path / "inv.csv"
    path.write_text("patient_id,kind,date,interpretation\nEX-002,tsh,2023-01-01,normal\n")
    with session_scope(cohort) as s:
        import_file(s, "tester", "investigations", path)
        assert patients_changed_since(s, mark) == {"EX-002"}
        mark = record_mark(s)
    edit = tmp_path / "bio.csv"
    edit.write_text("biopsy_id,patient_id,cycle_number,lh_surge_date,biopsy_date,on_treatment,"
                    "clinic_call\nEX-001-B1,EX-001,1,2021-11-02,2021-11-10,false,normal\n")
    with session_scope(cohort) as s:
        import_file(s, "tester", "biopsies", edit, update=True)
        assert patients_changed_since(s, mark) == {"EX-001"}
        mark = record_mark(s)
        s.execute(delete(m.Intervention))
        assert patients_changed_since(s, mark) is None


def test_cached_patient_list_follows_writes(as_role, cohort, tmp_path,
                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The list is cached until a woman's record changes: a new woman and an edited last
    biopsy call show at once."""
    from decidua.services import patients

    searched = []
    real = patients.search_patients
    monkeypatch.setattr(patients, "search_patients",
                        lambda *a, **k: searched.append(1) or real(*a, **k))  # fmt: skip
    c = as_role("clinician")
    assert _ids(c, last_call="abnormal") == {"EX-002"}
    assert _ids(c, last_call="abnormal") == {"EX-002"}
    assert len(searched) == 1  # the second from the cache
    new = tmp_path / "p4.csv"
    new.write_text("patient_id,year_of_birth\nEX-004,1990\n")
    edit = tmp_path / "b.csv"
    edit.write_text("biopsy_id,patient_id,cycle_number,lh_surge_date,biopsy_date,on_treatment,"
                    "clinic_call\nEX-001-B2,EX-001,2,2021-12-01,2021-12-09,false,abnormal\n")
    with session_scope(cohort) as s:
        import_file(s, "tester", "patients", new)
    assert "EX-004" in _ids(c)
    with session_scope(cohort) as s:
        import_file(s, "tester", "biopsies", edit, update=True)
    assert _ids(c, last_call="abnormal") == {"EX-001", "EX-002"}
