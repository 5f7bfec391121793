"""ASGI entry point for ``decidua serve`` workers (the database from the serving command)."""

from __future__ import annotations

import os

from decidua.web.app import create_app

app = create_app(os.environ.get("DECIDUA_WEB_DATABASE_URL"))
