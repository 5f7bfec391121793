"""All-or-nothing importers: file → validated rows → one database transaction.

An import either writes every row of a file or nothing. Every bad row is
reported (file, row, column, value, reason), not just the first. Re-importing
an identical row is a no-op; a row that would change a stored record is an
error unless ``update=True``, and each change is audited with the values
before and after.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from decidua.errors import InputError, Problem
from decidua.io import schemas
from decidua.io.readers import RawTable, read_table
from decidua.io.validate import MAX_PROBLEMS, check_rows
from decidua.store import models as m

IMPORTER_VERSION = "1"
_CHUNK = 500

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportSpec:
    """How one kind of file maps onto one table.

    Attributes
    ----------
    kind
        Name used on the command line (``decidua import KIND FILE``).
    schema
        Pydantic row schema.
    entity
        ORM class written.
    parent
        ORM class the ``schema.parent_column`` refers to (``Patient`` or
        ``Biopsy``), or ``None``.
    fk_attr
        Attribute of ``entity`` holding the parent's id.
    key_attrs
        Attributes of ``entity`` identifying a stored record.
    """

    kind: str
    schema: type[schemas.RowSchema]
    entity: type[m.Base]
    parent: type[m.Patient] | type[m.Biopsy] | None
    fk_attr: str | None
    key_attrs: tuple[str, ...]
    description: str

    @property
    def required_columns(self) -> list[str]:
        return [n for n, f in self.schema.model_fields.items() if f.is_required()]

    @property
    def columns(self) -> list[str]:
        return list(self.schema.model_fields)


SPECS: dict[str, ImportSpec] = {
    s.kind: s
    for s in [
        ImportSpec("patients", schemas.PatientRow, m.Patient, None, None, ("pseudonym",),
                   "women (pseudonymous id, year of birth, BMI, consent)"),
        ImportSpec("pregnancies", schemas.PregnancyRow, m.Pregnancy, m.Patient, "patient_id",
                   ("patient_id", "order"), "obstetric history, one row per pregnancy"),
        ImportSpec("investigations", schemas.InvestigationRow, m.Investigation, m.Patient,
                   "patient_id", ("patient_id", "kind", "date"), "coded investigation results"),
        ImportSpec("biopsies", schemas.BiopsyRow, m.Biopsy, m.Patient, "patient_id",
                   ("code",), "cycles and endometrial biopsies"),
        ImportSpec("interventions", schemas.InterventionRow, m.Intervention, m.Patient,
                   "patient_id", ("patient_id", "kind", "start_date"), "intervention courses"),
        ImportSpec("cfu", schemas.CfuCountRow, m.AssayResult, m.Biopsy, "biopsy_id",
                   ("biopsy_id", "kind", "result_key"), "manual colony (CFU) counts"),
    ]
}  # fmt: skip


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    kind: str
    file: str
    sha256: str
    n_rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    import_run_id: int | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "sha256": self.sha256,
            "rows": self.n_rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "dry_run": self.dry_run,
            "import_run_id": self.import_run_id,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _resolve_parents(
    session: Session, spec: ImportSpec, rows: list[tuple[int, schemas.RowSchema]], path: str
) -> tuple[dict[str, int], list[Problem]]:
    if spec.parent is None:
        return {}, []
    col = spec.schema.parent_column
    assert col is not None
    code_attr = spec.parent.pseudonym if spec.parent is m.Patient else spec.parent.code
    wanted = sorted({getattr(r, col) for _, r in rows})
    ids: dict[str, int] = {}
    for chunk in _chunks(wanted):
        stmt = select(code_attr, spec.parent.id).where(code_attr.in_(chunk))
        ids.update({code: pk for code, pk in session.execute(stmt)})
    problems = [
        Problem(
            f"unknown {'patient' if spec.parent is m.Patient else 'biopsy'}"
            f" (import {'patients' if spec.parent is m.Patient else 'biopsies'} first)",
            path, row_no, col, getattr(r, col),
        )
        for row_no, r in rows
        if getattr(r, col) not in ids
    ]  # fmt: skip
    return ids, problems


def _columns(spec: ImportSpec) -> dict[str, Any]:
    """Attribute name → table column of the spec's entity."""
    return dict(sa_inspect(spec.entity).columns.items())


def _existing(session: Session, spec: ImportSpec, records: list[dict]) -> dict[tuple, dict]:
    """Stored rows matching the records' keys, as ``{key: {attr: value, "id": pk}}``."""
    if not records:
        return {}
    cols = _columns(spec)
    attrs = [a for a in records[0] if a in cols]
    first = cols[spec.key_attrs[0]]
    values = sorted({r[spec.key_attrs[0]] for r in records})
    found: dict[tuple, dict] = {}
    stmt_cols = [cols["id"], *(cols[a] for a in attrs)]
    conn = session.connection()
    for chunk in _chunks(values):
        for row in conn.execute(select(*stmt_cols).where(first.in_(chunk))):
            stored = dict(zip(["id", *attrs], row, strict=True))
            found[tuple(stored[a] for a in spec.key_attrs)] = stored
    return found


def _ids_by_key(session: Session, spec: ImportSpec, records: list[dict]) -> dict[tuple, int]:
    cols = _columns(spec)
    first = cols[spec.key_attrs[0]]
    values = sorted({r[spec.key_attrs[0]] for r in records})
    stmt_cols = [cols["id"], *(cols[a] for a in spec.key_attrs)]
    conn = session.connection()
    out: dict[tuple, int] = {}
    for chunk in _chunks(values):
        for pk, *key in conn.execute(select(*stmt_cols).where(first.in_(chunk))):
            out[tuple(key)] = pk
    return out


