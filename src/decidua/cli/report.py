"""`decidua report …`: patient (and later biopsy and cohort) reports as PDF or HTML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from decidua.errors import InputError

app = typer.Typer(help="Reports: patient letters and biopsy lab reports as PDF or HTML.",
                  no_args_is_help=True)


def _day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--on {value!r} is not a date (YYYY-MM-DD)", column="--on",
                         value=value) from None
    # the rule of every date in Decidua (docs/formats.md): not in the future, not before 1900
    if day > dt.date.today() or day.year < 1900:
        raise InputError(f"--on {value}: the assessment day cannot be in the future or "
                         "before 1900", column="--on", value=value)
    return day


@app.command("patient")
def patient_cmd(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    out: Annotated[Path, typer.Option("-o", "--output", help="Output file: .pdf or .html.")],
    pseudonymise: Annotated[bool, typer.Option(
        "--pseudonymise", help="Leave out every identifier (keyed pseudonym, relative days; "
        "set DECIDUA_EXPORT_KEY for a stable pseudonym).")] = False,
    on: Annotated[str | None, typer.Option(
        "--on", help="Assessment day YYYY-MM-DD (default today): regenerate an old "
        "report exactly.")] = None,
) -> None:
    """A woman's report: history, investigations, biopsies, risk, care pathway and a
    plain-language summary for her.

    Example: decidua report patient DEC-0003 -o DEC-0003.pdf
    """
    from decidua.cli.core import actor
    from decidua.cli.output import console
    from decidua.reports.render import output_format
    from decidua.services import reports
    from decidua.store.session import session_scope

    output_format(out)  # refuse a bad suffix before any work
    day = _day(on)
    with session_scope() as s:
        rep = reports.patient_report(s, actor(), patient_id, pseudonymise=pseudonymise, on=day)
    path = reports.write_report(rep, out)
    console.print(f"Wrote {path} ({rep.title.lower()}, {rep.subject}"
                  f"{', pseudonymised' if pseudonymise else ''}). {rep.label}")


@app.command("biopsy")
def biopsy_cmd(
    code: Annotated[str, typer.Argument(help="Biopsy code.")],
    out: Annotated[Path, typer.Option("-o", "--output", help="Output file: .pdf or .html.")],
) -> None:
    """A biopsy's lab report: each assay with its files and checksums, QC flags, the call
    and the signature block (filled once a scientist runs `decidua biopsy sign`).

    Example: decidua report biopsy EX-001-B1 -o EX-001-B1.pdf
    """
    from decidua.cli.core import actor
    from decidua.cli.output import console
    from decidua.reports.render import output_format
    from decidua.services import reports
    from decidua.store.session import session_scope

    output_format(out)
    with session_scope() as s:
        rep = reports.biopsy_report(s, actor(), code)
    path = reports.write_report(rep, out)
    console.print(f"Wrote {path} (biopsy report, {rep.subject}; {rep.signature.text}) "
                  f"{rep.label}")


@app.command("cohort")
def cohort_cmd(
    out: Annotated[Path, typer.Option("-o", "--output", help="Output file: .html or .pdf.")],
    on: Annotated[str | None, typer.Option(
        "--on", help="Assessment day of the risk, YYYY-MM-DD (default today).")] = None,
) -> None:
    """The pseudonymised cohort report for researchers: calls and risk across the cohort,
    the clinic call against the next pregnancy's outcome where known.

    Example: decidua report cohort -o cohort.html
    """
    from decidua.cli.core import actor
    from decidua.cli.output import console
    from decidua.reports.render import output_format
    from decidua.services import reports
    from decidua.store.session import session_scope

    output_format(out)
    day = _day(on)
    with session_scope() as s:
        rep = reports.cohort_report(s, actor(), on=day)
    path = reports.write_report(rep, out)
    console.print(f"Wrote {path} (cohort report, {rep.subject}). {rep.label}")
