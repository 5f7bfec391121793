"""User accounts (audited) and who is acting."""

from __future__ import annotations

import datetime as dt
import functools
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


def list_users(session: Session, actor: str, *, web: bool = False) -> list[dict[str, Any]]:
    """Every user: ``username, role, active, name`` (and ``web_login``), by user name."""
    from sqlalchemy import select

    from decidua.store import models as m

    require_schema(session)
    users = session.scalars(select(m.User).order_by(m.User.username))
    return [_as_dict(u, web=web) for u in users]


def deactivate_user(session: Session, actor: str, username: str) -> dict[str, Any]:
    """Deactivate a user (kept for the audit trail, never deleted).

    Raises
    ------
    NotFoundError
        For an unknown user.
    InputError
        For the last active admin: nobody could then manage users or run admin
        commands on this database (there is no command to reactivate a user, and the
        first-admin bootstrap needs an empty user table).
    """
    from sqlalchemy import func, select

    from decidua.errors import InputError
    from decidua.store import models as m
    from decidua.store.users import set_active

    require_schema(session)
    user = _get_user(session, username)
    if user.active and user.role == "admin":
        admins = session.scalar(select(func.count()).select_from(m.User).where(
            m.User.role == "admin", m.User.active.is_(True))) or 0
        if admins <= 1:
            raise InputError(
                f"{username!r} is the only active admin: add another admin first "
                "(`decidua users add NAME --role admin`); otherwise nobody could manage "
                "users of this database", column="username", value=username)
    return _as_dict(set_active(session, username, False, actor=actor))


def _as_dict(u: Any, *, web: bool = False) -> dict[str, Any]:
    out = {"username": u.username, "role": u.role, "active": u.active, "name": u.display_name}
    if web:
        out["web_login"] = u.password_hash is not None
    return out


# ---------------------------------------------------------------- web logins and API tokens

#: Shortest web password accepted (our choice; NIST SP 800-63B asks for at least 8).
MIN_PASSWORD_LENGTH = 10


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


