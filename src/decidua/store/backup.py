"""Verified database backups and restores (``decidua db backup`` / ``db restore``).

SQLite: the online backup API of SQLite (a consistent copy while others read
and write; https://www.sqlite.org/backup.html). PostgreSQL: ``pg_dump``
custom format, restored with ``pg_restore --clean --single-transaction``.

A backup is *verified* after writing: SQLite's ``PRAGMA integrity_check`` on
the copy, or ``pg_restore --list`` on the dump, and for both the row count of
every Decidua table in the backup equal to the source's at the moment of the
copy. The counts and the schema revision are returned as a
:class:`BackupInfo`; ``db downgrade`` refuses to drop tables without one.
The backup is written to a temporary file next to the target and renamed
only once verified, so a failed or interrupted backup leaves no file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from decidua.io.readers import file_sha256
from decidua.store import models as m
from decidua.store.session import StoreError, dispose_engines, resolve_url, safe_url

#: Seconds pg_dump / pg_restore may take before the backup is abandoned.
PG_TIMEOUT_S = 600


@dataclass(frozen=True)
class BackupInfo:
    """A verified backup: file, schema revision and row count per table."""

    path: Path
    revision: str | None
    counts: dict[str, int]
    size_bytes: int

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


TABLES = tuple(t.name for t in m.Base.metadata.sorted_tables)


def _sqlite_path(url: str) -> Path:
    db = make_url(url).database
    if not db or db == ":memory:":
        raise StoreError("an in-memory SQLite database cannot be backed up or restored")
    return Path(db)


def _sqlite_counts(conn: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    counts = {
        t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES if t in names
    }
    revision = None
    if "alembic_version" in names:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    return revision, counts


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise StoreError(f"{target} is a folder: give a backup file name")
    if target.exists():
        raise StoreError(f"{target} exists: choose a new backup file name (nothing overwritten)")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise StoreError(f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise StoreError(f"folder {parent} is not writable")


def _tmp_beside(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    return Path(name)


def _os_error(exc: OSError, what: str) -> StoreError:
    return StoreError(f"{what}: {exc.strerror or exc}")


def backup(target: str | Path, url: str | None = None) -> BackupInfo:
    """Write a verified backup of the database to ``target`` (a new file).

    Raises
    ------
    StoreError
        Target exists / is a folder / not writable, the database cannot be
        read, or the copy fails verification (no file is left then).
    """
    target = Path(target)
    _check_target(target)
    resolved = resolve_url(url)
    if make_url(resolved).get_backend_name() == "sqlite":
        return _sqlite_backup(_sqlite_path(resolved), target)
    if make_url(resolved).get_backend_name() == "postgresql":
        return _pg_backup(resolved, target)
    raise StoreError(f"backups are supported for SQLite and PostgreSQL, not {safe_url(resolved)}")


def _sqlite_backup(source: Path, target: Path) -> BackupInfo:
    if not source.is_file():
        raise StoreError(f"no database file {source}")
    tmp = _tmp_beside(target)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
        try:
            dest = sqlite3.connect(tmp)
            try:
                with src:  # one read transaction: the counts are those of the copy
                    src.backup(dest)
                    revision, counts = _sqlite_counts(src)
                ok = dest.execute("PRAGMA integrity_check").fetchone()[0]
                got_rev, got = _sqlite_counts(dest)
            finally:
                dest.close()
        finally:
            src.close()
        if ok != "ok" or got != counts or got_rev != revision:
            raise StoreError(f"the backup of {source} failed verification ({ok}); nothing kept")
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up {source}: {exc}") from None
    except OSError as exc:
        raise _os_error(exc, f"cannot write the backup {target}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(target, revision, counts, target.stat().st_size)


def verify(path: str | Path) -> BackupInfo:
    """Check a backup file (integrity, Decidua schema) and return what it holds.

    SQLite backups are opened read-only; PostgreSQL dumps are listed with
    ``pg_restore --list`` (row counts are not known without restoring: ``{}``).

    Raises
    ------
    StoreError
        Missing, unreadable, corrupt, or not a Decidua backup.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"backup file {path} not found")
    head = path.read_bytes()[:16]
    if head.startswith(b"SQLite format 3"):
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
                revision, counts = _sqlite_counts(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"{path} is not a readable SQLite backup: {exc}") from None
        if ok != "ok":
            raise StoreError(f"{path} is corrupt ({ok})")
        if revision is None:
            raise StoreError(f"{path} is not a Decidua database backup (no schema revision)")
        return BackupInfo(path, revision, counts, path.stat().st_size)
    if head.startswith(b"PGDMP"):
        listing = _run([_pg_tool("pg_restore"), "--list", str(path)], {}, "pg_restore --list")
        if "TABLE DATA" not in listing or "alembic_version" not in listing:
            raise StoreError(f"{path} is not a Decidua database dump")
        revision, counts = None, {}
        manifest = _manifest_path(path)
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if data.get("sha256") == file_sha256(path):
                revision, counts = data.get("revision"), dict(data.get("counts", {}))
        return BackupInfo(path, revision, counts, path.stat().st_size)
    raise StoreError(f"{path} is neither a SQLite backup nor a pg_dump file")


