"""Verified backup / restore round trips and a guarded downgrade (issue #11, item 4).

Real SQLite files (online backup API) and, when configured, real PostgreSQL
databases (pg_dump / pg_restore), filled with the example import files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.io.importers import import_file
from decidua.store import backup, migrate
from decidua.store.session import StoreError

runner = CliRunner()
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]


def _fill(db: str, examples: Path) -> None:
    for kind in KINDS:
        import_file(examples / f"{kind}.csv", kind, url=db, actor="tester")


def test_backup_restore_round_trip(snap, db: str, examples: Path, tmp_path: Path) -> None:
    _fill(db, examples)
    before = snap(db)
    target = tmp_path / "b.bak"
    r = runner.invoke(app, ["--db", db, "db", "backup", str(target)])
    assert r.exit_code == 0, r.output
    assert "Verified backup" in r.output and target.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    # a second backup never overwrites the first
    r = runner.invoke(app, ["--db", db, "db", "backup", str(target)])
    assert r.exit_code == 1 and "exists" in r.output

    args = ["--db", db, "db", "downgrade", "base", "--yes", "--backup", str(target)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert migrate.current_revision(db) is None

    r = runner.invoke(app, ["--db", db, "db", "restore", str(target)])
    assert r.exit_code == 0, r.output
    assert migrate.current_revision(db) == migrate.head_revision()
    assert snap(db) == before


def test_downgrade_needs_confirmation_and_a_backup(
    snap, db: str, examples: Path, tmp_path: Path
) -> None:
    _fill(db, examples)
    before = snap(db)
    r = runner.invoke(app, ["--db", db, "db", "downgrade", "base"])
    assert r.exit_code == 1 and "--yes" in r.output
    r = runner.invoke(app, ["--db", db, "db", "downgrade", "base", "--yes"])
    assert r.exit_code == 1 and "backup" in r.output
    assert snap(db) == before
    assert migrate.current_revision(db) == migrate.head_revision()


def test_stale_backup_is_refused_for_a_downgrade(
    snap, db: str, examples: Path, tmp_path: Path
) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="tester")
    old = tmp_path / "old.bak"
    backup.backup(old, db)
    import_file(examples / "pregnancies.csv", "pregnancies", url=db, actor="tester")
    before = snap(db)
    r = runner.invoke(app, ["--db", db, "db", "downgrade", "base", "--yes", "--backup", str(old)])
    assert r.exit_code == 1 and "not a backup of the database as it is now" in r.output
    assert snap(db) == before


def test_corrupt_backup_is_refused_and_database_unchanged(
    snap, db: str, examples: Path, tmp_path: Path
) -> None:
    _fill(db, examples)
    before = snap(db)
    bad = tmp_path / "bad.bak"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(StoreError):
        backup.verify(bad)
    r = runner.invoke(app, ["--db", db, "db", "restore", str(bad), "--yes"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    other = tmp_path / "not-a-backup.bak"
    other.write_text("hello")
    r = runner.invoke(app, ["--db", db, "db", "restore", str(other), "--yes"])
    assert r.exit_code == 1 and "neither" in r.output
    assert snap(db) == before


def test_restore_over_data_needs_yes(snap, db: str, examples: Path, tmp_path: Path) -> None:
    _fill(db, examples)
    target = tmp_path / "b.bak"
    backup.backup(target, db)
    r = runner.invoke(app, ["--db", db, "db", "restore", str(target)])
    assert r.exit_code == 1 and "--yes" in r.output
    r = runner.invoke(app, ["--db", db, "db", "restore", str(target), "--yes"])
    assert r.exit_code == 0, r.output
