"""Foundation commands: db, import, patients, patient, demo, export."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    raise NotImplementedError


def register(app: typer.Typer) -> None:
    """Attach the foundation commands to the root app."""
    app.add_typer(db_app, name="db")
