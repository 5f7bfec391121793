"""User accounts (audited) and who is acting."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def os_login() -> str:
    """``local:<login name>`` of the OS account running Decidua."""
    try:
        return f"local:{getpass.getuser()}"[:64]
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local:unknown"


def acting_user() -> str:
    """Who is acting: ``$DECIDUA_USER`` or ``local:<login name>`` (64 characters at most)."""
    from decidua.settings import get_settings

    name = get_settings().user
    return name[:64] if name else os_login()


def add_user(
    session: Session, actor: str, username: str, role: str, *, display_name: str | None = None
) -> dict[str, Any]:
    """Create a user with a role (audited); returns the stored user as a dict."""
    from decidua.store.users import add_user as store_add

    require_schema(session)
    user = store_add(session, username, role, actor=actor, display_name=display_name)
    return _as_dict(user)


def list_users(session: Session, actor: str) -> list[dict[str, Any]]:
    """Every user: ``username, role, active, name``, by user name."""
    from sqlalchemy import select

    from decidua.store import models as m

    require_schema(session)
    return [_as_dict(u) for u in session.scalars(select(m.User).order_by(m.User.username))]


def deactivate_user(session: Session, actor: str, username: str) -> dict[str, Any]:
    """Deactivate a user (kept for the audit trail, never deleted)."""
    from decidua.store.users import set_active

    require_schema(session)
    return _as_dict(set_active(session, username, False, actor=actor))


def _as_dict(u: Any) -> dict[str, Any]:
    return {"username": u.username, "role": u.role, "active": u.active, "name": u.display_name}
