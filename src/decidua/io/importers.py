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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from decidua.errors import InputError, Problem
from decidua.io import schemas
from decidua.io.readers import RawTable, read_table
from decidua.io.validate import MAX_PROBLEMS, check_rows
from decidua.store import models as m
from decidua.store.results import NewResult, ResultsFromFile, open_import_run
from decidua.store.session import lock_for_write

IMPORTER_VERSION = "1"
#: Most data rows of one import file. Every row is validated and compared in one
#: transaction, so memory grows with the rows. Measured peak resident memory of
#: `decidua import patients` (SQLite): 100,000 rows 408 MB, 150,000 rows 559 MB.
#: At this cap an import stays below 500 MB; split larger files (each part is
#: its own all-or-nothing import). The reader stops past the cap, so a larger
#: file (up to the 200 MB file-size cap) is refused without being held in memory.
MAX_IMPORT_ROWS = 100_000
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
        ImportSpec("unk", schemas.UnkFieldRow, m.AssayResult, m.Biopsy, "biopsy_id",
                   ("biopsy_id", "kind", "result_key"), "uNK (CD56) counts per field"),
        ImportSpec("sabgal", schemas.SabgalFieldRow, m.AssayResult, m.Biopsy, "biopsy_id",
                   ("biopsy_id", "kind", "result_key"), "SA-β-gal counts per field"),
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
    what = "patient" if spec.parent is m.Patient else "biopsy"
    missing = {getattr(r, col) for _, r in rows} - set(ids)
    near = _case_variants(session, code_attr, missing) if missing else {}
    problems = []
    for row_no, r in rows:
        code = getattr(r, col)
        if code in ids:
            continue
        hint = (
            f"; ids are case-sensitive: the stored id is {near[code.lower()]!r}"
            if code.lower() in near
            else f" (import {'patients' if what == 'patient' else 'biopsies'} first)"
        )
        problems.append(Problem(f"unknown {what}{hint}", path, row_no, col, code))
    return ids, problems


def _case_variants(session: Session, code_attr: Any, codes: Iterable[str]) -> dict[str, str]:
    """Stored ids equal to one of ``codes`` up to letter case: ``{lower: stored}``.

    One scan of the id column (no index on ``lower(id)`` is needed).
    """
    lowered = {c.lower() for c in codes}
    out: dict[str, str] = {}
    for (stored,) in session.execute(select(code_attr)):
        if stored.lower() in lowered:
            out[stored.lower()] = stored
    return out


def _case_problems(
    session: Session, spec: ImportSpec, rows: list[tuple[int, schemas.RowSchema]], path: str
) -> list[Problem]:
    """Refuse ids that differ from another id only in letter case (``DK-1`` / ``dk-1``).

    Ids are kept exactly as written (they are pseudonyms other systems use), so
    two spellings would otherwise create two women; both inside the file and
    against stored ids this is an error.
    """
    if spec.entity is m.Patient:
        column, attr = "patient_id", m.Patient.pseudonym
    elif spec.entity is m.Biopsy:
        column, attr = "biopsy_id", m.Biopsy.code
    else:
        return []
    problems: list[Problem] = []
    first: dict[str, tuple[int, str]] = {}
    codes: list[tuple[int, str]] = []
    for row_no, r in rows:
        code = getattr(r, column)
        low = code.lower()
        if low in first and first[low][1] != code:
            problems.append(
                Problem(
                    f"differs only in letter case from {first[low][1]!r} in row {first[low][0]}"
                    " (ids are case-sensitive; use one spelling)",
                    path, row_no, column, code,
                )
            )  # fmt: skip
        first.setdefault(low, (row_no, code))
        codes.append((row_no, code))
    stored = _case_variants(session, attr, (c for _, c in codes))
    for row_no, code in codes:
        other = stored.get(code.lower())
        if other is not None and other != code:
            problems.append(
                Problem(
                    f"differs only in letter case from the stored id {other!r}"
                    " (ids are case-sensitive; use the stored spelling)",
                    path, row_no, column, code,
                )
            )  # fmt: skip
    return problems


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


def _get(record: dict[str, Any], path: str) -> Any:
    if "." in path:
        top, sub = path.split(".", 1)
        return (record.get(top) or {}).get(sub)
    return record.get(path)


def _present_paths(spec: ImportSpec, columns: Iterable[str]) -> dict[str, str]:
    """Attribute paths set by the file's columns → the column that sets them."""
    out: dict[str, str] = {}
    for c in columns:
        for path in spec.schema.attrs_of(c):
            if path not in spec.key_attrs:
                out.setdefault(path, c)
    return out


def _file_key_text(row: schemas.RowSchema) -> str:
    """The row's key as the file writes it (``patient_id=DK-1;order=2``)."""
    return ";".join(
        f"{c}={_jsonable(v.value if hasattr(v, 'value') else v)}"
        for c, v in zip(row.key_columns, row.file_key(), strict=True)
    )[:128]


