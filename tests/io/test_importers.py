"""Importers: all-or-nothing, row-level errors, idempotent, audited updates.

Run on real SQLite and (when configured) PostgreSQL databases.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from typer.testing import CliRunner

from decidua.cli import app
from decidua.errors import InputError
from decidua.io.importers import SPECS, import_file
from decidua.store import models as m
from decidua.store.session import session_scope

ORDER = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]
runner = CliRunner()


def load_all(url: str, folder: Path) -> None:
    for kind in ORDER:
        import_file(folder / f"{kind}.csv", kind, url=url, actor="tester")


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_examples_import_and_counts(snap, db: str, examples: Path) -> None:
    load_all(db, examples)
    snap = snap(db)
    assert snap["patient"] == 3
    assert snap["pregnancy"] == 7
    assert snap["biopsy"] == 4
    assert snap["assay_result"] == 3
    assert snap["import_run"] == 6
    # one 'create' audit event per written row
    assert len(snap["audit"]) == 3 + 7 + 6 + 4 + 1 + 3
    with session_scope(db) as s:
        b = s.scalars(select(m.Biopsy).where(m.Biopsy.code == "EX-001-B1")).one()
        assert b.lh_day == 8
        r = s.scalars(select(m.AssayResult)).first()
        assert r.source_sha256 and len(r.source_sha256) == 64
        assert r.values["cells_seeded"] == 500


def test_reimport_identical_changes_no_row_but_records_the_run(
    snap, db: str, examples: Path
) -> None:
    load_all(db, examples)
    before = snap(db)
    for kind in ORDER:
        rep = import_file(examples / f"{kind}.csv", kind, url=db, actor="tester")
        assert rep.inserted == rep.updated == 0
        assert rep.unchanged == rep.n_rows
        assert rep.import_run_id is not None
    after = snap(db)
    assert after["import_run"] == before["import_run"] + len(ORDER)
    assert {k: v for k, v in after.items() if k != "import_run"} == {
        k: v for k, v in before.items() if k != "import_run"
    }
    with session_scope(db) as s:
        runs = s.scalars(select(m.ImportRun).order_by(m.ImportRun.id)).all()[len(ORDER) :]
        assert [r.n_inserted for r in runs] == [0] * len(ORDER)
        assert all(len(r.sha256) == 64 and r.n_unchanged == r.n_rows for r in runs)
        assert runs[0].sha256 == s.scalars(select(m.ImportRun)).first().sha256


def test_changed_row_is_refused_without_update_and_audited_with_it(
    snap, db: str, examples: Path
) -> None:
    load_all(db, examples)
    rows = rows_of(examples / "pregnancies.csv")
    rows[0]["gestation_weeks"] = "9"
    changed = write_rows(examples / "preg2.csv", rows)
    before = snap(db)
    with pytest.raises(InputError) as err:
        import_file(changed, "pregnancies", url=db, actor="tester")
    assert err.value.row == 2 and err.value.column == "gestation_weeks"
    assert snap(db) == before

    rep = import_file(changed, "pregnancies", url=db, actor="alice", update_existing=True)
    assert rep.updated == 1 and rep.unchanged == len(rows) - 1
    with session_scope(db) as s:
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "update")).one()
        assert ev.actor == "alice"
        assert ev.before == {"gestation_weeks": 8.0}
        assert ev.after == {"gestation_weeks": 9.0}
        assert ev.entity == "pregnancy"


def test_dry_run_writes_nothing(snap, db: str, examples: Path) -> None:
    before = snap(db)
    rep = import_file(examples / "patients.csv", "patients", url=db, actor="t", dry_run=True)
    assert rep.inserted == 3 and rep.dry_run
    assert snap(db) == before


def test_xlsx_import_matches_csv(db: str, examples: Path, tmp_path: Path) -> None:
    rows = rows_of(examples / "patients.csv")
    wb = Workbook()
    ws = wb.active
    ws.append(list(rows[0]))
    for r in rows:
        ws.append([int(v) if k == "year_of_birth" else (v or None) for k, v in r.items()])
    xlsx = tmp_path / "patients.xlsx"
    wb.save(xlsx)
    rep = import_file(xlsx, "patients", url=db, actor="t")
    assert rep.inserted == 3
    # the same data as CSV is then identical: a no-op
    rep2 = import_file(examples / "patients.csv", "patients", url=db, actor="t")
    assert rep2.unchanged == 3 and rep2.inserted == 0


def test_unknown_parent_is_reported_per_row(snap, db: str, examples: Path) -> None:
    before = snap(db)
    with pytest.raises(InputError) as err:
        import_file(examples / "pregnancies.csv", "pregnancies", url=db, actor="t")
    assert len(err.value.problems) == 7
    assert {p.column for p in err.value.problems} == {"patient_id"}
    assert "unknown patient" in err.value.problems[0].reason
    assert snap(db) == before


def test_every_bad_row_is_reported_not_just_the_first(snap, db: str, examples: Path) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    rows = rows_of(examples / "pregnancies.csv")
    rows[1]["outcome"] = "misscarriage"
    rows[3]["gestation_weeks"] = "-2"
    rows[5]["outcome_date"] = "2019-02-30"
    path = write_rows(examples / "bad.csv", rows)
    before = snap(db)
    with pytest.raises(InputError) as err:
        import_file(path, "pregnancies", url=db, actor="t")
    found = {(p.row, p.column) for p in err.value.problems}
    assert found == {(3, "outcome"), (5, "gestation_weeks"), (7, "outcome_date")}
    assert snap(db) == before


FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()

# (kind, row index, column, bad value, expected words in the reason)
CELL_CASES = [
    ("patients", 0, "year_of_birth", "nineteen", "integer"),
    ("patients", 1, "bmi", "-4", "greater"),
    ("patients", 2, "consent_research", "maybe", "boolean"),
    ("patients", 0, "patient_id", "has space", "pattern"),
    ("pregnancies", 2, "outcome", "lost", "live_birth"),
    ("pregnancies", 1, "gestation_weeks", "-1", "greater"),
    ("pregnancies", 1, "outcome_date", FUTURE, "future"),
    ("pregnancies", 0, "order", "0", "greater"),
    ("investigations", 0, "kind", "crystal_ball", "unknown investigation"),
    ("investigations", 2, "value", "high", "number"),
    ("investigations", 1, "date", "01/09/2021", "YYYY-MM-DD"),
    ("investigations", 3, "interpretation", "fine", "normal"),
    ("biopsies", 0, "biopsy_date", "2021-12-01", "LH+ day"),
    ("biopsies", 1, "biopsy_date", "2021-11-30", "LH+ day"),
    ("biopsies", 2, "biopsy_date", FUTURE, "future"),
    ("biopsies", 0, "on_treatment", "sometimes", "boolean"),
    ("interventions", 0, "end_date", "2021-01-01", "before start_date"),
    ("interventions", 0, "kind", "magic", "sitagliptin"),
    ("cfu", 0, "cells_seeded", "0", "greater"),
    ("cfu", 1, "colonies", "-3", "greater"),
    ("cfu", 2, "colonies", "12.5", "integer"),
]


@pytest.mark.parametrize(("kind", "idx", "column", "value", "words"), CELL_CASES)
def test_bad_cell_names_row_and_column_and_changes_nothing(
    snap, db: str, examples: Path, kind: str, idx: int, column: str, value: str, words: str
) -> None:
    for parent in ORDER[: ORDER.index(kind)]:
        import_file(examples / f"{parent}.csv", parent, url=db, actor="t")
    rows = rows_of(examples / f"{kind}.csv")
    rows[idx][column] = value
    path = write_rows(examples / f"bad_{kind}.csv", rows)
    before = snap(db)
    result = runner.invoke(app, ["--db", db, "import", kind, str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"row {idx + 2}" in result.output
    assert f"column '{column}'" in result.output
    assert words.lower() in result.output.lower()
    assert snap(db) == before


@pytest.mark.parametrize("kind", ORDER)
def test_missing_required_column(db: str, examples: Path, kind: str) -> None:
    rows = rows_of(examples / f"{kind}.csv")
    required = SPECS[kind].required_columns
    drop = required[-1]
    path = write_rows(examples / "x.csv", rows, [c for c in rows[0] if c != drop])
    with pytest.raises(InputError) as err:
        import_file(path, kind, url=db, actor="t")
    assert err.value.column == drop and err.value.row == 1
    assert "missing" in err.value.reason


@pytest.mark.parametrize("kind", ORDER)
def test_duplicate_ids_inside_a_file(snap, db: str, examples: Path, kind: str) -> None:
    for parent in ORDER[: ORDER.index(kind)]:
        import_file(examples / f"{parent}.csv", parent, url=db, actor="t")
    rows = rows_of(examples / f"{kind}.csv")
    rows.append(dict(rows[0]))
    path = write_rows(examples / "dup.csv", rows)
    before = snap(db)
    with pytest.raises(InputError) as err:
        import_file(path, kind, url=db, actor="t")
    assert "duplicate key" in err.value.reason
    assert err.value.row == len(rows) + 1
    assert snap(db) == before


@pytest.mark.parametrize("kind", ORDER)
@pytest.mark.parametrize("content", ["empty", "header_only", "non_utf8", "garbage_10mb", "nul"])
def test_unreadable_files(snap, tmp_path: Path, kind: str, content: str) -> None:
    """File-level failures happen before any database work: one SQLite database suffices."""
    from decidua.store import migrate

    db = f"sqlite:///{tmp_path / 'u.sqlite'}"
    migrate.upgrade(db)
    with session_scope(db) as s:  # the acting user ($DECIDUA_USER) must be registered
        s.add(m.User(username="tester", role="admin"))
    path = tmp_path / f"{kind}.csv"
    header = ",".join(SPECS[kind].columns) + "\n"
    if content == "empty":
        path.write_bytes(b"")
    elif content == "header_only":
        path.write_text(header)
    elif content == "non_utf8":
        path.write_bytes(header.encode() + "X-1,caf\xe9\n".encode("latin-1"))
    elif content == "nul":
        path.write_bytes(header.encode() + b"a\x00b\n")
    else:
        path.write_bytes(os.urandom(10 * 1024 * 1024))
    before = snap(db)
    result = runner.invoke(app, ["--db", db, "import", kind, str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert str(path) in result.output
    if content in ("non_utf8", "nul"):
        assert "row 2" in result.output
    assert snap(db) == before


def test_unknown_kind_and_usage_exit_codes(db: str, examples: Path) -> None:
    r = runner.invoke(app, ["--db", db, "import", "spaceships", str(examples / "patients.csv")])
    assert r.exit_code == 1 and "unknown import kind" in r.output
    r = runner.invoke(app, ["--db", db, "import"])
    assert r.exit_code == 2


def test_missing_schema_is_a_user_error(empty_db: str, examples: Path) -> None:
    r = runner.invoke(app, ["--db", empty_db, "import", "patients", str(examples / "patients.csv")])
    assert r.exit_code == 1 and "db upgrade" in r.output


def test_cli_dry_run_and_json(snap, db: str, examples: Path) -> None:
    args = ["--db", db, "import", "patients", str(examples / "patients.csv")]
    r = runner.invoke(app, [*args, "--dry-run"])
    assert r.exit_code == 0 and "DRY RUN" in r.output
    assert snap(db)["patient"] == 0
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0
    assert '"inserted": 3' in r.output
    assert snap(db)["patient"] == 3


def test_xlsx_dates_and_corrupt_workbooks(snap, db: str, examples: Path, tmp_path: Path) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    wb = Workbook()
    ws = wb.active
    ws.append(["patient_id", "order", "outcome", "gestation_weeks", "outcome_date"])
    ws.append(["EX-001", 1, "miscarriage", 8, dt.datetime(2019, 3, 2)])
    ws.append(["EX-001", 2, "miscarriage", 7.5, dt.datetime(2030, 1, 1)])
    path = tmp_path / "preg.xlsx"
    wb.save(path)
    before = snap(db)
    with pytest.raises(InputError) as err:
        import_file(path, "pregnancies", url=db, actor="t")
    assert (err.value.row, err.value.column) == (3, "outcome_date")
    assert "future" in err.value.reason
    assert snap(db) == before

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    r = runner.invoke(app, ["--db", db, "import", "pregnancies", str(broken)])
    assert r.exit_code == 1 and "not a valid XLSX" in r.output
    assert snap(db) == before
