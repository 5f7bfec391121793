"""Alembic migrations on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from decidua.store import migrate
from decidua.store import models as m
from decidua.store.session import get_engine, session_scope

TABLES = {t.name for t in m.Base.metadata.sorted_tables}


def test_upgrade_from_empty_creates_every_table(empty_db: str) -> None:
    assert migrate.current_revision(empty_db) is None
    migrate.upgrade(empty_db)
    names = set(inspect(get_engine(empty_db)).get_table_names())
    assert TABLES <= names
    assert migrate.current_revision(empty_db) == migrate.head_revision()


def test_migrated_schema_matches_models(db: str) -> None:
    """The migration scripts and the ORM models describe the same schema."""
    with get_engine(db).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), m.Base.metadata)
    assert diffs == []


def test_downgrade_to_base_and_up_again(db: str) -> None:
    migrate.downgrade(db, "base")
    names = set(inspect(get_engine(db)).get_table_names())
    assert not (TABLES & names)
    assert migrate.current_revision(db) is None
    migrate.upgrade(db)
    assert TABLES <= set(inspect(get_engine(db)).get_table_names())


def test_foreign_keys_are_enforced(db: str) -> None:
    with pytest.raises(IntegrityError), session_scope(db) as s:
        s.add(m.Pregnancy(patient_id=999, order=1, outcome="miscarriage"))


def test_check_constraints_are_enforced(db: str) -> None:
    with session_scope(db) as s:
        s.add(m.Patient(pseudonym="P1", year_of_birth=1990))
    with pytest.raises(IntegrityError), session_scope(db) as s:
        pid = s.query(m.Patient.id).scalar()
        s.add(m.Pregnancy(patient_id=pid, order=1, outcome="not-an-outcome"))


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.sqlite'}"
    with get_engine(url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_lh_day_is_derived_not_stored(db: str) -> None:
    assert "lh_day" not in m.Biopsy.__table__.c
    b = m.Biopsy(code="B", biopsy_date=dt.date(2024, 1, 9), lh_surge_date=dt.date(2024, 1, 2))
    assert b.lh_day == 7


def test_each_revision_downgrades_one_step(db: str) -> None:
    """Walk the migration chain down and up one revision at a time."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(db))
    revisions = [r.revision for r in script.walk_revisions()]  # newest first
    assert len(revisions) >= 2
    for newer, older in zip(revisions, [*revisions[1:], None], strict=True):
        assert migrate.current_revision(db) == newer
        migrate.downgrade(db, older or "base")
    assert migrate.current_revision(db) is None
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
    assert "risk_assessment" in inspect(get_engine(db)).get_table_names()
