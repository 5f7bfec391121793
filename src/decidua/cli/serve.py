"""``decidua serve``: run the clinic web application (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(help="Worker processes (PostgreSQL only; SQLite runs one worker)."),
    ] = 1,
) -> None:
    """Run the web application on HOST:PORT for the --db database.

    SQLite: one worker (its single writer lock); several workers need PostgreSQL
    (DECIDUA_DATABASE_URL). Cookies are signed with $DECIDUA_SECRET_KEY, else a
    key kept in the data directory (shared by the workers). Serve it behind an
    HTTPS proxy for anything but this machine.

    Example: decidua serve --host 127.0.0.1 --port 8000
    """
    import os

    import uvicorn

    from decidua.errors import InputError
    from decidua.services.database import require_schema
    from decidua.store.session import resolve_url, session_scope

    url = resolve_url(None)
    if not 1 <= port <= 65535:  # uvicorn ended in a traceback (OverflowError from bind)
        raise InputError("--port must be 1-65535", column="--port", value=port)
    if workers < 1:
        raise InputError("--workers must be at least 1")
    if workers > 1 and url.startswith("sqlite"):
        raise InputError("SQLite runs one worker: use --workers 1, or PostgreSQL for more")
    with session_scope(url) as s:
        require_schema(s)
    # handed to the workers, which read it through decidua.settings
    os.environ.update({"DECIDUA_WEB_DATABASE_URL": url})
    typer.echo(f"Decidua web application on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run("decidua.web.asgi:app", host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)  # fmt: skip
