"""A database populated at migration 0003 (patients, pregnancies, biopsies, assay results)
upgraded to head keeps every row, and `biopsy show` / `biopsy analyse` work on it
(SQLite always; PostgreSQL when the suite's PostgreSQL fixture is configured).

The timing placement's link to its qPCR result (``derived_from_id``) is checked
explicitly: on SQLite, migration 0008's table rebuild used to set it to NULL.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select, text
from typer.testing import CliRunner

from decidua.cli import app
from decidua.store import migrate
from decidua.store import models as m
from decidua.store.session import get_engine, session_scope, set_default_url

runner = CliRunner()
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _populate_at_0003(url: str) -> None:
    """Rows written as the 0003 schema knew them (raw SQL: today's models have more)."""
    migrate.upgrade(url, revision="0003")
    assert migrate.current_revision(url) == "0003"
    with get_engine(url).begin() as c:
        for pid in (1, 2):
            c.execute(
                text(
                    "INSERT INTO patient (id, pseudonym, year_of_birth, bmi, study_group, "
                    "consent_research, consent_biobank, consent_contact, created_at) VALUES "
                    "(:id, :p, 1987, 23.5, 'rpl', :t, :f, :t, :now)"
                ),
                {"id": pid, "p": f"OLD-{pid}", "t": True, "f": False, "now": NOW},
            )
            for order, outcome in ((1, "miscarriage"), (2, "miscarriage"), (3, "live_birth")):
                c.execute(
                    text(
                        "INSERT INTO pregnancy (patient_id, pregnancy_order, outcome, "
                        "gestation_weeks, conception, karyotype, outcome_date) VALUES "
                        "(:pid, :o, :out, 8.0, 'spontaneous', 'not_tested', :d)"
                    ),
                    {"pid": pid, "o": order, "out": outcome, "d": dt.date(2020 + order, 3, 1)},
                )
            c.execute(
                text(
                    "INSERT INTO biopsy (id, code, patient_id, cycle_number, lh_surge_date, "
                    "biopsy_date, on_treatment, clinic_call) VALUES (:id, :code, :pid, 1, :s, :b, "
                    ":f, 'abnormal')"
                ),
                {
                    "id": pid,
                    "code": f"OLD-{pid}-B1",
                    "pid": pid,
                    "s": dt.date(2024, 5, 1),
                    "b": dt.date(2024, 5, 9),
                    "f": False,
                },
            )
        rows = [
            (1, "qpcr", "plate=old", {"markers": {"PRL": {"delta_cq": 8.2, "flags": []}}}, "pass"),
            (
                1,
                "timing",
                "timing:old",
                {
                    "estimated_lh_day": 8.4,
                    "interval": [7.1, 9.7],
                    "asynchronous": False,
                    "callable": True,
                },
                "pass",
            ),
            (
                1,
                "cfu",
                "w1",
                {"plate": "P", "well": "A1", "cells_seeded": 500, "colonies": 9},
                "pass",
            ),
            (
                1,
                "cfu",
                "w2",
                {"plate": "P", "well": "A2", "cells_seeded": 500, "colonies": 7},
                "pass",
            ),
            (
                2,
                "unk",
                "f1",
                {
                    "field": 1,
                    "cd56_positive": 9,
                    "stromal_cells": 100,
                    "magnification": "x400",
                    "protocol": "tuckerman2007",
                },
                "pass",
            ),
        ]
        for i, (bid, kind, key, values, qc) in enumerate(rows, start=1):
            c.execute(
                text(
                    'INSERT INTO assay_result (id, biopsy_id, kind, result_key, "values", '
                    "qc_status, created_at, importer_version, analysis_version, derived_from_id) "
                    "VALUES (:id, :bid, :kind, :key, :v, :qc, :now, 'old/1', :av, :df)"
                ),
                {
                    "id": i,
                    "bid": bid,
                    "kind": kind,
                    "key": key,
                    "v": json.dumps(values),
                    "qc": qc,
                    "now": NOW,
                    "av": "default old" if kind == "timing" else None,
                    "df": 1 if kind == "timing" else None,
                },
            )
        if c.dialect.name == "postgresql":  # explicit ids above: move the id sequences on
            for table in ("patient", "biopsy", "assay_result"):
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))


def test_populated_0003_database_upgrades_to_head(empty_db: str) -> None:
    url = empty_db
    _populate_at_0003(url)
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    with session_scope(url) as s:
        counts = {
            t.__tablename__: s.scalar(select(func.count()).select_from(t))
            for t in (m.Patient, m.Pregnancy, m.Biopsy, m.AssayResult)
        }
        assert counts == {"patient": 2, "pregnancy": 6, "biopsy": 2, "assay_result": 5}
        p = s.scalar(select(m.Patient).where(m.Patient.pseudonym == "OLD-1"))
        assert (p.year_of_birth, p.bmi, p.study_group) == (1987, 23.5, "rpl")
        b = s.scalar(select(m.Biopsy).where(m.Biopsy.code == "OLD-1-B1"))
        assert (b.lh_day, b.clinic_call) == (8, "abnormal")
        t = s.scalar(select(m.AssayResult).where(m.AssayResult.kind == "timing"))
        assert t.values["estimated_lh_day"] == 8.4 and t.derived_from_id == 1
        assert t.analysis_version == "default old"
        if url.startswith("sqlite"):  # foreign keys back on after the migration
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with session_scope(url) as s:  # the acting user of the tests ($DECIDUA_USER), an admin
        s.add(m.User(username="tester", role="admin", active=True))
    set_default_url(url)
    res = runner.invoke(app, ["--db", url, "biopsy", "show", "OLD-1-B1", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["biopsy"] == "OLD-1-B1" and doc["stored"] is False
    assert doc["call"] in ("normal", "abnormal", "uncallable")
    assert sorted(r["kind"] for r in doc["results"]) == ["cfu", "cfu", "qpcr", "timing"]
    assert doc["timing"]["estimated_lh_day"] == 8.4
    res = runner.invoke(app, ["--db", url, "biopsy", "analyse", "--all", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["inserted"] == 2
    res = runner.invoke(app, ["--db", url, "biopsy", "show", "OLD-2-B1", "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.stdout)
    assert shown["stored"] is True
    assert any(c["name"] == "unk" for c in shown["components"])