def _get_user(session: Session, username: str) -> Any:
    from sqlalchemy import select

    from decidua.errors import NotFoundError
    from decidua.store import models as m

    user = session.scalars(select(m.User).where(m.User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def set_password(session: Session, actor: str, username: str, password: str) -> dict[str, Any]:
    """Set a user's web password (stored as an argon2 hash; audited without the hash).

    Raises
    ------
    InputError
        A password shorter than :data:`MIN_PASSWORD_LENGTH` characters.
    NotFoundError
        An unknown user.
    """
    from decidua.errors import InputError
    from decidua.store import audit
    from decidua.store.users import end_sessions

    require_schema(session)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            column="password",
        )
    user = _get_user(session, username)
    had = user.password_hash is not None
    user.password_hash = _hasher().hash(password)
    end_sessions(session, user.id)  # a new password ends her open web logins
    audit.record(
        session, actor=actor, action="update", entity="app_user", entity_id=user.id,
        entity_key=f"username={username}", before={"web_password": "set" if had else None},
        after={"web_password": "set"},
    )  # fmt: skip
    return _as_dict(user)


def check_login(session: Session, username: str, password: str) -> dict[str, Any] | None:
    """The active user whose web password this is, else ``None`` (no reason given).

    An unknown user costs one hash too, so timing does not tell which names exist.
    """
    from argon2.exceptions import InvalidHashError, VerificationError
    from sqlalchemy import select

    from decidua.store import models as m

    require_schema(session)
    user = session.scalars(select(m.User).where(m.User.username == username)).first()
    hasher = _hasher()
    if user is None or user.password_hash is None or not user.active:
        hasher.hash(password)
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return _as_dict(user)


def get_active_user(session: Session, username: str) -> dict[str, Any] | None:
    """The user if registered and active (roles can change between requests), else ``None``."""
    from sqlalchemy import select

    from decidua.store import models as m

    user = session.scalars(select(m.User).where(m.User.username == username)).first()
    return _as_dict(user) if user is not None and user.active else None


#: Longest a web session lasts from its login, however active (our choice; the idle
#: timeout of :mod:`decidua.web.security` ends it earlier).
SESSION_LIFETIME = dt.timedelta(hours=12)


def start_session(session: Session, username: str, sid: str) -> None:
    """Record a new web session ``sid`` of an active user (only its SHA-256 is kept).

    Sessions past :data:`SESSION_LIFETIME` are deleted on the way (they are refused anyway).
    """
    from sqlalchemy import delete

    from decidua.store import models as m

    require_schema(session)
    user = _get_user(session, username)
    now = m.utcnow()
    session.execute(delete(m.WebSession).where(m.WebSession.created_at < now - SESSION_LIFETIME))
    session.add(m.WebSession(sid_sha256=_token_digest(sid), user_id=user.id, created_at=now))


def session_user(session: Session, sid: str, username: str) -> dict[str, Any] | None:
    """The active user of an open (not revoked, not expired) web session, else ``None``.

    One query: the session row joined to its user (columns only, a statement built once:
    it runs on every request).
    """
    from decidua.store.models import utcnow

    row = session.execute(_session_user_statement(), {"sid": _token_digest(sid)}).first()
    if row is None:
        return None
    created = row.created_at
    if created.tzinfo is None:  # SQLite returns naive UTC
        created = created.replace(tzinfo=dt.UTC)
    if not row.active or row.username != username or created < utcnow() - SESSION_LIFETIME:
        return None
    return {"username": row.username, "role": row.role, "active": row.active,
            "name": row.display_name}  # fmt: skip


@functools.cache
def _session_user_statement() -> Any:
    from sqlalchemy import bindparam, select

    from decidua.store import models as m

    return (
        select(m.WebSession.created_at, m.User.username, m.User.role, m.User.active,
               m.User.display_name)
        .join(m.User, m.User.id == m.WebSession.user_id)
        .where(m.WebSession.sid_sha256 == bindparam("sid"), m.WebSession.revoked_at.is_(None))
    )  # fmt: skip


def end_session(session: Session, sid: str) -> None:
    """Revoke one web session (logout); an unknown or ended one is left as it is."""
    from sqlalchemy import update

    from decidua.store import models as m

    session.execute(
        update(m.WebSession)
        .where(m.WebSession.sid_sha256 == _token_digest(sid), m.WebSession.revoked_at.is_(None))
        .values(revoked_at=m.utcnow())
    )


def _token_digest(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, actor: str, username: str, name: str) -> dict[str, Any]:
    """A new API token for ``username``: the secret is returned once, only its SHA-256 stored.

    Returns ``{"id", "username", "name", "token"}``.
    """
    import secrets

    from decidua.errors import InputError
    from decidua.store import audit
    from decidua.store import models as m

    require_schema(session)
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise InputError("a token name has 1-64 characters", column="name", value=name)
    user = _get_user(session, username)
    token = "dcd_" + secrets.token_urlsafe(32)
    row = m.ApiToken(user_id=user.id, name=name, token_sha256=_token_digest(token),
                     created_by=actor)  # fmt: skip
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="create", entity="api_token", entity_id=row.id,
        entity_key=f"username={username} name={name}", after={"username": username, "name": name},
    )  # fmt: skip
    return {"id": row.id, "username": username, "name": name, "token": token}


def list_tokens(session: Session, actor: str) -> list[dict[str, Any]]:
    """Every token (never its secret): ``id, username, name, created_at, created_by, revoked``."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from decidua.store import models as m

    require_schema(session)
    rows = session.scalars(
        select(m.ApiToken).options(joinedload(m.ApiToken.user)).order_by(m.ApiToken.id)
    )
    return [
        {"id": t.id, "username": t.user.username, "name": t.name,
         "created_at": t.created_at.isoformat(), "created_by": t.created_by,
         "revoked": t.revoked_at is not None}
        for t in rows
    ]  # fmt: skip


def revoke_token(session: Session, actor: str, token_id: int) -> None:
    """Revoke a token (kept, marked revoked; audited).

    Raises
    ------
    NotFoundError
        No token with that id.
    """
    from decidua.errors import NotFoundError
    from decidua.store import audit
    from decidua.store import models as m
    from decidua.store.models import utcnow

    require_schema(session)
    row = session.get(m.ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session, actor=actor, action="update", entity="api_token", entity_id=row.id,
            entity_key=f"name={row.name}", before={"revoked": False}, after={"revoked": True},
        )  # fmt: skip


def user_for_token(session: Session, token: str) -> dict[str, Any] | None:
    """The active user owning an unrevoked token, else ``None``."""
    from sqlalchemy import select

    from decidua.store import models as m

    row = session.scalars(
        select(m.ApiToken).where(m.ApiToken.token_sha256 == _token_digest(token))
    ).first()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return _as_dict(row.user)
