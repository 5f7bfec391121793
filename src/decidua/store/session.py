"""Database URL resolution, engines and sessions.

SQLite (WAL mode, foreign keys on) is the embedded default; PostgreSQL is used
when ``DECIDUA_DATABASE_URL`` (or an explicit URL) says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from decidua.errors import InputError

ENV_URL = "DECIDUA_DATABASE_URL"
ENV_DATA_DIR = "DECIDUA_DATA_DIR"

_override_url: str | None = None
_engines: dict[str, Engine] = {}


def set_default_url(url: str | None) -> None:
    """Set the URL used when none is passed (the CLI's ``--db`` option)."""
    global _override_url
    _override_url = url


def default_sqlite_path() -> Path:
    """Path of the embedded database: ``$DECIDUA_DATA_DIR/decidua.sqlite`` (default ``./var``)."""
    return Path(os.environ.get(ENV_DATA_DIR, "var")) / "decidua.sqlite"


def resolve_url(url: str | None = None) -> str:
    """Return the database URL to use.

    Order: explicit ``url``, the CLI override, ``$DECIDUA_DATABASE_URL``, the
    embedded SQLite file (:func:`default_sqlite_path`).
    """
    chosen = url or _override_url or os.environ.get(ENV_URL)
    if not chosen:
        return f"sqlite:///{default_sqlite_path()}"
    if chosen.startswith("postgresql://"):
        # Use psycopg 3, the driver Decidua depends on.
        chosen = "postgresql+psycopg://" + chosen[len("postgresql://") :]
    return chosen


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    """Create (once per URL) an engine; SQLite gets WAL and foreign keys.

    Raises
    ------
    InputError
        If the URL cannot be parsed.
    """
    resolved = resolve_url(url)
    if resolved in _engines:
        return _engines[resolved]
    try:
        parsed = make_url(resolved)
    except ArgumentError as exc:
        raise InputError(f"not a database URL: {exc}", value=resolved) from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(resolved, pool_pre_ping=True)
    _engines[resolved] = engine
    return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and before deleting a SQLite file)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error.

    Parameters
    ----------
    url
        Database URL; ``None`` uses :func:`resolve_url`.
    """
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
