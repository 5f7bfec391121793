"""Database use cases: schema check and upgrade (Alembic), verified backup, restore, downgrade.

``db downgrade`` drops tables (``base`` drops every table and the audit
trail), so it needs an admin (:mod:`decidua.services.access`), an explicit
confirmation, and — when any table holds rows — a verified backup: either
written by the downgrade itself (``--backup FILE`` naming a new file) or an
existing verified backup whose schema revision and row counts equal the
database's now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from decidua.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SCHEMA_MISSING = "the database schema is missing or out of date: run `decidua db upgrade`"


def schema_missing_message(url: str | None = None) -> str:
    """:data:`SCHEMA_MISSING`, and where the demo database is when ``url`` is the embedded
    default and a demo exists (`make demo` writes var/demo.sqlite, not var/decidua.sqlite,
    so `decidua report patient DEC-0003 …` right after it found no schema)."""
    from decidua.settings import get_settings
    from decidua.store.session import default_sqlite_path, resolve_url

    demo = get_settings().demo_path
    if resolve_url(url) == f"sqlite:///{default_sqlite_path()}" and Path(demo).is_file():
        return (f"{SCHEMA_MISSING}; the demo database is {demo}: add "
                f"`--db sqlite:///{demo}` to use it")
    return SCHEMA_MISSING


def _sqlite_has_schema(path: Path) -> bool:
    """Whether a SQLite file holds Decidua's schema (read only: never creates the file)."""
    import sqlite3

    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        row = con.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            ("alembic_version",)).fetchone()
        return bool(row and row[0])
    except sqlite3.Error:
        return False
    finally:
        con.close()


def demo_in_place_of_default() -> str | None:
    """The demo database's URL when a read-only command should use it instead of the default.

    That is when no database was chosen (no ``--db``, no ``$DECIDUA_DATABASE_URL``), the
    embedded default ``<data_dir>/decidua.sqlite`` has no schema yet and
    ``<data_dir>/demo.sqlite`` (written by ``decidua demo``) has one: right after
    ``make demo``, ``decidua report patient DEC-0003 -o x.pdf`` then reads the demo.
    ``None`` otherwise (the caller keeps the default and its "run db upgrade" error).
    """
    from decidua.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return None
    if _sqlite_has_schema(Path(settings.sqlite_path)):
        return None
    demo = Path(settings.demo_path)
    return f"sqlite:///{demo}" if _sqlite_has_schema(demo) else None


def safe_url(url: str) -> str:
    """A database URL fit to print (password hidden)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def revisions(url: str | None = None) -> tuple[str | None, str | None]:
    """``(current, head)``: the database's schema revision and the latest shipped one."""
    from decidua.store import migrate

    return migrate.current_revision(url), migrate.head_revision()


def require_schema(session: Session | None = None) -> None:
    """Refuse to work on a database whose schema is missing or not the latest.

    The shipped head is read once per process (:func:`decidua.store.migrate.head_revision`);
    the database's own revision is read on every call (one indexed SELECT, ~1 ms), so a
    schema changed by another process (``db downgrade`` in a shell while the web
    application runs) is still refused.

    Parameters
    ----------
    session
        Checks the session's database; ``None`` checks the default database.

    Raises
    ------
    InputError
        Telling the user to run ``decidua db upgrade``.
    """
    from alembic.runtime.migration import MigrationContext

    from decidua.store import migrate

    if session is None:
        current = migrate.current_revision()
    else:
        current = MigrationContext.configure(session.connection()).get_current_revision()
    if current != migrate.head_revision():
        raise InputError(SCHEMA_MISSING)


def upgrade(revision: str = "head", url: str | None = None) -> tuple[str | None, str]:
    """Create or upgrade the schema; returns the revision reached and the printable URL."""
    from decidua.store import migrate
    from decidua.store.session import resolve_url

    migrate.upgrade(url, revision=revision)
    return migrate.current_revision(url), safe_url(resolve_url(url))


@dataclass(frozen=True)
class DowngradeResult:
    """What a downgrade did: the revision reached and the backup that protects the data."""

    revision: str | None
    backup: Path | None
    rows_before: int


def backup(target: str | Path, url: str | None = None):  # type: ignore[no-untyped-def]
    """Write and verify a backup (see :func:`decidua.store.backup.backup`)."""
    from decidua.store.backup import backup as store_backup

    return store_backup(target, url)


def restore(source: str | Path, url: str | None = None, *, confirmed: bool = False):  # type: ignore[no-untyped-def]
    """Replace the database with a verified backup; a non-empty database needs ``confirmed``.

    Raises
    ------
    InputError
        Not confirmed while the database holds rows.
    decidua.store.session.StoreError
        The backup fails verification or cannot be restored.
    """
    from decidua.store.backup import current_counts, verify
    from decidua.store.backup import restore as store_restore

    verify(source)
    _, counts = current_counts(url)
    if sum(counts.values()) and not confirmed:
        raise InputError(
            f"the database holds {sum(counts.values())} rows that the restore replaces: "
            "add --yes to confirm"
        )
    return store_restore(source, url)


def downgrade(
    revision: str,
    url: str | None = None,
    *,
    confirmed: bool = False,
    backup_file: str | Path | None = None,
) -> DowngradeResult:
    """Downgrade the schema after a confirmation and, if there is data, a verified backup.

    Raises
    ------
    InputError
        Without ``confirmed``; without ``backup_file`` while tables hold rows;
        an existing backup file that is not a verified copy of the database now.
    """
    from decidua.store import migrate
    from decidua.store.backup import backup as store_backup
    from decidua.store.backup import current_counts, verify

    if not confirmed:
        raise InputError(
            f"`db downgrade {revision}` drops tables and the data in them"
            + (" (at base: every table and the audit trail)" if revision == "base" else "")
            + "; add --yes to confirm"
        )
    current, counts = current_counts(url)
    rows = sum(counts.values())
    written: Path | None = None
    if rows:
        if backup_file is None:
            raise InputError(
                f"the database holds {rows} rows: write a verified backup first, e.g. "
                f"`decidua db downgrade {revision} --yes --backup decidua-backup.sqlite`"
            )
        path = Path(backup_file)
        if path.exists():
            info = verify(path)
            if info.revision != current or info.counts != counts:
                raise InputError(
                    f"{path} is not a backup of the database as it is now (revision "
                    f"{info.revision} vs {current}, {info.total_rows} vs {rows} rows): "
                    "give a new file name to write one"
                )
            written = path
        else:
            written = store_backup(path, url).path
    migrate.downgrade(url, revision=revision)
    return DowngradeResult(migrate.current_revision(url), written, rows)