def _labelled(
    spec: ImportSpec, rec: dict[str, Any], row: schemas.RowSchema
) -> dict[str, Any]:
    """A record with file column names and the parent's id instead of internal keys."""
    label = {a: c for c in spec.schema.model_fields for a in spec.schema.attrs_of(c)}
    out: dict[str, Any] = {}
    for a, v in rec.items():
        if a == spec.fk_attr:
            col = spec.schema.parent_column
            out[col] = getattr(row, col)
        elif a == "values" and isinstance(v, dict):
            out.update({k: _jsonable(x) for k, x in v.items()})
        elif a != "result_key":
            out[label.get(a, a)] = _jsonable(v)
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

    A column absent from the file leaves that field of stored records
    unchanged; an empty cell in a present column clears the field where it
    may be empty. An empty cell in a column with a non-empty default (the
    consents, ``on_treatment``, ``conception``, ``karyotype``) never changes a
    stored value: write the value explicitly (e.g. ``false`` to revoke a
    consent). Every import, even one that changes nothing, is recorded as an
    :class:`~decidua.store.models.ImportRun` with the file's SHA-256.

    Parameters
    ----------
    session
        Open session; the caller commits (or rolls back on error). For
        concurrent imports to be safe it should come from
        :func:`decidua.store.session.write_scope` (as :func:`import_file` does).
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
        For any invalid row, unknown parent, id differing from another only in
        letter case, or (without ``update_existing``) a row that would change a
        stored record. Nothing is written then.
    """
    spec = SPECS.get(kind)
    if spec is None:
        raise InputError(f"unknown import kind {kind!r}; choose from: {', '.join(SPECS)}")
    if len(table.rows) > MAX_IMPORT_ROWS:
        raise InputError(
            f"has {len(table.rows):,} data rows; at most {MAX_IMPORT_ROWS:,} are imported at "
            "once: split the file (each part is imported all-or-nothing)",
            file=table.path,
        )
    rows, problems = check_rows(table, spec.schema)
    total = len(table.rows)
    if progress:
        progress(0, total)
    if not dry_run:
        # Everything read from here on is compared and written under one lock.
        lock_for_write(session, (spec.entity.__tablename__,))
    problems += _case_problems(session, spec, rows, table.path)
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
    present = _present_paths(spec, table.columns)
    defaults = {
        c: d for c, d in spec.schema.uncleared_columns().items() if c in table.columns
    }
    raw_rows = dict(table.rows) if defaults else {}

    report = ImportReport(kind, table.path, table.sha256, total, dry_run=dry_run)
    inserts: list[tuple[dict[str, Any], schemas.RowSchema]] = []
    # (stored record, changes {column label: (before, after)}, update values, row)
    updates: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], schemas.RowSchema]] = []
    conflicts: list[Problem] = []
    for (row_no, row), rec in zip(rows, records, strict=True):
        key = tuple(rec[a] for a in spec.key_attrs)
        obj = existing.get(key)
        if obj is None:
            inserts.append((rec, row))
            continue
        who = _file_key_text(row)
        empty = {c for c in defaults if raw_rows[row_no].get(c) is None}
        changes: dict[str, tuple[Any, Any]] = {}
        values: dict[str, Any] = {}
        for path, column in present.items():
            if column in empty:
                continue  # an empty cell with a default never changes a stored value
            old, new = _get(obj, path), _get(rec, path)
            if old == new:
                continue
            label = path.split(".", 1)[1] if "." in path else column
            changes[label] = (old, new)
            if "." in path:
                top, sub = path.split(".", 1)
                values.setdefault(top, dict(obj[top] or {}))[sub] = new
            else:
                values[path] = new
        if not changes:
            report.unchanged += 1
            continue
        if not update_existing:
            for label, (old, new) in changes.items():
                conflicts.append(
                    Problem(
                        f"{who}: differs from the stored value {_jsonable(old)!r}; "
                        "use --update to change it",
                        table.path, row_no, label, _jsonable(new),
                    )
                )  # fmt: skip
        updates.append((obj, changes, values, row))
    if conflicts:
        raise InputError(conflicts[:MAX_PROBLEMS])
    report.inserted, report.updated = len(inserts), len(updates)
    report.changes = [
        {
            "key": _file_key_text(row),
            "before": {k: _jsonable(b) for k, (b, _) in ch.items()},
            "after": {k: _jsonable(a) for k, (_, a) in ch.items()},
        }
        for _, ch, _, row in updates
    ]
    if dry_run:
        if progress:
            progress(total, total)
        return report

    try:
        return _write(session, spec, table, report, inserts, updates, actor, progress)
    except IntegrityError:
        # Only reachable when another writer bypasses the lock (e.g. an older
        # Decidua); the caller's transaction is rolled back, nothing is written.
        raise _written_meanwhile(table.path) from None


def _written_meanwhile(path: str) -> InputError:
    return InputError(
        "another process wrote the same records at the same time; nothing was "
        "written: run the import again to compare with what it stored",
        file=path,
    )


def _write(
    session: Session,
    spec: ImportSpec,
    table: RawTable,
    report: ImportReport,
    inserts: list[tuple[dict[str, Any], schemas.RowSchema]],
    updates: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], schemas.RowSchema]],
    actor: str,
    progress: ProgressFn | None,
) -> ImportReport:
    total = report.n_rows
    store = open_import_run(
        session, actor, kind=spec.kind, path=table.path, sha256=table.sha256,
        importer_version=IMPORTER_VERSION, n_rows=total, stamp_results=False,
    )  # fmt: skip
    run = store.run
    report.import_run_id = run.id
    if spec.entity is m.AssayResult:
        _store_results(session, store, spec, table.path, inserts, actor, progress, total)
    else:
        _insert_records(session, spec, run, inserts, actor, progress, total)
    table_obj = spec.entity.__table__
    if updates:
        now = m.utcnow()
        session.execute(
            update(spec.entity), [{"id": obj["id"], **vals} for obj, _, vals, _ in updates]
        )
        audits = [
            {"at": now, "actor": actor, "action": "update", "entity": table_obj.name,
             "entity_id": obj["id"], "entity_key": _file_key_text(row),
             "before": {k: _jsonable(b) for k, (b, _) in ch.items()},
             "after": {k: _jsonable(a) for k, (_, a) in ch.items()},
             "import_run_id": run.id}
            for obj, ch, _, row in updates
        ]  # fmt: skip
        conn = session.connection()
        for chunk in _chunks(audits, 2000):
            conn.execute(insert(m.AuditEvent.__table__), list(chunk))
    store.inserted, store.updated, store.unchanged = len(inserts), len(updates), report.unchanged
    store.finish()
    if progress:
        progress(total, total)
    return report


def _store_results(
    session: Session,
    store: ResultsFromFile,
    spec: ImportSpec,
    path: str,
    inserts: list[tuple[dict[str, Any], schemas.RowSchema]],
    actor: str,
    progress: ProgressFn | None,
    total: int,
) -> None:
    """Assay-result rows (CFU, uNK, SA-β-gal counts) through :mod:`decidua.store.results`,
    the one write path of imported results; audited with the row as the file wrote it."""
    run = store.run
    col, fk = spec.schema.parent_column, spec.fk_attr
    assert col is not None and fk is not None
    new: list[NewResult] = []
    for rec, row in inserts:
        rec.update(source_file=run.file_name, source_sha256=run.sha256, import_run_id=run.id)
        new.append(NewResult(
            getattr(row, col), rec[fk], rec["kind"], rec["result_key"],
            rec["values"], rec["qc_status"], batch=rec.get("batch"),
            entity_key=_file_key_text(row), audit_after=_labelled(spec, rec, row),
        ))  # fmt: skip
    store.store(session, actor, new,
                progress=(lambda done: progress(done, total)) if progress else None)
    if store.unchanged:
        # Compared under the write lock, so only another writer bypassing it (e.g. an
        # older Decidua) can have stored them meanwhile; the caller rolls back.
        raise _written_meanwhile(path)


def _insert_records(
    session: Session,
    spec: ImportSpec,
    run: m.ImportRun,
    inserts: list[tuple[dict[str, Any], schemas.RowSchema]],
    actor: str,
    progress: ProgressFn | None,
    total: int,
) -> None:
    """Rows of the record tables (women, pregnancies, ...), each audited."""
    now = m.utcnow()
    table_obj = spec.entity.__table__
    conn = session.connection()
    cols = _columns(spec)
    stmt = insert(table_obj)
    done = 0
    for chunk in _chunks(inserts, 5000):
        conn.execute(stmt, [{cols[a].key: v for a, v in rec.items()} for rec, _ in chunk])
        done += len(chunk)
        if progress:
            progress(done, total)
    if not inserts:
        return
    ids = _ids_by_key(session, spec, [rec for rec, _ in inserts])
    audits = [
        {"at": now, "actor": actor, "action": "create", "entity": table_obj.name,
         "entity_id": ids[tuple(rec[a] for a in spec.key_attrs)],
         "entity_key": _file_key_text(row), "before": None,
         "after": _labelled(spec, rec, row), "import_run_id": run.id}
        for rec, row in inserts
    ]  # fmt: skip
    for chunk in _chunks(audits, 2000):
        conn.execute(insert(m.AuditEvent.__table__), list(chunk))


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
    table = read_table(path, max_rows=MAX_IMPORT_ROWS)  # refused while reading past the cap
    with session_scope(url) as session:
        report = import_table(
            session, table, kind, actor=actor, update_existing=update_existing,
            dry_run=dry_run, progress=progress,
        )  # fmt: skip
        if dry_run:
            session.rollback()
    return report
