"""The clinic web application (FastAPI + Jinja2 + htmx), a thin edge over :mod:`decidua.services`.

``create_app(url)`` builds the application for one database; ``decidua serve``
runs it with uvicorn. Pages are under ``/``, the JSON API under ``/api/v1``
(OpenAPI schema at ``/openapi.json``). Who may do what comes from the one role
table, :mod:`decidua.services.access` (see :mod:`decidua.web.access`).
"""

from __future__ import annotations

from decidua.web.app import create_app

__all__ = ["create_app"]
