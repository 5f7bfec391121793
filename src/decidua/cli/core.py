"""Foundation commands: ``db``, ``import``, ``patients``, ``patient``, ``demo``, ``export``."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from decidua import RESEARCH_USE_LABEL, domain
from decidua.errors import InputError

console = Console()

db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
patients_app = typer.Typer(help="List patients.", no_args_is_help=True)
patient_app = typer.Typer(help="One patient's record.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)

DEMO_ORDER = ("patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu")


def actor() -> str:
    """Who is acting: ``$DECIDUA_USER`` or ``local:<login name>``."""
    name = os.environ.get("DECIDUA_USER")
    if name:
        return name[:64]
    try:
        return f"local:{getpass.getuser()}"[:64]
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local:unknown"


def _root(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: $DECIDUA_DATABASE_URL or var/decidua.sqlite)."
        ),
    ] = None,
) -> None:
    """Decidua: pre-pregnancy endometrial screening in recurrent pregnancy loss.

    Research use only; not a diagnostic device.
    """
    from decidua.store.session import set_default_url

    set_default_url(db)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or upgrade the database schema (Alembic migrations).

    Example: decidua db upgrade
    """
    from decidua.store import migrate
    from decidua.store.session import resolve_url

    migrate.upgrade(revision=revision)
    console.print(f"Database at revision {migrate.current_revision()} ({_safe_url(resolve_url())})")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Downgrade the schema (``base`` empties the database).

    Example: decidua db downgrade base
    """
    from decidua.store import migrate

    migrate.downgrade(revision=revision)
    console.print(f"Database at revision {migrate.current_revision() or 'base (empty)'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the latest one available."""
    from decidua.store import migrate

    console.print(
        f"current: {migrate.current_revision() or 'none'}  head: {migrate.head_revision()}"
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _require_schema() -> None:
    from decidua.store import migrate

    if migrate.current_revision() != migrate.head_revision():
        raise InputError("the database schema is missing or out of date: run `decidua db upgrade`")


# ---------------------------------------------------------------- import


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def import_command(
    kind: Annotated[
        str,
        typer.Argument(
            help="patients | pregnancies | investigations | biopsies | interventions | cfu"
        ),
    ],
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file (see docs/formats.md).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; write nothing.")
    ] = False,
    update: Annotated[
        bool, typer.Option("--update", help="Allow rows that change stored records (audited).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import one file in one transaction: every bad row is reported and nothing is written.

    Example: decidua import patients patients.csv --dry-run
    """
    from decidua.io.importers import SPECS, import_file

    if kind not in SPECS:
        raise InputError(f"unknown import kind {kind!r}; choose from: {', '.join(SPECS)}")
    _require_schema()
    with _progress() as bar:
        task = bar.add_task(f"import {kind}", total=None)
        report = import_file(
            file, kind, actor=actor(), update_existing=update, dry_run=dry_run,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    ins, upd = ("would insert", "would update") if dry_run else ("inserted", "updated")
    prefix = "DRY RUN (nothing written) — " if dry_run else ""
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
    """
    from decidua.store import models as m
    from decidua.store.records import to_record
    from decidua.store.session import session_scope

    _require_schema()
    with session_scope() as s:
        stmt = select(m.Patient).order_by(m.Patient.pseudonym)
        if group:
            stmt = stmt.where(m.Patient.study_group == group)
        if limit:
            stmt = stmt.limit(limit)
        patients = list(s.scalars(stmt))
        rows = []
        for p in patients:
            rec = to_record(p)
            rows.append(
                {
                    "patient_id": rec.patient_id,
                    "year_of_birth": rec.year_of_birth,
                    "study_group": p.study_group,
                    "pregnancies": len(rec.pregnancies),
                    "losses": rec.n_losses,
                    "consecutive_losses": rec.consecutive_losses(),
                    "live_births": rec.n_live_births,
                    "biopsies": len(rec.biopsies),
                }
            )
        total = s.scalar(select(func.count()).select_from(m.Patient))
    if as_json:
        typer.echo(json.dumps({"patients": rows, "total": total}))
        return
    table = Table(title=f"Patients ({len(rows)} of {total})", caption=RESEARCH_USE_LABEL)
    for col in (
        "patient",
        "born",
        "group",
        "pregn.",
        "losses",
        "consec.",
        "live births",
        "biopsies",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v if v is not None else "") for v in r.values()))
    console.print(table)


@patient_app.command("show")
def patient_show(
    patient_id: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one woman's timeline: pregnancies, investigations, biopsies, interventions.

    Example: decidua patient show DEC-0001
    """
    from decidua.store.records import get_patient, to_record
    from decidua.store.session import session_scope

    _require_schema()
    with session_scope() as s:
        patient = get_patient(s, patient_id)
        rec = to_record(patient)
        results = {
            b.code: [
                {"kind": r.kind, "key": r.result_key, "qc": r.qc_status, "values": r.values}
                for r in b.assay_results
            ]
            for b in patient.biopsies
        }
        group = patient.study_group
    events = _timeline(rec, results)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "patient_id": rec.patient_id,
                    "year_of_birth": rec.year_of_birth,
                    "bmi": rec.bmi,
                    "study_group": group,
                    "losses": rec.n_losses,
                    "consecutive_losses": rec.consecutive_losses(),
                    "live_births": rec.n_live_births,
                    "timeline": [
                        {**e, "date": e["date"].isoformat() if e["date"] else None} for e in events
                    ],
                    "label": RESEARCH_USE_LABEL,
                }
            )
        )
        return
    console.print(
        f"[bold]{rec.patient_id}[/bold]  born {rec.year_of_birth}  BMI {rec.bmi or '—'}  "
        f"group {group or '—'}\n"
        f"{len(rec.pregnancies)} pregnancies: {rec.n_losses} losses "
        f"({rec.consecutive_losses()} consecutive), {rec.n_live_births} live births"
    )
    table = Table(title="Timeline", caption=RESEARCH_USE_LABEL)
    table.add_column("date")
    table.add_column("event")
    table.add_column("details")
    for e in events:
        table.add_row(e["date"].isoformat() if e["date"] else "—", e["event"], e["details"])
    console.print(table)


def _timeline(rec: domain.PatientRecord, results: dict[str, list[dict]]) -> list[dict]:
    events: list[dict] = []
    for p in rec.pregnancies:
        detail = p.outcome.value.replace("_", " ")
        if p.gestation_weeks is not None:
            detail += f" at {p.gestation_weeks:g} weeks"
        if p.karyotype is not domain.KaryotypeResult.NOT_TESTED:
            detail += f"; karyotype {p.karyotype.value}"
            if p.karyotype_detail:
                detail += f" ({p.karyotype_detail})"
        if p.conception not in (domain.ConceptionMode.SPONTANEOUS, domain.ConceptionMode.UNKNOWN):
            detail += f"; {p.conception.value}"
        events.append({"date": p.outcome_date, "event": f"pregnancy {p.order}", "details": detail})
    for i in rec.investigations:
        info = domain.INVESTIGATION_KINDS[i.kind]
        val = f"{i.value:g} {i.unit or ''}".strip() + ", " if i.value is not None else ""
        events.append(
            {"date": i.date, "event": info.label, "details": f"{val}{i.interpretation.value}"}
        )
    for b in rec.biopsies:
        detail = f"LH+{b.lh_day}" if b.lh_day is not None else "LH day unknown"
        if b.cycle_number:
            detail += f", cycle {b.cycle_number}"
        if b.on_treatment:
            detail += ", on treatment"
        if b.clinic_call:
            detail += f", decidual reaction {b.clinic_call.value}"
        for r in results.get(b.biopsy_id, []):
            if r["kind"] == "cfu":
                v = r["values"]
                detail += f"; CFU {v['colonies']}/{v['cells_seeded']} ({r['key']})"
            else:
                detail += f"; {r['kind']} result"
        events.append({"date": b.biopsy_date, "event": f"biopsy {b.biopsy_id}", "details": detail})
    for v in rec.interventions:
        detail = v.kind.value.replace("_", " ")
        if v.dose:
            detail += f" {v.dose}"
        if v.trial_arm:
            detail += f" (trial arm {v.trial_arm})"
        if v.end_date:
            detail += f", until {v.end_date.isoformat()}"
        events.append({"date": v.start_date, "event": "intervention", "details": detail})
    events.sort(key=lambda e: e["date"] or dt.date.min)
    return events


# ---------------------------------------------------------------- demo


def demo_dir() -> Path:
    """Directory of the bundled synthetic demo cohort CSV files."""
    return Path(str(resources.files("decidua") / "data" / "demo"))


def demo_command(
    database: Annotated[
        str | None,
        typer.Option(
            "--database", help="Database URL for the demo (default: a fresh var/demo.sqlite)."
        ),
    ] = None,
) -> None:
    """Load the bundled SYNTHETIC demo cohort into a fresh database and summarise it.

    Example: decidua demo
    """
    from decidua.io.importers import import_file
    from decidua.store import migrate
    from decidua.store.session import dispose_engines, set_default_url

    if database is None:
        path = Path(os.environ.get("DECIDUA_DATA_DIR", "var")) / "demo.sqlite"
        dispose_engines()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        database = f"sqlite:///{path}"
    set_default_url(database)
    console.print(
        "[bold]Decidua demo[/bold] — SYNTHETIC cohort, not real patients. " + RESEARCH_USE_LABEL
    )
    migrate.upgrade()
    src = demo_dir()
    with _progress() as bar:
        for kind in DEMO_ORDER:
            f = src / f"{kind}.csv"
            if not f.exists():
                continue
            task = bar.add_task(f"import {kind}", total=None)
            report = import_file(
                f, kind, actor="demo",
                progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
            )  # fmt: skip
            console.print(f"  imported {report.inserted:>5} {kind}")
    _print_summary()
    console.print(
        f"\nDatabase: {_safe_url(database)}\n"
        f"Explore it: decidua --db {database} patients list   |   "
        f"decidua --db {database} patient show <ID>"
    )


def _print_summary() -> None:
    from decidua.store import models as m
    from decidua.store.records import to_record
    from decidua.store.session import session_scope

    with session_scope() as s:
        patients = list(s.scalars(select(m.Patient).order_by(m.Patient.pseudonym)))
        records = [(p.study_group, to_record(p)) for p in patients]
        n_preg = s.scalar(select(func.count()).select_from(m.Pregnancy))
        n_biop = s.scalar(select(func.count()).select_from(m.Biopsy))
        n_inv = s.scalar(select(func.count()).select_from(m.Investigation))
        n_int = s.scalar(select(func.count()).select_from(m.Intervention))
    groups = Counter(g for g, _ in records)
    outcomes = Counter(p.outcome.value for _, r in records for p in r.pregnancies)
    table = Table(title="Demo cohort (synthetic)", caption=RESEARCH_USE_LABEL)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("patients", str(len(records)))
    for g, n in sorted(groups.items(), key=lambda kv: str(kv[0])):
        table.add_row(f"  group {g}", str(n))
    table.add_row("pregnancies", str(n_preg))
    for o, n in outcomes.most_common():
        table.add_row(f"  {o.replace('_', ' ')}", str(n))
    table.add_row("biopsies", str(n_biop))
    table.add_row("investigations", str(n_inv))
    table.add_row("interventions", str(n_int))
    console.print(table)

    from decidua.risk import predict_record

    per = Table(title="First patients", caption=RESEARCH_USE_LABEL)
    for col in (
        "patient", "group", "losses (consec.)", "live births", "biopsies (LH day, call)",
        "next-loss risk (95% CrI)",
    ):  # fmt: skip
        per.add_column(col)
    for group, r in records[:8]:
        biops = ", ".join(
            f"LH+{b.lh_day} {b.clinic_call.value if b.clinic_call else '?'}" for b in r.biopsies
        )
        est = predict_record(r)
        lo, hi = est.interval
        per.add_row(
            r.patient_id, group or "", f"{r.n_losses} ({r.consecutive_losses()})",
            str(r.n_live_births), biops, f"{est.p_loss:.0%} ({lo:.0%}–{hi:.0%})",
        )  # fmt: skip
    console.print(per)


# ---------------------------------------------------------------- users


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name (lower case).")],
    role: Annotated[str, typer.Option(help="admin | clinician | scientist | researcher")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a user with a role (audited).

    Example: decidua users add asha --role scientist --name "Asha P."
    """
    from decidua.store.session import session_scope
    from decidua.store.users import add_user

    _require_schema()
    with session_scope() as s:
        user = add_user(s, username, role, actor=actor(), display_name=name)
        console.print(f"added {user.username} ({user.role})")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users and their roles."""
    from decidua.store import models as m
    from decidua.store.session import session_scope

    _require_schema()
    with session_scope() as s:
        users = [
            {"username": u.username, "role": u.role, "active": u.active, "name": u.display_name}
            for u in s.scalars(select(m.User).order_by(m.User.username))
        ]
    if as_json:
        typer.echo(json.dumps(users))
        return
    table = Table(title="Users")
    for col in ("username", "role", "active", "name"):
        table.add_column(col)
    for u in users:
        table.add_row(u["username"], u["role"], "yes" if u["active"] else "no", u["name"] or "")
    console.print(table)


@users_app.command("deactivate")
def users_deactivate(username: Annotated[str, typer.Argument()]) -> None:
    """Deactivate a user (kept for the audit trail, never deleted)."""
    from decidua.store.session import session_scope
    from decidua.store.users import set_active

    _require_schema()
    with session_scope() as s:
        set_active(s, username, False, actor=actor())
    console.print(f"deactivated {username}")


# ---------------------------------------------------------------- export


def export_command(
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("export"),
    include_non_consented: Annotated[
        bool,
        typer.Option("--include-non-consented", help="Also export women without research consent."),
    ] = False,
    shift_dates: Annotated[
        bool,
        typer.Option(
            "--shift-dates",
            help="Move each woman's dates by a keyed offset of 1-182 days (intervals kept).",
        ),
    ] = False,
) -> None:
    """Pseudonymous research export (keyed-hash ids, no free text).

    Set DECIDUA_EXPORT_KEY to get the same pseudonyms (and date shifts) across exports.

    Example: decidua export --format parquet -o export/
    """
    from decidua.io.export import FORMATS, export_frames, export_key, write_export
    from decidua.store.session import session_scope

    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose csv or parquet", column="--format")
    _require_schema()
    key, stable = export_key()
    with session_scope() as s:
        frames = export_frames(
            s, key, consented_only=not include_non_consented, shift_dates=shift_dates
        )
    paths = write_export(frames, out, fmt, dates_shifted=shift_dates)
    for name, frame in frames.items():
        console.print(f"  {name}: {len(frame)} rows")
    console.print(f"Wrote {len(paths)} files to {out}")
    if not stable:
        console.print("(no DECIDUA_EXPORT_KEY set: pseudonyms are random for this export)")


def register(app: typer.Typer) -> None:
    """Attach the foundation commands to the root app."""
    app.callback()(_root)
    app.add_typer(db_app, name="db")
    app.command("import")(import_command)
    app.add_typer(patients_app, name="patients")
    app.add_typer(patient_app, name="patient")
    app.command("demo")(demo_command)
    app.command("export")(export_command)
    app.add_typer(users_app, name="users")
