"""`decidua risk …` and `decidua pathway …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Recurrence-risk commands.", no_args_is_help=True)
pathway_app = typer.Typer(help="Care-pathway commands.", no_args_is_help=True)