def import_table(
    session: Session,
    table: RawTable,
    kind: str,
    *,
    actor: str,
    update_existing: bool = False,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import a read table into the database inside the caller's transaction.

    Parameters
    ----------
    session
        Open session; the caller commits (or rolls back on error).
    table
        Rows read by :func:`decidua.io.readers.read_table`.
    kind
        One of :data:`SPECS`.
    actor
        Who is importing (recorded in the audit trail).
    update_existing
        Allow rows that change stored records (each change audited).
    dry_run
        Validate and compare only; nothing is written.
    progress
        Called as ``progress(done, total)`` while rows are processed.

    Raises
    ------
    InputError
        For any invalid row, unknown parent, or (without ``update_existing``)
        a row that would change a stored record. Nothing is written then.
    """
    spec = SPECS.get(kind)
    if spec is None:
        raise InputError(f"unknown import kind {kind!r}; choose from: {', '.join(SPECS)}")
    rows, problems = check_rows(table, spec.schema)
    total = len(table.rows)
    if progress:
        progress(0, total)
    parent_ids, orphans = _resolve_parents(session, spec, rows, table.path)
    problems += orphans
    if problems:
        problems.sort(key=lambda p: (p.row or 0))
        raise InputError(problems[:MAX_PROBLEMS])

    records: list[dict[str, Any]] = []
    for _, row in rows:
        rec = row.to_record()
        if spec.fk_attr is not None:
            rec[spec.fk_attr] = parent_ids[getattr(row, spec.schema.parent_column)]
        records.append(rec)
    existing = _existing(session, spec, records)

    report = ImportReport(kind, table.path, table.sha256, total, dry_run=dry_run)
    inserts: list[dict[str, Any]] = []
    updates: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    conflicts: list[Problem] = []
    for (row_no, _row), rec in zip(rows, records, strict=True):
        key = tuple(rec[a] for a in spec.key_attrs)
        obj = existing.get(key)
        if obj is None:
            inserts.append(rec)
            continue
        before = {a: obj[a] for a in rec if obj[a] != rec[a]}
        if not before:
            report.unchanged += 1
            continue
        after = {a: rec[a] for a in before}
        if not update_existing:
            for a in before:
                conflicts.append(
                    Problem(
                        f"differs from the stored record ({_jsonable(before[a])!r}); "
                        "use --update to change it",
                        table.path, row_no, a if a in table.columns else None, _jsonable(after[a]),
                    )
                )  # fmt: skip
        updates.append((obj, before, after))
    if conflicts:
        raise InputError(conflicts[:MAX_PROBLEMS])
    report.inserted, report.updated = len(inserts), len(updates)
    report.changes = [
        {"key": _key_text(spec, obj), "before": _json(b), "after": _json(a)}
        for obj, b, a in updates
    ]
    if dry_run or (not inserts and not updates):
        if progress:
            progress(total, total)
        return report

    run = m.ImportRun(
        kind=kind, file_name=Path(table.path).name, sha256=table.sha256,
        importer_version=IMPORTER_VERSION, actor=actor, n_rows=total,
        n_inserted=len(inserts), n_updated=len(updates), n_unchanged=report.unchanged,
    )  # fmt: skip
    session.add(run)
    session.flush()
    report.import_run_id = run.id
    now = m.utcnow()
    if spec.entity is m.AssayResult:
        for rec in inserts:
            rec.update(source_file=run.file_name, source_sha256=table.sha256, import_run_id=run.id)
    table_obj = spec.entity.__table__
    audits: list[dict[str, Any]] = []
    done = 0
    conn = session.connection()
    cols = _columns(spec)
    stmt = insert(table_obj)
    for chunk in _chunks(inserts, 5000):
        conn.execute(stmt, [{cols[a].key: v for a, v in rec.items()} for rec in chunk])
        done += len(chunk)
        if progress:
            progress(done, total)
    if inserts:
        ids = _ids_by_key(session, spec, inserts)
        for rec in inserts:
            key = tuple(rec[a] for a in spec.key_attrs)
            audits.append(
                {"at": now, "actor": actor, "action": "create", "entity": table_obj.name,
                 "entity_id": ids[key], "entity_key": _key_text(spec, rec), "before": None,
                 "after": _json(rec), "import_run_id": run.id}
            )  # fmt: skip
    if updates:
        session.execute(
            update(spec.entity), [{"id": obj["id"], **after} for obj, _, after in updates]
        )
        for obj, before, after in updates:
            audits.append(
                {"at": now, "actor": actor, "action": "update", "entity": table_obj.name,
                 "entity_id": obj["id"], "entity_key": _key_text(spec, obj),
                 "before": _json(before), "after": _json(after), "import_run_id": run.id}
            )  # fmt: skip
    for chunk in _chunks(audits, 2000):
        conn.execute(insert(m.AuditEvent.__table__), list(chunk))
    if progress:
        progress(total, total)
    return report


def _json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in values.items()}


def _key_text(spec: ImportSpec, rec: dict[str, Any]) -> str:
    return ";".join(f"{a}={_jsonable(rec[a])}" for a in spec.key_attrs)[:128]


def import_file(
    path: str | Path,
    kind: str,
    *,
    url: str | None = None,
    actor: str,
    update_existing: bool = False,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Read, validate and import one file in a single transaction.

    See :func:`import_table` for the parameters. ``url`` selects the database.
    """
    from decidua.store.session import session_scope

    if kind not in SPECS:
        raise InputError(f"unknown import kind {kind!r}; choose from: {', '.join(SPECS)}")
    table = read_table(path)
    with session_scope(url) as session:
        report = import_table(
            session, table, kind, actor=actor, update_existing=update_existing,
            dry_run=dry_run, progress=progress,
        )  # fmt: skip
        if dry_run:
            session.rollback()
    return report
