"""Fetal heart activity is stored with each pregnancy (schema 0011, nullable; issue 13).

Migration 0011 adds the column as NULL for every stored pregnancy (SQLite and, when
configured, PostgreSQL) and downgrade removes it again; the importer reads
``fetal_heart_activity`` (``true``/``false``/empty), refuses ``true`` for a biochemical
loss (never seen on ultrasound), and the stored value reaches the domain record.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import inspect, text
from typer.testing import CliRunner

from decidua.cli import app
from decidua.store import migrate
from decidua.store.records import load_patient_record
from decidua.store.session import get_engine, session_scope

runner = CliRunner()
NOW = dt.datetime(2026, 12, 3, 7, 0, tzinfo=dt.UTC)


def _columns(url: str) -> set[str]:
    return {c["name"] for c in inspect(get_engine(url)).get_columns("pregnancy")}


def test_0011_adds_a_nullable_column_and_downgrade_drops_it(empty_db: str) -> None:
    migrate.upgrade(empty_db, revision="0010")
    with get_engine(empty_db).begin() as c:
        c.execute(text(
            "INSERT INTO patient (id, pseudonym, year_of_birth, study_group, "
            "consent_research, consent_biobank, consent_contact, created_at) VALUES "
            "(1, 'FH-1', 1990, 'rpl', :t, :t, :t, :now)"), {"t": True, "now": NOW})
        c.execute(text(
            "INSERT INTO pregnancy (patient_id, pregnancy_order, outcome, conception, "
            "karyotype) VALUES (1, 1, 'miscarriage', 'unknown', 'not_tested')"))
    assert "fetal_heart_activity" not in _columns(empty_db)
    migrate.upgrade(empty_db, revision="0011")
    assert "fetal_heart_activity" in _columns(empty_db)
    with get_engine(empty_db).begin() as c:
        assert c.execute(text("SELECT fetal_heart_activity FROM pregnancy")).scalar() is None
        c.execute(text("UPDATE pregnancy SET fetal_heart_activity = :t"), {"t": True})
        assert c.execute(text("SELECT fetal_heart_activity FROM pregnancy")).scalar() in (
            True, 1)
    migrate.downgrade(empty_db, revision="0010")
    assert "fetal_heart_activity" not in _columns(empty_db)
    with get_engine(empty_db).connect() as c:  # the pregnancy itself is kept
        assert c.execute(text("SELECT COUNT(*) FROM pregnancy")).scalar() == 1


def test_import_stores_fetal_heart_activity_and_refuses_it_for_a_biochemical_loss(
        db: str, examples: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["--db", db, "import", "patients", str(examples / "patients.csv")])
    assert r.exit_code == 0, r.output
    f = tmp_path / "pregs.csv"
    f.write_text("patient_id,order,outcome,gestation_weeks,fetal_heart_activity\n"
                 "EX-002,1,miscarriage,9,true\n"
                 "EX-002,2,miscarriage,7,false\n"
                 "EX-002,3,miscarriage,8,\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "import", "pregnancies", str(f)])
    assert r.exit_code == 0, r.output
    with session_scope(db) as s:
        rec = load_patient_record(s, "EX-002")
    fh = {p.order: p.fetal_heart_activity for p in rec.pregnancies}
    assert fh[1] is True and fh[2] is False and fh[3] is None
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,order,outcome,fetal_heart_activity\nEX-002,4,biochemical,true\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "import", "pregnancies", str(bad)])
    assert r.exit_code == 1
    assert "fetal_heart_activity" in r.output and "Traceback" not in r.output
