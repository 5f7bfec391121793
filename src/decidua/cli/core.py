"""Foundation commands: ``db``, ``import``, ``patients``, ``patient``, ``demo``, ``export``,
``users``. Formatting only: the work is done by :mod:`decidua.services`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from decidua import RESEARCH_USE_LABEL
from decidua.cli.output import console, dry_run_prefix, echo_json, err_console, table
from decidua.services.demo import demo_dir  # noqa: F401  (re-exported for scripts and tests)

if TYPE_CHECKING:
    from rich.progress import Progress

db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
patients_app = typer.Typer(help="List patients.", no_args_is_help=True)
patient_app = typer.Typer(help="One patient's record.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)


def actor() -> str:
    """Who is acting: ``$DECIDUA_USER`` or ``local:<login name>``."""
    from decidua.services.users import acting_user

    return acting_user()


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console.rich,
        transient=True,
        # off the terminal Rich draws nothing but still ends with a blank line on stderr
        disable=not err_console.rich.is_terminal,
    )


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or upgrade the database schema (Alembic migrations).

    Example: decidua db upgrade
    """
    from decidua.services import database

    reached, url = database.upgrade(revision)
    console.print(f"Database at revision {reached} ({url})")


@db_app.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument(..., help="Target revision, e.g. base."),
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: tables and their data are dropped.")
    ] = False,
    backup: Annotated[
        Path | None,
        typer.Option("--backup", help="Verified backup written first (needed when data exists)."),
    ] = None,
) -> None:
    """Downgrade the schema (``base`` empties the database); admin only.

    Needs --yes, and --backup FILE whenever a table holds rows (the backup is
    written and verified before anything is dropped).

    Example: decidua db downgrade base --yes --backup before-downgrade.sqlite
    """
    from decidua.services import database

    result = database.downgrade(revision, confirmed=yes, backup_file=backup)
    if result.backup is not None:
        console.print(f"Verified backup: {result.backup}")
    console.print(f"Database at revision {result.revision or 'base (empty)'}")


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="New backup file.")]) -> None:
    """Write a verified backup (SQLite online backup API; pg_dump for PostgreSQL); admin only.

    Example: decidua db backup backups/decidua-2026-12-01.sqlite
    """
    from decidua.services import database

    info = database.backup(file)
    console.print(f"Verified backup {info.path}: revision {info.revision}, {info.total_rows} rows")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="Backup written by `decidua db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm replacing existing data.")] = False,
) -> None:
    """Replace the database with a verified backup; admin only (or an empty database).

    Example: decidua db restore backups/decidua-2026-12-01.sqlite --yes
    """
    from decidua.services import database

    info = database.restore(file, confirmed=yes)
    console.print(f"Restored {info.path} (revision {info.revision})")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the latest one available."""
    from decidua.services import database

    current, head = database.revisions()
    console.print(f"current: {current or 'none'}  head: {head}")


# ---------------------------------------------------------------- import


def import_command(
    kind: Annotated[
        str,
        typer.Argument(
            help="patients | pregnancies | investigations | biopsies | interventions | cfu "
            "| unk | sabgal | qpcr | elisa"
        ),
    ],
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file (see docs/formats.md).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; write nothing.")
    ] = False,
    update: Annotated[
        bool, typer.Option("--update", help="Allow rows that change stored records (audited).")
    ] = False,
    sheet: Annotated[
        str | None,
        typer.Option("--sheet", help="XLSX: the worksheet to read (default: the active one)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    biopsy_map: Annotated[
        Path | None,
        typer.Option("--biopsy-map", help="qpcr: CSV/XLSX sample,biopsy_id (docs/qpcr.md); "
                     "elisa: sample,biopsy_id,culture_day,treatment,analyte (docs/elisa.md)."),
    ] = None,
    plate_map: Annotated[
        Path | None, typer.Option("--map", help="elisa only: plate map of an OD grid.")
    ] = None,
    analyte: Annotated[
        str | None, typer.Option("--analyte", help="elisa only: the plates' analyte.")
    ] = None,
    model: Annotated[str, typer.Option("--model", help="elisa only: 4pl or 5pl.")] = "4pl",
    weights: Annotated[
        str, typer.Option("--weights", help="elisa only: none, 1/y2, 1/var or power.")
    ] = "none",
    reference_gene: Annotated[
        list[str] | None,
        typer.Option("--reference-gene", help="qpcr only: reference target (default RPL19/L19)."),
    ] = None,
) -> None:
    """Import one file in one transaction: every bad row is reported and nothing is written.

    Example: decidua import patients patients.xlsx --sheet Patients --dry-run;
    decidua import qpcr plate.rdml --biopsy-map map.csv;
    decidua import elisa plate.txt --biopsy-map map.csv --analyte PRL
    """
    from decidua.services import imports
    from decidua.store.session import session_scope

    # an option of another kind was silently ignored (`import qpcr … --update`)
    given = {"--update": update, "--sheet": sheet is not None,
             "--biopsy-map": biopsy_map is not None, "--map": plate_map is not None,
             "--analyte": analyte is not None, "--model": model != "4pl",
             "--weights": weights != "none", "--reference-gene": bool(reference_gene)}
    applies = {"qpcr": {"--biopsy-map", "--reference-gene"},
               "elisa": {"--biopsy-map", "--map", "--analyte", "--model", "--weights"}}
    if kind not in applies:
        imports.check_kind(kind)  # an unknown kind first
    ignored = [o for o, on in given.items() if on and o not in
               applies.get(kind, {"--update", "--sheet"})]
    if ignored:
        from decidua.errors import InputError

        raise InputError(f"{', '.join(ignored)} do{'es' if len(ignored) == 1 else ''} not "
                         f"apply to import {kind}; nothing was read", column=ignored[0])
    if kind == "qpcr":
        from decidua.cli.biopsy import import_qpcr_cli

        import_qpcr_cli(file, biopsy_map, reference_gene, dry_run=dry_run, as_json=as_json)
        return
    if kind == "elisa":
        from decidua.cli.elisa import import_elisa_cli

        import_elisa_cli(file, biopsy_map, plate_map, analyte, model, weights, dry_run=dry_run,
                         as_json=as_json)
        return
    with _progress() as bar, session_scope() as s:
        task = bar.add_task(f"import {kind}", total=None)
        report = imports.import_file(
            s, actor(), kind, file, update=update, dry_run=dry_run, sheet=sheet,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    if as_json:
        echo_json(report.to_dict())
        return
    ins, upd = ("would insert", "would update") if dry_run else ("inserted", "updated")
    prefix = dry_run_prefix(dry_run)
    console.print(
        f"{prefix}{kind}: {report.n_rows} rows — {ins} {report.inserted}, "
        f"{upd} {report.updated}, unchanged {report.unchanged}"
    )
    for change in report.changes[:20]:
        console.print(f"  {change['key']}: {change['before']} → {change['after']}")


# ---------------------------------------------------------------- patients


@patients_app.command("list")
def patients_list(
    group: Annotated[
        str | None, typer.Option(help="Only this study group (rpl, control, other).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (0 = all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List patients with their losses, live births and biopsies.

    Example: decidua patients list --group rpl --limit 20

    A researcher sees each woman's research pseudonym (the export's keyed hash) and age
    band in place of her clinic id and year of birth, as in the web application.
    """
    from decidua.cli import acting_role
    from decidua.services.access import RESEARCHER
    from decidua.services.patients import list_patients
    from decidua.store.session import session_scope

    research = acting_role() == RESEARCHER
    with session_scope() as s:
        page = list_patients(s, actor(), group=group, limit=limit)
        rows = page.rows
        if research:
            rows = _research_rows(s, rows)
    if as_json:
        echo_json({**page.to_dict(), "patients": rows})
        return
    born = ("age_band", "age band") if research else ("year_of_birth", "born")
    cols = {"patient_id": "patient", born[0]: born[1], "study_group": "group",
            "pregnancies": "pregn.", "losses": "losses", "consecutive_losses": "consec.",
            "live_births": "live births", "biopsies": "biopsies"}  # fmt: skip
    t = table(f"Patients ({len(rows)} of {page.total})", tuple(cols.values()),
              caption=RESEARCH_USE_LABEL)
    if research:  # a pseudonym is whole or useless (a narrow terminal would cut it)
        t.columns[0].min_width = max((len(r["patient_id"]) for r in rows), default=0)
    for r in rows:
        t.add_row(*(str(r[k] if r[k] is not None else "") for k in cols))
    console.print(t)


