"""Helpers shared by the CLI tests (imported as ``cli_helpers``: pytest puts this folder
on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from decidua.cli import app

#: The example import files, in the order their foreign keys need.
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]


def load_examples(db: str, examples: Path, runner: CliRunner | None = None) -> None:
    """Import every example file of ``examples/import`` into ``db`` (each must exit 0)."""
    runner = runner or CliRunner()
    for kind in KINDS:
        r = runner.invoke(app, ["--db", db, "import", kind, str(examples / f"{kind}.csv")])
        assert r.exit_code == 0, r.output
