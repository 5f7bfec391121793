"""A researcher on the command line sees what the web application shows her: research
pseudonyms and age bands, never a woman's clinic id, year of birth or free text (a
reviewer found `patient show` and `patients list` printing them to a researcher)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from decidua.cli import app
from decidua.services.export import research_age_band, research_bmi_band, research_ids
from decidua.store import models as m
from decidua.store.session import session_scope

runner = CliRunner()
KEY = "a-research-key-of-enough-characters-0123"

#: Every read command that would name one woman (or one of her biopsies) as the clinic
#: knows her: refused to a researcher (`patient show` is pseudonymised instead).
IDENTIFIED = [
    ["patient", "monitor", "DEC-0003"],
    ["risk", "patient", "DEC-0003"],
    ["risk", "history", "DEC-0003"],
    ["pathway", "patient", "DEC-0003"],
    ["biopsy", "show", "{biopsy}"],
]


def _stored(url: str) -> tuple[dict[str, int], list[str], list[str]]:
    """Clinic ids with year of birth, biopsy codes, and stored free text (ethnicity, arms,
    doses, investigation text)."""
    with session_scope(url) as s:
        born = dict(s.execute(select(m.Patient.pseudonym, m.Patient.year_of_birth)).all())
        codes = list(s.scalars(select(m.Biopsy.code)))
        text = [t for t in s.scalars(select(m.Patient.ethnicity)) if t]
        for model, col in ((m.Intervention, "trial_arm"), (m.Intervention, "dose"),
                           (m.Investigation, "text")):
            if hasattr(model, col):
                text += [t for t in s.scalars(select(getattr(model, col))) if t]
    return born, codes, sorted(set(text))


@pytest.fixture
def researcher(demo_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    r = runner.invoke(app, ["--db", demo_db, "users", "add", "rita", "--role", "researcher"])
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("DECIDUA_USER", "rita")
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", KEY)
    return demo_db


def test_patients_list_shows_a_researcher_pseudonyms_and_age_bands(researcher: str) -> None:
    born, codes, text = _stored(researcher)
    with session_scope(researcher) as s:
        ids = research_ids(s, KEY.encode())
    r = runner.invoke(app, ["--db", researcher, "patients", "list", "--limit", "0", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["patients"]
    assert len(rows) == len(born)
    back = {ids.patients[c]: c for c in born}
    for row in rows:
        assert "year_of_birth" not in row
        clinic = back[row["patient_id"]]  # the export's pseudonym (same key)
        assert row["age_band"] == research_age_band(born[clinic])
    assert not {str(y) for y in born.values()} & set(re.findall(r"\d+", r.stdout))
    assert not any(c in r.stdout for c in [*born, *codes, *text])

    r = runner.invoke(app, ["--db", researcher, "patients", "list", "--limit", "0"])
    assert r.exit_code == 0, r.output
    assert "age" in r.stdout and "born" not in r.stdout
    assert not re.search(r"\b(19|20)\d\d\b", r.stdout), r.stdout
    assert not any(c in r.stdout for c in [*born, *codes, *text])
    assert sum(p in r.stdout for p in back) == len(born)


def test_a_researcher_is_refused_identified_commands_and_told_what_she_may_use(
        researcher: str) -> None:
    born, codes, text = _stored(researcher)
    code = next(c for c in codes)
    for args in IDENTIFIED:
        args = [a.format(biopsy=code) for a in args]
        for extra in ([], ["--json"]):
            r = runner.invoke(app, ["--db", researcher, *args, *extra])
            assert r.exit_code == 1, (args, r.output)
            assert r.stdout == "", (args, r.stdout)
            said = " ".join(r.output.split())
            assert "--pseudonymise" in said and "web application" in said, said
            assert str(born["DEC-0003"]) not in said
            assert not any(t in said for t in text)


def test_other_roles_still_see_the_identified_record(demo_db: str) -> None:
    r = runner.invoke(app, ["--db", demo_db, "patient", "show", "DEC-0003", "--json"])
    assert r.exit_code == 0, r.output
    born, _, _ = _stored(demo_db)
    assert json.loads(r.stdout)["year_of_birth"] == born["DEC-0003"]
    r = runner.invoke(app, ["--db", demo_db, "patients", "list", "--json"])
    assert json.loads(r.stdout)["patients"][0]["patient_id"].startswith("DEC-")


def test_patient_show_gives_a_researcher_the_pseudonymised_record(researcher: str) -> None:
    born, codes, text = _stored(researcher)
    with session_scope(researcher) as s:
        ids = research_ids(s, KEY.encode())
        bmi = s.scalar(select(m.Patient.bmi).where(m.Patient.pseudonym == "DEC-0003"))
        ethnicity = s.scalar(select(m.Patient.ethnicity)
                             .where(m.Patient.pseudonym == "DEC-0003"))
        mine = [ids.biopsies[c] for c in s.scalars(
            select(m.Biopsy.code).join(m.Patient).where(m.Patient.pseudonym == "DEC-0003"))]
    pseudonym = ids.patients["DEC-0003"]
    assert mine
    for extra in (["--json"], []):
        r = runner.invoke(app, ["--db", researcher, "patient", "show", pseudonym, *extra])
        assert r.exit_code == 0, r.output
        assert pseudonym in r.stdout
        assert not any(c in r.stdout for c in [*born, *codes, *text]), r.stdout
        assert str(born["DEC-0003"]) not in r.stdout
        if bmi is not None:
            assert f"{bmi}" not in r.stdout
        if ethnicity:
            assert ethnicity not in r.stdout
    doc = json.loads(runner.invoke(
        app, ["--db", researcher, "patient", "show", pseudonym, "--json"]).stdout)
    assert doc["age_band"] == research_age_band(born["DEC-0003"])
    assert doc["bmi_band"] == research_bmi_band(bmi)
    assert "year_of_birth" not in doc and "bmi" not in doc
    assert all(b in json.dumps(doc) for b in mine)  # her biopsies, by their pseudonyms
    # the clinic's id names no one for her (as on the web), and it needs the export's key
    r = runner.invoke(app, ["--db", researcher, "patient", "show", "DEC-0003"])
    assert r.exit_code == 1 and "no woman 'DEC-0003'" in " ".join(r.output.split())


def test_a_researcher_needs_the_export_key_to_name_a_woman(
        researcher: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DECIDUA_EXPORT_KEY pseudonyms hold for one run only: naming one is refused."""
    monkeypatch.delenv("DECIDUA_EXPORT_KEY")
    r = runner.invoke(app, ["--db", researcher, "patient", "show", "Pabc", "--json"])
    assert r.exit_code == 1 and r.stdout == ""
    assert "DECIDUA_EXPORT_KEY" in r.output
    r = runner.invoke(app, ["--db", researcher, "patients", "list", "--json"])
    assert r.exit_code == 0 and "random for this run" in r.stderr
    assert json.loads(r.stdout)["patients"][0]["patient_id"].startswith("P")
