"""User accounts and roles (every change audited)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from decidua.domain import Role
from decidua.errors import InputError, NotFoundError
from decidua.store import audit
from decidua.store import models as m

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def add_user(
    session: Session, username: str, role: str, *, actor: str, display_name: str | None = None
) -> m.User:
    """Create a user with one role and audit it.

    Raises
    ------
    InputError
        For a malformed username, unknown role or an existing username.
    """
    if not _USERNAME.match(username):
        raise InputError(
            "username must be 2-64 lower-case letters, digits, '.', '_' or '-'",
            column="username",
            value=username,
        )
    try:
        role = Role(role).value
    except ValueError:
        raise InputError(
            f"unknown role; choose from: {', '.join(r.value for r in Role)}",
            column="role",
            value=role,
        ) from None
    if session.scalars(select(m.User).where(m.User.username == username)).first():
        raise InputError("a user with this name exists", column="username", value=username)
    user = m.User(username=username, role=role, display_name=display_name, active=True)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="app_user",
        entity_id=user.id,
        entity_key=f"username={username}",
        after={"username": username, "role": role, "display_name": display_name},
    )
    return user


def set_active(session: Session, username: str, active: bool, *, actor: str) -> m.User:
    """Activate or deactivate a user (audited).

    Raises
    ------
    NotFoundError
        If the user does not exist.
    """
    user = session.scalars(select(m.User).where(m.User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    if user.active != active:
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="app_user",
            entity_id=user.id,
            entity_key=f"username={username}",
            before={"active": user.active},
            after={"active": active},
        )
        user.active = active
    return user
