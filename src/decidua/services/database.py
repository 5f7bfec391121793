"""Schema use cases: check and upgrade (Alembic migrations).

A downgrade drops data, so it lives with the backups in :mod:`decidua.services.db`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decidua.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SCHEMA_MISSING = "the database schema is missing or out of date: run `decidua db upgrade`"


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
