"""Helpers of the web tests (imported by ``conftest.py`` and the tests)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from decidua.services import users as user_service
from decidua.store.session import session_scope

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
PASSWORD = "correct horse battery"
ROLES = ("admin", "clinician", "scientist", "researcher")


def csrf_of(html: str) -> str:
    """The CSRF token of a page's first form."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token field on the page"
    return m.group(1)


@functools.cache
def _password_hash() -> str:
    """An argon2id hash of :data:`PASSWORD` with the lowest cost argon2 allows.

    Logging in verifies it with the application's own check (argon2 reads the cost from
    the hash), in ~1 ms instead of the production cost's ~0.1-0.2 s per login; the
    production parameters are what ``set_password`` writes (test_users_cli.py).
    """
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


def add_role_users(url: str) -> None:
    """Users ``<role>1`` for every role with the web password :data:`PASSWORD`.

    Created by the user service; the (low-cost) argon2 hash is computed once per test
    session and written directly (``set_password`` itself is tested in ``test_users_cli.py``).
    """
    from sqlalchemy import select

    from decidua.store import models as m

    with session_scope(url) as s:
        for role in ROLES:
            user_service.add_user(s, "tester", f"{role}1", role)
        names = [f"{r}1" for r in ROLES]
        for u in s.scalars(select(m.User).where(m.User.username.in_(names))):
            u.password_hash = _password_hash()


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log ``client`` in through the login form; returns the POST's response."""
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(page.text)})  # fmt: skip
