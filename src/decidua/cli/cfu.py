"""`decidua cfu …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="cfu commands.", no_args_is_help=True)
