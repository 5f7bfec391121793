"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured).

PostgreSQL tests run when ``DECIDUA_DATABASE_URL`` points at a server (CI sets
it); each test gets its own freshly created database, migrated from empty.
With ``DECIDUA_REQUIRE_POSTGRES=1`` (CI) a missing server is a failure, not a
skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from decidua.store import migrate
from decidua.store import models as m
from decidua.store.session import dispose_engines, resolve_url, session_scope, set_default_url

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "import"
PG_ENV = "DECIDUA_DATABASE_URL"


def _pg_base_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url and url.startswith("postgresql"):
        return resolve_url(url)
    return None


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    if os.environ.get("DECIDUA_REQUIRE_POSTGRES") == "1" and _pg_base_url() is None:
        raise pytest.UsageError(
            "DECIDUA_REQUIRE_POSTGRES=1 but DECIDUA_DATABASE_URL is not a PostgreSQL URL"
        )


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test touches the user's database: default URL and data dir are per test."""
    monkeypatch.setenv("DECIDUA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv(PG_ENV, raising=False)
    monkeypatch.delenv("DECIDUA_EXPORT_KEY", raising=False)
    monkeypatch.setenv("DECIDUA_USER", TEST_USER)
    set_default_url(None)
    yield
    set_default_url(None)
    dispose_engines()


_PG_BASE = _pg_base_url()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (no schema) on SQLite, and on PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    if _PG_BASE is None:
        pytest.skip("PostgreSQL not configured (set DECIDUA_DATABASE_URL)")
    name = f"decidua_t_{uuid.uuid4().hex[:12]}"
    url = _pg_create(name)
    try:
        yield url
    finally:
        dispose_engines()
        _pg_drop(name)


_pg_template: str | None = None

#: The acting user of every test ($DECIDUA_USER), an admin of every `db` database.
TEST_USER = "tester"


def register_tester(url: str) -> None:
    """Register :data:`TEST_USER` as an admin (the CLI refuses unregistered users).

    Written directly, without an audit event, so tests count only their own events.
    """
    with session_scope(url) as s:
        s.add(m.User(username=TEST_USER, role="admin", active=True))


def _pg_create(name: str, template: str | None = None) -> str:
    admin = create_engine(_PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    finally:
        admin.dispose()
    return make_url(_PG_BASE).set(database=name).render_as_string(hide_password=False)


def _pg_drop(name: str) -> None:
    admin = create_engine(_PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated once, cloned (CREATE DATABASE … TEMPLATE) per test."""
    if _PG_BASE is None:
        yield None
        return
    name = f"decidua_tmpl_{uuid.uuid4().hex[:8]}"
    url = _pg_create(name)
    migrate.upgrade(url)
    register_tester(url)
    dispose_engines()
    yield name
    _pg_drop(name)


_sqlite_template_path: Path | None = None


def _sqlite_template(factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (and :data:`TEST_USER` registered), copied
    per test: the same schema as migrating each test's file, without ~0.15 s per test.

    Built lazily (only sessions with a SQLite ``db`` test pay for it); its engine is
    disposed, so the write-ahead log is checkpointed into the file before any copy.
    """
    global _sqlite_template_path
    if _sqlite_template_path is None:
        path = factory.mktemp("sqlite-template") / "template.sqlite"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        register_tester(url)
        dispose_engines()
        for side in ("-wal", "-shm", "-journal"):
            assert not Path(f"{path}{side}").exists(), f"template left {path}{side}"
        _sqlite_template_path = path
    return _sqlite_template_path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pg_template: str | None,
) -> Iterator[str]:
    """URL of a migrated database (SQLite, and PostgreSQL when configured); the CLI default."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite"
        shutil.copyfile(_sqlite_template(tmp_path_factory), path)
        url = f"sqlite:///{path}"
        set_default_url(url)
        yield url
        return
    if pg_template is None:
        pytest.skip("PostgreSQL not configured (set DECIDUA_DATABASE_URL)")
    name = f"decidua_t_{uuid.uuid4().hex[:12]}"
    url = _pg_create(name, template=pg_template)
    set_default_url(url)
    try:
        yield url
    finally:
        dispose_engines()
        _pg_drop(name)


_demo_path: Path | None = None


@pytest.fixture
def demo_db(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a private copy of the demo database (SQLite), made by ``decidua demo``.

    ``decidua demo --database`` runs once per session (it must exit 0), in its own data
    directory and as :data:`TEST_USER`; each test gets a copy of the file, so tests may
    write. Tests of the ``demo`` command itself run it themselves.
    """
    global _demo_path
    if _demo_path is None:
        from typer.testing import CliRunner

        from decidua.cli import app

        where = tmp_path_factory.mktemp("demo-template")
        path = where / "demo.sqlite"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DECIDUA_DATA_DIR", str(where / "var"))
            mp.setenv("DECIDUA_USER", TEST_USER)
            mp.delenv(PG_ENV, raising=False)
            res = CliRunner().invoke(app, ["demo", "--database", f"sqlite:///{path}"])
            assert res.exit_code == 0, res.output
            dispose_engines()
        for side in ("-wal", "-shm", "-journal"):
            assert not Path(f"{path}{side}").exists(), f"demo left {path}{side}"
        _demo_path = path
    dest = tmp_path / "demo.sqlite"
    shutil.copyfile(_demo_path, dest)
    return f"sqlite:///{dest}"


def snapshot(url: str) -> dict[str, object]:
    """Row counts of every table plus the audit log's content, to prove nothing changed."""
    out: dict[str, object] = {}
    with session_scope(url) as s:
        for table in m.Base.metadata.sorted_tables:
            out[table.name] = s.scalar(select(func.count()).select_from(table))
        out["audit"] = [
            (a.id, a.action, a.entity, a.entity_key)
            for a in s.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id))
        ]
    return out


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A writable copy of the example import files."""
    dest = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dest)
    return dest


@pytest.fixture
def snap():  # type: ignore[no-untyped-def]
    """The :func:`snapshot` function, for tests."""
    return snapshot
