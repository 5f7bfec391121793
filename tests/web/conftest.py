"""Web fixtures: the application on the `db` database (SQLite; PostgreSQL when configured),
one user per role with a web password, logged-in test clients and API tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from web_helpers import ROLES, add_role_users, csrf_of, login

from decidua.services import users as user_service
from decidua.store.session import session_scope
from decidua.web import create_app


@pytest.fixture(autouse=True)
def _empty_view_caches() -> None:
    """The per-process view caches emptied before each test: on PostgreSQL every test's
    database has the same URL, and may reach the same versions with other content."""
    from decidua.web import common, pages

    for cache in (common._DETAIL_CACHE, common._DUE_CACHE, common._IDS_CACHE,
                  common._LIST_CACHE, pages._PAGE_CACHE):  # fmt: skip
        cache.clear()


@pytest.fixture
def csrf() -> Callable[[str], str]:
    """:func:`web_helpers.csrf_of`, for tests."""
    return csrf_of


@pytest.fixture
def web_db(db: str) -> str:
    """The migrated test database with users ``<role>1`` for every role (web passwords)."""
    add_role_users(db)
    return db


@pytest.fixture
def app(web_db: str):  # type: ignore[no-untyped-def]
    return create_app(web_db, secret="test-secret")


@pytest.fixture
def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def as_role(app) -> Callable[[str], TestClient]:  # type: ignore[no-untyped-def]
    """A fresh client logged in as ``<role>1``."""

    def make(role: str) -> TestClient:
        c = TestClient(app, follow_redirects=False)
        r = login(c, f"{role}1")
        assert r.status_code == 303, r.text
        return c

    return make


@pytest.fixture
def tokens(web_db: str) -> dict[str, str]:
    """An API token per role."""
    out = {}
    with session_scope(web_db) as s:
        for role in ROLES:
            out[role] = user_service.create_token(s, "tester", f"{role}1", "test")["token"]
    return out