def _research_rows(session: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """List rows as a researcher sees them; pseudonyms under ``DECIDUA_EXPORT_KEY`` (those of
    the exports), else under a key of this run only (said on stderr)."""
    import os

    from decidua.services.export import research_ids, research_key, research_row
    from decidua.settings import get_settings

    if get_settings().export_key is None:
        err_console.print("Note: no DECIDUA_EXPORT_KEY set: pseudonyms are random for this "
                          "run (set the export's key to see the pseudonyms of its exports).")
    ids = research_ids(session, research_key(os.urandom(32)))
    return [research_row(r, ids) for r in rows]


from decidua.cli.monitor import monitor_command  # noqa: E402 - registered below

patient_app.command("monitor")(monitor_command)


@patient_app.command("show")
def patient_show(
    patient_id: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one woman's timeline: pregnancies, investigations, biopsies, interventions.

    Example: decidua patient show DEC-0001
    """
    from rich.text import Text

    from decidua.cli import acting_role
    from decidua.services.access import RESEARCHER
    from decidua.services.patients import show_patient
    from decidua.store.session import session_scope

    if acting_role() == RESEARCHER:
        _research_show(patient_id, as_json)
        return
    with session_scope() as s:
        view = show_patient(s, actor(), patient_id)
    if as_json:
        echo_json(view.to_dict())
        return
    rec = view.record
    console.print(
        Text.assemble(
            (rec.patient_id, "bold"),
            f"  born {rec.year_of_birth}  BMI {rec.bmi or '—'}  group {view.study_group or '—'}\n"
            f"{len(rec.pregnancies)} pregnancies: {rec.n_losses} losses "
            f"({rec.consecutive_losses()} consecutive), {rec.n_live_births} live births",
        )
    )
    t = table("Timeline", ("date", "event", "details"), caption=RESEARCH_USE_LABEL)
    for e in view.timeline:
        t.add_row(e.date.isoformat() if e.date else "—", e.event, e.details)
    console.print(t)


def _research_show(pseudonym: str, as_json: bool) -> None:
    """``patient show`` for a researcher: she names the woman by her research pseudonym
    (under ``DECIDUA_EXPORT_KEY``) and sees it, an age band and a BMI band, and a timeline
    without free text (as on the web's patient page)."""
    from rich.text import Text

    from decidua.errors import InputError, NotFoundError
    from decidua.services import patients
    from decidua.services.export import (
        research_age_band,
        research_bmi_band,
        research_ids,
        research_key,
        research_record,
    )
    from decidua.settings import get_settings
    from decidua.store.session import session_scope

    if get_settings().export_key is None:
        raise InputError("a researcher names a woman by her research pseudonym, which needs "
                         "DECIDUA_EXPORT_KEY (the export's key; without it `patients list` "
                         "shows pseudonyms of one run only)", column="DECIDUA_EXPORT_KEY")
    with session_scope() as s:
        ids = research_ids(s, research_key(b""))
        clinic = ids.patient_of(pseudonym)
        if clinic is None:
            raise NotFoundError(f"no woman {pseudonym!r} (a researcher names women by their "
                                "research pseudonym: see `decidua patients list`)")
        view = patients.show_patient(s, actor(), clinic)
    rec = research_record(view.record, ids)
    events = patients.timeline(rec, {})
    out = {"patient_id": rec.patient_id, "age_band": research_age_band(rec.year_of_birth),
           "bmi_band": research_bmi_band(rec.bmi), "study_group": view.study_group,
           "losses": rec.n_losses, "consecutive_losses": rec.consecutive_losses(),
           "live_births": rec.n_live_births, "timeline": [e.to_dict() for e in events],
           "label": RESEARCH_USE_LABEL}  # fmt: skip
    if as_json:
        echo_json(out)
        return
    console.print(Text.assemble(
        (rec.patient_id, "bold"),
        f"  age {out['age_band']}  BMI {out['bmi_band'] or '—'}  group "
        f"{view.study_group or '—'}\n{len(rec.pregnancies)} pregnancies: {rec.n_losses} "
        f"losses ({out['consecutive_losses']} consecutive), {rec.n_live_births} live births"))
    t = table("Timeline", ("date", "event", "details"), caption=RESEARCH_USE_LABEL)
    for e in events:
        t.add_row(e.date.isoformat() if e.date else "—", e.event, e.details)
    console.print(t)


# ---------------------------------------------------------------- demo


def demo_command(
    database: Annotated[
        str | None,
        typer.Option(
            "--database", help="Database URL for the demo (default: a fresh var/demo.sqlite); "
            "refused if it holds patients."
        ),
    ] = None,
) -> None:
    """Load the bundled SYNTHETIC demo cohort into a fresh database and summarise it.

    Example: decidua demo
    """
    from rich.text import Text

    from decidua.services import demo
    from decidua.services.database import safe_url
    from decidua.store.session import session_scope

    url = demo.fresh_database(database)
    console.print(
        Text.assemble(("Decidua demo", "bold"),
                      " — SYNTHETIC cohort, not real patients. " + RESEARCH_USE_LABEL)
    )  # fmt: skip
    with _progress() as bar, session_scope() as s:

        def progress(kind: str) -> Any:
            task = bar.add_task(f"import {kind}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        demo.load_demo(
            s, progress=progress,
            imported=lambda r: console.print(f"  imported {r.inserted:>5} {r.kind}"),
        )  # fmt: skip
    with session_scope() as s:
        summary = demo.summarize_demo(s, demo.DEMO_ACTOR)
    t = table("Demo cohort (synthetic)", ("what", "count"), caption=RESEARCH_USE_LABEL)
    t.columns[1].justify = "right"
    for what, n in summary.counts:
        t.add_row(what, str(n))
    console.print(t)
    per = table(
        "First patients",
        ("patient", "group", "losses (consec.)", "live births", "biopsies (LH day, call)",
         "next-loss risk (95% CrI)"),
        caption=RESEARCH_USE_LABEL,
    )  # fmt: skip
    for r in summary.first:
        lo, hi = r["interval"]
        biops = ", ".join(f"{'LH+' + str(d) if d is not None else 'LH ?'} {c or '?'}"
                          for d, c in r["biopsies"])
        per.add_row(
            r["patient_id"], r["group"] or "", f"{r['losses']} ({r['consecutive_losses']})",
            str(r["live_births"]), biops, f"{r['p_loss']:.0%} ({lo:.0%}–{hi:.0%})",
        )  # fmt: skip
    console.print(per)
    console.print(
        f"\nDatabase: {safe_url(url)}\n"
        f"Explore it: decidua --db {url} patients list   |   "
        f"decidua --db {url} patient show <ID>"
    )


# ---------------------------------------------------------------- users


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name (lower case).")],
    role: Annotated[str, typer.Option(help="admin | clinician | scientist | researcher")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a web password from standard input.")
    ] = False,
) -> None:
    """Create a user with a role (audited). Never waits for input: without
    --password-stdin the user has no web login until `decidua users set-password NAME`.

    Example: decidua users add asha --role scientist --name "Asha P."
    Example: printf '%s' "$PW" | decidua users add asha --role admin --password-stdin
    """
    from decidua.services.users import add_user, set_password
    from decidua.store.session import session_scope

    password = _stdin_password() if password_stdin else None
    with session_scope() as s:
        user = add_user(s, actor(), username, role, display_name=name)
        if password is not None:
            set_password(s, actor(), username, password)
    login = "with a web login" if password is not None else (
        f"no web login until `decidua users set-password {user['username']}`")
    console.print(f"added {user['username']} ({user['role']}), {login}")


def _stdin_password() -> str:
    """A password from standard input (one line; the trailing newline dropped)."""
    import sys

    from decidua.errors import InputError

    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("--password-stdin: pipe the password in (standard input is a terminal)")
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InputError("--password-stdin: standard input held no password")
    return line


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument()],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's web password (asked twice, hidden, unless --password-stdin).

    Example: decidua users set-password asha
    """
    import sys

    from decidua.errors import InputError
    from decidua.services.users import set_password
    from decidua.store.session import session_scope

    if password_stdin or sys.stdin is None or not sys.stdin.isatty():
        password = _stdin_password()
    else:
        import getpass

        password = getpass.getpass("New web password: ")
        if getpass.getpass("Again: ") != password:
            raise InputError("the two passwords differ; nothing was changed")
    with session_scope() as s:
        set_password(s, actor(), username, password)
    console.print(f"web password set for {username}")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users and their roles."""
    from decidua.services.users import list_users
    from decidua.store.session import session_scope

    with session_scope() as s:
        users = list_users(s, actor())
    if as_json:
        echo_json(users)
        return
    t = table("Users", ("username", "role", "active", "name"))
    for u in users:
        t.add_row(u["username"], u["role"], "yes" if u["active"] else "no", u["name"] or "")
    console.print(t)


@users_app.command("deactivate")
def users_deactivate(username: Annotated[str, typer.Argument()]) -> None:
    """Deactivate a user (kept for the audit trail, never deleted)."""
    from decidua.services.users import deactivate_user
    from decidua.store.session import session_scope

    with session_scope() as s:
        deactivate_user(s, actor(), username)
    console.print(f"deactivated {username}")


# ---------------------------------------------------------------- export


def export_command(
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (new).")] = Path(
        "export"
    ),
    include_non_consented: Annotated[
        bool,
        typer.Option(
            "--include-non-consented", help="Also export women without research consent (admin)."
        ),
    ] = False,
    shift_dates: Annotated[
        bool,
        typer.Option(
            "--shift-dates",
            help="Move each woman's dates by a keyed offset of 1-182 days (intervals kept).",
        ),
    ] = False,
    include_free_text: Annotated[
        bool,
        typer.Option("--include-free-text", help="Also export free-text fields (warns)."),
    ] = False,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact-quasi-identifiers", help="Exact age and BMI instead of bands (warns)."
        ),
    ] = False,
) -> None:
    """Pseudonymous research export: keyed-hash ids, coded fields, age and BMI bands.

    Set DECIDUA_EXPORT_KEY (32+ characters) to get the same pseudonyms (and date
    shifts) across exports. Every export is audited.

    Example: decidua export --format parquet --shift-dates -o export/
    """
    from decidua.services import export
    from decidua.store.session import session_scope

    export.check_format(fmt)
    with session_scope() as s:
        result = export.export(
            s, actor(), out, fmt=fmt, include_non_consented=include_non_consented,
            shift_dates=shift_dates, include_free_text=include_free_text,
            exact_quasi_identifiers=exact,
        )  # fmt: skip
    for name, n in result.rows.items():
        console.print(f"  {name}: {n} rows")
    console.print(f"Wrote {len(result.paths)} files to {out}")
    console.print(
        f"k-anonymity of {', '.join(result.quasi_identifiers) or 'no quasi-identifiers'}: "
        f"{result.k_anonymity}"
    )
    for w in result.warnings:
        err_console.print(f"Warning: {w}")