def restore(source: str | Path, url: str | None = None) -> BackupInfo:
    """Replace the database's content with a verified backup.

    SQLite: the backup API copies the file into the database in one step
    (other connections are closed first). PostgreSQL: ``pg_restore --clean
    --if-exists --single-transaction`` (all or nothing).

    Raises
    ------
    StoreError
        The backup fails :func:`verify`, is of the other kind of database,
        or cannot be restored (the database is then unchanged).
    """
    info = verify(source)
    resolved = resolve_url(url)
    backend = make_url(resolved).get_backend_name()
    is_sqlite_file = Path(source).read_bytes()[:6] == b"SQLite"
    if backend == "sqlite":
        if not is_sqlite_file:
            raise StoreError("a pg_dump file cannot be restored into SQLite")
        target = _sqlite_path(resolved)
        dispose_engines()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                dest = sqlite3.connect(target, timeout=10)
                try:
                    src.backup(dest)
                    revision, counts = _sqlite_counts(dest)
                finally:
                    dest.close()
            finally:
                src.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot restore into {target}: {exc}") from None
        if counts != info.counts or revision != info.revision:
            raise StoreError(f"the restored database {target} differs from the backup")
        return info
    if backend == "postgresql":
        if is_sqlite_file:
            raise StoreError("a SQLite backup cannot be restored into PostgreSQL")
        dispose_engines()
        conninfo, env = _pg_conninfo(resolved)
        _run(
            [_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
             "--single-transaction", "--exit-on-error", "-d", conninfo, str(source)],
            env, "pg_restore",
        )  # fmt: skip
        return info
    raise StoreError(f"restores are supported for SQLite and PostgreSQL, not {safe_url(resolved)}")


# ---------------------------------------------------------------- PostgreSQL


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (d / name).exists():
                return str(d / name)
        raise StoreError(f"{name} not found: install the PostgreSQL client tools")
    return found


def _pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment carrying it."""
    u = make_url(url)
    env = {"PGPASSWORD": u.password} if u.password else {}
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(
            cmd, env={**os.environ, **env}, capture_output=True, text=True,
            timeout=PG_TIMEOUT_S, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise StoreError(f"{what} failed: {first}")
    return done.stdout


def _pg_counts(url: str) -> tuple[str | None, dict[str, int]]:
    from sqlalchemy import func, select, text

    from decidua.store.session import session_scope

    with session_scope(url) as s:
        counts = {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in m.Base.metadata.sorted_tables
        }
        revision = s.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return revision, counts


def _pg_backup(url: str, target: Path) -> BackupInfo:
    revision, counts = _pg_counts(url)
    conninfo, env = _pg_conninfo(url)
    tmp = _tmp_beside(target)
    try:
        _run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(tmp), conninfo], env, "pg_dump")
        verify(tmp)
        after_rev, after = _pg_counts(url)
        if after != counts or after_rev != revision:
            raise StoreError("the database changed while it was dumped; run the backup again")
        os.replace(tmp, target)
        # What the dump holds, for a later `db downgrade --backup` (tied to the bytes).
        _manifest_path(target).write_text(
            json.dumps({"revision": revision, "counts": counts, "sha256": file_sha256(target)}),
            encoding="utf-8",
        )
    except OSError as exc:
        raise _os_error(exc, f"cannot write the backup {target}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return BackupInfo(target, revision, counts, target.stat().st_size)


def _manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".manifest.json")


def current_counts(url: str | None = None) -> tuple[str | None, dict[str, int]]:
    """Schema revision and rows per Decidua table of a database (tables it lacks omitted)."""
    resolved = resolve_url(url)
    if make_url(resolved).get_backend_name() == "sqlite":
        path = _sqlite_path(resolved)
        if not path.exists():
            return None, {}
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _sqlite_counts(conn)
        finally:
            conn.close()
    from sqlalchemy import inspect

    from decidua.store.session import get_engine

    names = set(inspect(get_engine(resolved)).get_table_names())
    if not set(TABLES) <= names:
        return None, {}
    return _pg_counts(resolved)
