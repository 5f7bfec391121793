"""`decidua methylation …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="methylation commands.", no_args_is_help=True)
