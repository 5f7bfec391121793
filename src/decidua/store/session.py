"""Database URL resolution, engines and sessions.

SQLite (WAL mode, foreign keys on) is the embedded default; PostgreSQL is used
when ``DECIDUA_DATABASE_URL`` (or an explicit URL) says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from decidua.errors import DeciduaError, InputError

ENV_URL = "DECIDUA_DATABASE_URL"
ENV_DATA_DIR = "DECIDUA_DATA_DIR"

#: Seconds a writer waits for another writer's lock before giving up (SQLite and PostgreSQL).
LOCK_TIMEOUT_S = 10

_override_url: str | None = None
_engines: dict[str, Engine] = {}


def set_default_url(url: str | None) -> None:
    """Set the URL used when none is passed (the CLI's ``--db`` option)."""
    global _override_url
    _override_url = url


def default_sqlite_path() -> Path:
    """Path of the embedded database: ``$DECIDUA_DATA_DIR/decidua.sqlite`` (default ``./var``)."""
    from decidua.settings import get_settings

    return Path(get_settings().sqlite_path)


def resolve_url(url: str | None = None) -> str:
    """Return the database URL to use.

    Order: explicit ``url``, the CLI override, ``$DECIDUA_DATABASE_URL``, the
    embedded SQLite file (:func:`default_sqlite_path`).
    """
    chosen = url or _override_url
    if not chosen:
        from decidua.settings import get_settings

        chosen = get_settings().database_url
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
    cur.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_S * 1000}")
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
    except ArgumentError:
        raise InputError("not a database URL (expected sqlite:///FILE or postgresql://…)") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            db = parsed.database
            if db and db != ":memory:" and not db.startswith("file:"):
                try:
                    Path(db).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create the folder of the database {safe_url(resolved)}: "
                        f"{exc.strerror}"
                    ) from None
            engine = create_engine(resolved)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(resolved, pool_pre_ping=True)
    except (NoSuchModuleError, ArgumentError, ImportError):
        raise InputError(
            f"unsupported database URL {safe_url(resolved)}: use sqlite:///FILE or "
            "postgresql://USER@HOST/NAME"
        ) from None
    _engines[resolved] = engine
    return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and before deleting a SQLite file)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


class StoreError(DeciduaError):
    """The database cannot do what was asked (busy, read-only, full, unreachable, no schema).

    Nothing was written when this is raised from a session scope.
    """


def safe_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


# (words in the driver's message or SQLSTATE, what to tell the user)
_DB_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("no such table", "undefinedtable", "42P01"),
     "the database schema is missing or out of date: run `decidua db upgrade`"),
    (("unable to open database", "could not connect", "connection refused",
      "connection to server", "name or service not known", "timeout expired",
      "password authentication failed", "does not exist"),
     "cannot open or reach the database"),
    (("database is locked", "55P03", "lock timeout"),
     "the database is busy: another process held its write lock for more than "
     f"{LOCK_TIMEOUT_S} s; nothing was written, try again"),
    (("readonly database", "read-only", "25006"),
     "the database is read-only (file or folder permissions, or a read-only server); "
     "nothing was written"),
    (("disk is full", "database or disk is full", "53100", "no space left"),
     "the disk holding the database is full; nothing was written"),
    (("disk i/o error", "file too large"),
     "the database could not be written (disk full, file size limit or a failing disk); "
     "nothing was written"),
)  # fmt: skip


def describe_db_error(exc: SQLAlchemyError, url: str | None = None) -> StoreError:
    """A :class:`StoreError` naming the problem behind a database exception.

    The message never contains the SQL, the parameters or a password.
    """
    orig = getattr(exc, "orig", None)
    words = f"{orig or exc} {getattr(orig, 'sqlstate', '') or ''} {type(orig).__name__}".lower()
    where = safe_url(resolve_url(url))
    for needles, message in _DB_ERRORS:
        if any(n.lower() in words for n in needles):
            return StoreError(f"{message} ({where})")
    kind = type(orig or exc).__name__
    return StoreError(f"database error ({kind}) at {where}; nothing was written")


def _factory(url: str | None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error.

    Database failures (busy, read-only, full disk, missing schema, unreachable
    server) are raised as :class:`StoreError` with a readable message.

    Parameters
    ----------
    url
        Database URL; ``None`` uses :func:`resolve_url`.
    """
    session = _factory(url)()
    try:
        yield session
        session.commit()
    except DBAPIError as exc:
        _rollback_quietly(session)
        if isinstance(exc, IntegrityError):  # a constraint: the caller's to explain
            raise
        raise describe_db_error(exc, url) from None
    except BaseException:
        _rollback_quietly(session)
        raise
    finally:
        session.close()


def _rollback_quietly(session: Session) -> None:
    with contextlib.suppress(SQLAlchemyError):  # the connection itself may be gone
        session.rollback()


def lock_for_write(session: Session, tables: tuple[str, ...] = ()) -> None:
    """Make the session's read-compare-write one serialised unit; call before reading.

    SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock now (reads
    before it outside a transaction are harmless: SQLite's driver starts its
    transaction only at the first write), so a second writer waits and then
    reads what the first committed. PostgreSQL: ``tables`` are locked in SHARE
    ROW EXCLUSIVE mode (readers go on; other writers of those tables wait until
    this transaction ends). Either waits at most :data:`LOCK_TIMEOUT_S`
    seconds, then fails with a "busy" :class:`StoreError` from the session scope.
    """
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        if not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_S)}s'")
        for name in tables:
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.exec_driver_sql(f"LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE")
