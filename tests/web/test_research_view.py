"""A researcher sees the research export's keyed pseudonyms, age and BMI bands, and no
free text, on every page and API call; clinic ids do not even resolve for her.

The pseudonyms are checked against the real pseudonymised export written with the same
``DECIDUA_EXPORT_KEY`` (``decidua.services.export.export``), not against our own code.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from decidua.services.imports import import_file
from decidua.store.session import session_scope

KEY = "k" * 16 + "0123456789abcdef"  # 32 characters, the export's minimum
#: What identifies a woman or is free text in the example files (never shown to a researcher).
FORBIDDEN = ("EX-00", "1989", "1985", "1992", "23.4", "White British", "South Asian",
             "47,XX,+16", "3D ultrasound: normal cavity", "repeat in 12 weeks", "100 mg daily",
             "SIT-1", "CFU-2021", "cfu.csv", "unk.csv", "GPL/mL")  # fmt: skip


@pytest.fixture
def research(web_db: str, examples: Path, tmp_path: Path, monkeypatch, tokens):  # type: ignore[no-untyped-def]
    """The example files loaded; the export's pseudonyms with KEY, by clinic id."""
    from decidua.services.export import export

    monkeypatch.setenv("DECIDUA_EXPORT_KEY", KEY)
    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions",
                     "cfu", "unk"):  # fmt: skip
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    with session_scope(web_db) as s:
        export(s, "tester", tmp_path / "export", include_non_consented=True)
    with (tmp_path / "export" / "patients.csv").open(encoding="utf-8") as f:
        pseudonyms = {r["patient"] for r in csv.DictReader(f)}
    with (tmp_path / "export" / "biopsies.csv").open(encoding="utf-8") as f:
        biopsies = {r["biopsy"] for r in csv.DictReader(f)}
    assert len(pseudonyms) == 3 and len(biopsies) == 4
    return pseudonyms, biopsies


def _clean(text: str) -> None:
    for word in FORBIDDEN:
        if re.fullmatch(r"[0-9.]+", word):  # a number as a number, not inside a timestamp or hash
            found = re.search(rf"(?<![0-9A-Za-z.:]){re.escape(word)}(?![0-9A-Za-z])", text)
            assert found is None, word
        else:
            assert word not in text, word


def _pseudonyms(text: str, prefix: str) -> set[str]:
    return set(re.findall(rf"\b{prefix}[0-9a-f]{{16}}\b", text))


def test_patient_list_shows_the_export_pseudonyms_and_age_bands(as_role, research) -> None:  # type: ignore[no-untyped-def]
    pseudonyms, _ = research
    c = as_role("researcher")
    page = c.get("/patients").text
    _clean(page)
    assert _pseudonyms(page, "P") == pseudonyms
    assert "Age band" in page and re.search(r"<td>(&lt;25|\d\d-\d\d|&gt;=45)</td>", page)
    one = sorted(pseudonyms)[0]
    found = c.get("/patients", params={"search": one[3:12]}).text  # part of a pseudonym
    assert _pseudonyms(found, "P") == {one}
    assert "No woman matches." in c.get("/patients", params={"search": "EX-001"}).text
    clin = as_role("clinician").get("/patients").text  # others still see the clinic ids
    assert "EX-001" in clin and not _pseudonyms(clin, "P")


def test_age_filters_widen_to_whole_bands_for_a_researcher(as_role, research) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    age = dt.date.today().year - 1989  # EX-001, alone in her band among the examples
    lo = age - age % 5 if age >= 25 else 0
    other = lo + 1 if age != lo + 1 else lo + 2  # an age in her band that is not hers
    c = as_role("researcher")
    band = _pseudonyms(c.get("/patients", params={"min_age": lo, "max_age": lo + 4}).text, "P")
    assert len(band) == 1
    for a in (age, other):
        found = c.get("/patients", params={"min_age": a, "max_age": a}).text
        assert _pseudonyms(found, "P") == band  # widened to the band: her exact age is hidden
    clin = as_role("clinician")
    assert "EX-001" in clin.get("/patients", params={"min_age": age, "max_age": age}).text
    assert "EX-001" not in clin.get("/patients", params={"min_age": other, "max_age": other}).text


def test_patient_page_and_audit_show_no_identifying_field(as_role, research) -> None:  # type: ignore[no-untyped-def]
    pseudonyms, biopsies = research
    c = as_role("researcher")
    listing = c.get("/patients").text
    for p in pseudonyms:
        page = c.get(f"/patients/{p}")
        assert page.status_code == 200, page.text[:300]
        _clean(page.text)
        assert f"Patient {p}" in page.text and "Age band" in page.text
        assert _pseudonyms(page.text, "B") <= biopsies
        audit = c.get(f"/patients/{p}/audit")
        assert audit.status_code == 200 and "create" in audit.text
        _clean(audit.text)
    page = c.get(f"/patients/{sorted(pseudonyms)[0]}").text
    assert "BMI band" in page or "—" in page
    assert c.get("/patients/EX-001").status_code == 404  # a clinic id names no one for her
    assert c.get("/patients/EX-001/audit").status_code == 404
    assert "EX-001" not in listing


def test_biopsy_page_shows_numbers_without_file_names_or_batches(as_role, research) -> None:  # type: ignore[no-untyped-def]
    _, biopsies = research
    c = as_role("researcher")
    seen = 0
    for b in biopsies:
        r = c.get(f"/biopsies/{b}")
        assert r.status_code == 200, r.text[:300]
        _clean(r.text)
        assert f"Biopsy {b}" in r.text
        seen += '"colonies": ' in r.text or '"cd56_positive": ' in r.text
    assert seen >= 2  # the numbers are there (CFU and uNK of EX-001-B1, EX-001-B2, EX-003-B1)
    assert c.get("/biopsies/EX-001-B1").status_code == 404
    clin = as_role("clinician").get("/biopsies/EX-001-B1").text
    assert "CFU-2021-11" in clin  # a clinician still sees the batch


def test_api_gives_a_researcher_pseudonyms_only(app, research, tokens) -> None:  # type: ignore[no-untyped-def]
    pseudonyms, biopsies = research
    api = TestClient(app, headers={"Authorization": f"Bearer {tokens['researcher']}"})
    listing = api.get("/api/v1/patients")
    assert listing.status_code == 200
    _clean(listing.text)
    rows = listing.json()["patients"]
    assert {r["patient_id"] for r in rows} == pseudonyms
    assert all(r["year_of_birth"] is None and r["age_band"] for r in rows)
    for p in pseudonyms:
        d = api.get(f"/api/v1/patients/{p}")
        assert d.status_code == 200
        _clean(d.text)
        body = d.json()
        assert body["patient_id"] == p and body["year_of_birth"] is None and body["bmi"] is None
        assert {b["biopsy_id"] for b in body["biopsies"]} <= biopsies
        a = api.get(f"/api/v1/patients/{p}/audit")
        assert a.status_code == 200 and a.json()
        _clean(a.text)
        assert all(e["key"] is None and e["before"] is None for e in a.json())
    for b in biopsies:
        r = api.get(f"/api/v1/biopsies/{b}")
        assert r.status_code == 200 and r.json()["biopsy"] == b
        _clean(r.text)
        assert all("source_file" not in x and "batch" not in x for x in r.json()["results"])
    assert api.get("/api/v1/patients/EX-001").status_code == 404
    assert api.get("/api/v1/biopsies/EX-001-B1").status_code == 404
    admin = TestClient(app, headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert admin.get("/api/v1/patients/EX-001").json()["year_of_birth"] == 1989
