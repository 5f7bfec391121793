"""`decidua timing …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="timing commands.", no_args_is_help=True)
