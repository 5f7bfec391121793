"""ASGI entry point for ``decidua serve`` workers (the database from the serving command)."""

from __future__ import annotations

from decidua.settings import get_settings
from decidua.web.app import create_app

app = create_app(get_settings().web_database_url)
