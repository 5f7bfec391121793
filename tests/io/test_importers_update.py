"""Partial-column updates, readable conflicts and case-variant ids (issue #11, items 2 and 5).

Run on real SQLite and (when configured) PostgreSQL databases, using the
example import files under ``examples/import``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from decidua.errors import InputError
from decidua.io.importers import import_file
from decidua.store import models as m
from decidua.store.session import session_scope


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _patient(db: str, pid: str) -> m.Patient:
    with session_scope(db) as s:
        return s.scalars(select(m.Patient).where(m.Patient.pseudonym == pid)).one()


def test_absent_columns_are_unchanged(db: str, examples: Path, tmp_path: Path) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    f = _write(tmp_path / "p.csv", "patient_id,year_of_birth,bmi\nEX-001,1989,25.0\n")
    rep = import_file(f, "patients", url=db, actor="t", update_existing=True)
    assert rep.updated == 1
    p = _patient(db, "EX-001")
    assert p.bmi == 25.0
    # the columns the file leaves out keep their stored values (consent is not revoked)
    assert p.ethnicity == "White British" and p.study_group == "rpl"
    assert p.consent_research is True and p.consent_biobank is True


def test_empty_cell_clears_only_where_allowed(db: str, examples: Path, tmp_path: Path) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    f = _write(
        tmp_path / "p.csv",
        "patient_id,year_of_birth,ethnicity,consent_research\nEX-001,1989,,\n",
    )
    rep = import_file(f, "patients", url=db, actor="t", update_existing=True)
    assert rep.updated == 1
    p = _patient(db, "EX-001")
    assert p.ethnicity is None  # an optional text field is cleared by an empty cell
    assert p.consent_research is True  # an empty consent cell never revokes a consent
    revoke = _write(
        tmp_path / "r.csv", "patient_id,year_of_birth,consent_research\nEX-001,1989,no\n"
    )
    import_file(revoke, "patients", url=db, actor="t", update_existing=True)
    assert _patient(db, "EX-001").consent_research is False


def test_conflict_names_column_and_woman_not_internal_keys(
    db: str, examples: Path, tmp_path: Path
) -> None:
    for kind in ("patients", "pregnancies"):
        import_file(examples / f"{kind}.csv", kind, url=db, actor="t")
    f = _write(
        tmp_path / "preg.csv",
        "patient_id,order,outcome,gestation_weeks\nEX-002,2,miscarriage,11\n",
    )
    with pytest.raises(InputError) as err:
        import_file(f, "pregnancies", url=db, actor="t")
    (problem,) = err.value.problems
    assert problem.column == "gestation_weeks" and problem.row == 2
    assert "patient_id=EX-002;order=2" in problem.reason
    rep = import_file(f, "pregnancies", url=db, actor="alice", update_existing=True)
    assert rep.changes[0]["key"] == "patient_id=EX-002;order=2"
    with session_scope(db) as s:
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "update")).one()
        created = s.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.action == "create", m.AuditEvent.entity == "pregnancy"
            )
        ).first()
    assert ev.entity_key == "patient_id=EX-002;order=2"
    assert set(ev.before) == {"gestation_weeks"}
    # creations name the woman by her id too, never by the database's key
    assert created.after["patient_id"].startswith("EX-")
    assert created.entity_key.startswith("patient_id=EX-")


def test_partial_cfu_update_keeps_other_values(db: str, examples: Path, tmp_path: Path) -> None:
    for kind in ("patients", "biopsies", "cfu"):
        import_file(examples / f"{kind}.csv", kind, url=db, actor="t")
    with session_scope(db) as s:
        before = {r.id: dict(r.values) for r in s.scalars(select(m.AssayResult))}
        first = s.scalars(select(m.AssayResult).order_by(m.AssayResult.id)).first()
        bid = s.get(m.Biopsy, first.biopsy_id).code
        plate, well, seeded = (first.values[k] for k in ("plate", "well", "cells_seeded"))
    f = _write(
        tmp_path / "c.csv",
        f"biopsy_id,plate,well,cells_seeded,colonies\n{bid},{plate},{well},{seeded},7\n",
    )
    rep = import_file(f, "cfu", url=db, actor="t", update_existing=True)
    assert rep.updated == 1 and rep.changes[0]["before"].keys() == {"colonies"}
    with session_scope(db) as s:
        after = s.get(m.AssayResult, first.id)
        assert after.values == {**before[first.id], "colonies": 7}


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ("EX-009,1990\nex-009,1991\n", "differs only in letter case from 'EX-009' in row 2"),
        ("ex-001,1990\n", "differs only in letter case from the stored id 'EX-001'"),
    ],
)
def test_case_variant_ids_are_refused(
    snap, db: str, examples: Path, tmp_path: Path, rows: str, words: str
) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    before = snap(db)
    f = _write(tmp_path / "p.csv", "patient_id,year_of_birth\n" + rows)
    with pytest.raises(InputError) as err:
        import_file(f, "patients", url=db, actor="t")
    assert words in str(err.value)
    assert err.value.problems[-1].column == "patient_id"
    assert snap(db) == before


def test_child_row_with_case_variant_parent_gets_a_hint(
    db: str, examples: Path, tmp_path: Path
) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    f = _write(tmp_path / "pr.csv", "patient_id,order,outcome\nex-001,9,miscarriage\n")
    with pytest.raises(InputError) as err:
        import_file(f, "pregnancies", url=db, actor="t")
    assert "the stored id is 'EX-001'" in str(err.value)


def test_files_above_the_row_cap_are_refused(
    snap, db: str, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decidua.io import importers

    monkeypatch.setattr(importers, "MAX_IMPORT_ROWS", 2)  # the example file has 3 rows
    before = snap(db)
    with pytest.raises(InputError) as err:
        import_file(examples / "patients.csv", "patients", url=db, actor="t")
    assert "at most 2 are imported at once: split the file" in str(err.value)
    assert snap(db) == before
