"""Web security: signed session cookies, CSRF, login rate limiting, security headers.

Sessions are signed cookies (HMAC-SHA256, ``HttpOnly``, ``SameSite=Lax``,
``Secure`` over HTTPS) holding a random session id, the user name, the CSRF
token and the time of the last request (idle timeout). A login issues a new
session id and CSRF token (no fixation). Every state-changing request outside
the token-authenticated JSON API must carry the session's CSRF token, as the
form field ``csrf_token`` or the header ``X-CSRF-Token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

COOKIE = "decidua_session"
#: Minutes without a request after which a login ends (our choice).
IDLE_TIMEOUT_S = 30 * 60
#: Failed logins allowed per user name, and per client address, in the window (our choice).
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
FAILURE_WINDOW_S = 15 * 60
#: Largest request body accepted (uploads included).
MAX_BODY_BYTES = 20 * 1024 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths an anonymous visitor may reach (everything else redirects to the login).
PUBLIC_PREFIXES = ("/login", "/static/", "/api/", "/openapi.json", "/healthz", "/favicon.ico")


def load_secret(data_dir: Path | None, given: str | None = None) -> bytes:
    """The signing key: ``given`` (``$DECIDUA_SECRET_KEY``), else ``<data_dir>/web-secret``
    (created once with 32 random bytes, mode 0600, so that several workers share it)."""
    if given:
        return given.encode()
    if data_dir is None:
        return secrets.token_bytes(32)
    path = Path(data_dir) / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = path.open("x", encoding="ascii")
        except FileExistsError:
            pass
        else:
            with fd:
                path.chmod(0o600)
                fd.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode()


class Signer:
    """Sign and verify session cookies."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"decidua-session\0" + key).digest()

    def dumps(self, data: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        sig = hmac.new(self._key, body, hashlib.sha256).digest()
        return (body + b"." + base64.urlsafe_b64encode(sig)).decode().replace("=", "")

    def loads(self, value: str) -> dict[str, Any] | None:
        try:
            body, sig = value.encode().split(b".")
            pad = lambda b: b + b"=" * (-len(b) % 4)  # noqa: E731
            want = hmac.new(self._key, pad(body), hashlib.sha256).digest()
            if not hmac.compare_digest(want, base64.urlsafe_b64decode(pad(sig))):
                return None
            data = json.loads(base64.urlsafe_b64decode(pad(body)))
        except (ValueError, TypeError):
            return None
        return data if isinstance(data, dict) else None


def new_session(user: str | None = None) -> dict[str, Any]:
    """A fresh session: new id and CSRF token."""
    return {"sid": secrets.token_urlsafe(18), "csrf": secrets.token_urlsafe(24), "user": user,
            "t": int(time.time())}  # fmt: skip


class RateLimiter:
    """Failed-login counter per user name and per client address (one process)."""

    def __init__(self) -> None:
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] < now - FAILURE_WINDOW_S:
            q.popleft()
        return q

    def blocked(self, username: str, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return (len(self._recent("u:" + username, now)) >= MAX_FAILURES_PER_USER
                    or len(self._recent("c:" + client, now)) >= MAX_FAILURES_PER_CLIENT)

    def failed(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent("u:" + username, now).append(now)
            self._recent("c:" + client, now).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop("u:" + username, None)


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


class SecurityMiddleware:
    """Pure ASGI middleware: session cookie in/out, anonymous redirect, CSRF, headers."""

    def __init__(self, app: ASGIApp, signer: Signer, *, secure: bool | None = None) -> None:
        self.app, self.signer, self.secure = app, signer, secure

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        raw = _cookie(scope, COOKIE)
        session = self.signer.loads(raw) if raw else None
        now = int(time.time())
        if session and session.get("user") and now - int(session.get("t", 0)) > IDLE_TIMEOUT_S:
            session = None  # idle timeout: log out
        if not session:
            session = new_session()
        session["t"] = now
        scope.setdefault("state", {})["session"] = session
        is_api = path.startswith("/api/") or path == "/openapi.json"
        https = self.secure if self.secure is not None else scope.get("scheme") == "https"

        async def send_wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
                if not path.startswith("/docs"):
                    headers.append((b"content-security-policy", CSP.encode()))
                if not is_api:
                    cookie = f"{COOKIE}={self.signer.dumps(scope['state']['session'])}; " \
                             "Path=/; HttpOnly; SameSite=Lax"  # fmt: skip
                    if https:
                        cookie += "; Secure"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        if not is_api and not session.get("user") and not path.startswith(PUBLIC_PREFIXES):
            await _plain(send_wrapped, 303, b"", [(b"location", b"/login")])
            return
        if scope["method"] not in SAFE_METHODS and not is_api:
            body = await _read_body(receive)
            if body is None:
                await _plain(send_wrapped, 413, b"request too large")
                return
            token = _header(scope, b"x-csrf-token") or await _form_token(scope, body)
            if not token or not hmac.compare_digest(token, session["csrf"]):
                await _plain(send_wrapped, 403, b"CSRF token missing or wrong: reload the page")
                return
            receive = _replay(body)
        await self.app(scope, receive, send_wrapped)


async def _plain(send: Any, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes | None:
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not msg.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str | None:
    from fastapi import Request

    ctype = _header(scope, b"content-type") or ""
    if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    try:
        form = await Request(scope, _replay(body)).form()
    except Exception:  # noqa: BLE001 - a malformed body has no token
        return None
    value = form.get("csrf_token")
    return value if isinstance(value, str) else None
