"""Alembic migrations, run programmatically (``decidua db upgrade``)."""

from __future__ import annotations

from functools import lru_cache

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


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the latest)."""
    cfg = alembic_config(url)
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Downgrade the schema to ``revision`` (default: empty database)."""
    cfg = alembic_config(url)
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


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
