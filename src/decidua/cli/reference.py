"""`decidua reference …`: a clinic's own reference centiles by cycle day."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Reference centiles by cycle day (fit a clinic's own).",
                  no_args_is_help=True)


@app.command("fit")
def fit(
    marker: str = typer.Argument(..., help="cfu_pct, unk_pct or a qPCR marker (PRL, DIO2, …)."),
    protocol: str = typer.Option(None, "--protocol", help="Counting protocol (unk_pct)."),
    source: Path = typer.Option(None, "--from", help="Fit from a CSV/XLSX instead of the store."),
    day_column: str = typer.Option("day", "--day-column", help="With --from: the day column."),
    value_column: str = typer.Option(None, "--value-column",
                                     help="With --from: the value column (default MARKER)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit reference centiles of MARKER by cycle day and store them as a new version.

    Example: decidua reference fit cfu_pct   |   decidua reference fit unk_pct --protocol
    tuckerman2007   |   decidua reference fit IGFBP1 --from training.csv --day-column LH
    """
    from decidua.cli.core import actor
    from decidua.cli.output import console, echo_json
    from decidua.services import references
    from decidua.store.session import session_scope

    with session_scope() as s:
        report = references.fit_reference(s, actor(), marker, protocol=protocol,
                                          source_file=source, day_column=day_column,
                                          value_column=value_column)
    if as_json:
        echo_json(report.to_dict())
        return
    state = "stored" if report.stored else "already stored"
    console.print(f"{report.marker}: {report.n} values, version {report.version} ({state}); "
                  + ", ".join(f"{k}: {v}" for k, v in report.day_basis.items()))
    if report.excluded_on_treatment:
        console.print(f"  {report.excluded_on_treatment} biopsies on treatment left out")
