"""Alembic migrations, run programmatically (``decidua db upgrade``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from decidua.store.session import get_engine, resolve_url


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at Decidua's migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", "decidua.store:migrations")
    # Alembic's ini interpolation treats % specially.
    cfg.set_main_option("sqlalchemy.url", resolve_url(url).replace("%", "%%"))
    return cfg


def _run(url: str | None, step: Any, revision: str) -> None:
    """Run an Alembic command in one transaction on the engine's connection.

    SQLite: foreign keys are switched off for the migration and checked before the
    commit. Alembic's batch mode rebuilds a table (copy, drop the old one, rename), and
    with foreign keys on, dropping the old table fires the ``ON DELETE`` actions of
    the rows that reference it: migration 0008 set every ``assay_result.derived_from_id``
    to NULL that way (a timing placement lost the qPCR result it came from), and a
    ``CASCADE`` would delete rows. ``PRAGMA foreign_keys`` only takes effect outside
    a transaction, so it is set before ``BEGIN`` and restored after the end.
    """
    from decidua.store.session import StoreError

    with get_engine(url).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                step(cfg, revision)
                if sqlite:
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise StoreError(
                            f"migration to {revision} would leave {len(bad)} rows with a "
                            f"broken reference (first: table {bad[0][0]}, row {bad[0][1]}, "
                            f"referencing {bad[0][2]}); nothing was changed")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the latest)."""
    _run(url, command.upgrade, revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Downgrade the schema to ``revision`` (default: empty database)."""
    _run(url, command.downgrade, revision)


def current_revision(url: str | None = None) -> str | None:
    """The schema revision the database is at (``None`` if empty)."""
    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The latest revision shipped with this version of Decidua.

    Read once per process: the migration scripts are part of the installed code, and
    parsing them costs ~20-30 ms, which every service call paid through
    :func:`decidua.services.database.require_schema` (``db upgrade`` / ``downgrade``
    change the database's revision, never the shipped head).
    """
    return _shipped_head()


@lru_cache(maxsize=1)
def _shipped_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
