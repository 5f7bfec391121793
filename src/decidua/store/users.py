"""User accounts and roles (every change audited)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from decidua.domain import Role
from decidua.errors import InputError, NotFoundError
from decidua.store import audit
from decidua.store import models as m

#: A user name: 2-64 lower-case letters, digits, '.', '_' or '-', optionally after
#: ``local:`` (an OS login, the CLI's default identity).
_USERNAME = re.compile(r"^(?=.{2,64}$)(local:)?[a-z0-9][a-z0-9._-]*$")


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
            "username must be 2-64 lower-case letters, digits, '.', '_' or '-' "
            "(optionally after 'local:')",
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
    if role != Role.ADMIN and session.scalar(select(func.count()).select_from(m.User)) == 0:
        raise InputError(
            "the first user of a database must be an admin (--role admin)",
            column="role",
            value=role,
        )
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
    if not active:
        end_sessions(session, user.id)
    return user


def end_sessions(session: Session, user_id: int) -> int:
    """Revoke every open web session of a user; returns how many were open."""
    from sqlalchemy import update

    res = session.execute(
        update(m.WebSession)
        .where(m.WebSession.user_id == user_id, m.WebSession.revoked_at.is_(None))
        .values(revoked_at=m.utcnow())
    )
    return int(res.rowcount or 0)


def ensure_admin(session: Session, username: str, *, actor: str) -> m.User:
    """Make ``username`` an active admin, creating the user if needed (audited)."""
    user = session.scalars(select(m.User).where(m.User.username == username)).first()
    if user is None:
        return add_user(session, username, Role.ADMIN.value, actor=actor)
    if user.role != Role.ADMIN or not user.active:
        audit.record(
            session, actor=actor, action="update", entity="app_user", entity_id=user.id,
            entity_key=f"username={username}", before={"role": user.role, "active": user.active},
            after={"role": Role.ADMIN.value, "active": True},
        )  # fmt: skip
        user.role, user.active = Role.ADMIN.value, True
    return user
