"""The FastAPI application: error handling, login, and the routers of pages and API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from decidua import RESEARCH_USE_LABEL, __version__
from decidua.errors import DeciduaError, InputError, NotFoundError
from decidua.web import security
from decidua.web.common import Forbidden, NotLoggedIn

HERE = Path(__file__).parent


def _templates() -> Any:
    import jinja2
    from fastapi.templating import Jinja2Templates

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True
    )
    t = Jinja2Templates(env=env)
    t.env.globals["label"] = RESEARCH_USE_LABEL
    t.env.globals["version"] = __version__
    return t


def create_app(url: str | None = None, *, secret: str | None = None,
               secure_cookies: bool | None = None) -> FastAPI:
    """The web application for the database at ``url`` (``None``: the default one).

    Parameters
    ----------
    url
        Database URL.
    secret
        Cookie-signing key (default ``$DECIDUA_SECRET_KEY``, else a key file in the data dir).
    secure_cookies
        Mark cookies ``Secure``; ``None``: when the request came over HTTPS.
    """

    from decidua.settings import get_settings
    from decidua.store.session import resolve_url

    app = FastAPI(
        title="Decidua", version=__version__,
        description=f"Decidua clinic API. {RESEARCH_USE_LABEL} Authenticate with "
                    "`Authorization: Bearer <token>` (an admin creates tokens on /users).",
        docs_url="/docs", redoc_url=None,
    )  # fmt: skip
    app.state.db_url = resolve_url(url)
    app.state.templates = _templates()
    app.state.limiter = security.RateLimiter()
    app.state.uploads = {}
    key = security.load_secret(get_settings().data_dir, secret or _secret_from_settings())
    app.state.signer = security.Signer(key)
    import hashlib

    # researchers' pseudonyms: DECIDUA_EXPORT_KEY when set (see common.research_key), else this
    app.state.research_fallback = hashlib.sha256(b"decidua-research-pseudonym\0" + key).digest()

    from decidua.web import api, pages

    app.include_router(pages.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(DeciduaError)
    async def _decidua_error(request: Request, exc: DeciduaError) -> Response:
        status = (401 if isinstance(exc, NotLoggedIn) else 403 if isinstance(exc, Forbidden)
                  else 404 if isinstance(exc, NotFoundError)
                  else 422 if isinstance(exc, InputError) else 503)  # fmt: skip
        if request.url.path.startswith("/api/"):
            return problem(status, str(exc))
        if status == 401:
            return RedirectResponse("/login", 303)
        from decidua.web.pages import render

        return render(request, "error.html", status, status=status, message=str(exc))

    from fastapi.exceptions import RequestValidationError
    from fastapi.exceptions import StarletteHTTPException as HTTPException

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]  # fmt: skip
        if request.url.path.startswith("/api/"):
            return problem(422, "the request is not valid", errors=errors)
        text = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return HTMLResponse(f"invalid request: {_esc(text)}", 422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return problem(exc.status_code, str(exc.detail))
        return HTMLResponse(_esc(str(exc.detail)), exc.status_code)

    app.add_middleware(security.SecurityMiddleware, signer=app.state.signer,
                       secure=secure_cookies)  # fmt: skip
    return app


def _esc(text: str) -> str:
    import html

    return html.escape(text)


_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           422: "Unprocessable Content", 503: "Service Unavailable"}  # fmt: skip


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem-detail response."""
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "detail": detail, **extra}  # fmt: skip
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def _secret_from_settings() -> str | None:
    """``DECIDUA_SECRET_KEY`` through :mod:`decidua.settings` (``None`` when unset)."""
    from decidua.settings import get_settings

    key = get_settings().secret_key
    return None if key is None else key.get_secret_value()
