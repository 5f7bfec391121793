"""Command-line interface: ``decidua …`` (a thin edge over the core).

Exit codes: 0 success, 1 user error (a readable message, never a traceback),
2 usage error.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

from decidua.errors import DeciduaError

err_console = Console(stderr=True)


def report_error(exc: DeciduaError) -> None:
    """Print a Decidua error for a person (no traceback)."""
    err_console.print(f"[bold red]Error:[/bold red] {exc}", highlight=False, soft_wrap=True)


class DeciduaGroup(TyperGroup):
    """Root command group that turns :class:`DeciduaError` into exit code 1."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except DeciduaError as exc:
            report_error(exc)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=DeciduaGroup,
    help="Decidua: pre-pregnancy endometrial screening in recurrent pregnancy loss "
    "(research use only; not a diagnostic device).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from decidua.cli import cfu, core, methylation, risk, timing

    core.register(app)
    app.add_typer(timing.app, name="timing")
    app.add_typer(risk.app, name="risk")
    app.add_typer(risk.pathway_app, name="pathway")
    app.add_typer(cfu.app, name="cfu")
    app.add_typer(methylation.app, name="methylation")


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except DeciduaError as exc:  # pragma: no cover - raised outside a command
        report_error(exc)
        sys.exit(1)
