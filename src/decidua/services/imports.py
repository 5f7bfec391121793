"""Import use case: one file, validated, written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from decidua.io.importers import ImportReport

#: The kinds of import file, in the order a new database is filled (parents first).
KINDS = ("patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu", "unk")

ProgressFn = Callable[[int, int], None]


def check_kind(kind: str) -> None:
    """Refuse an unknown import kind (before any file or database is touched)."""
    from decidua.io.importers import SPECS

    if kind not in SPECS:
        # qpcr and elisa files have their own importers (decidua import qpcr|elisa)
        kinds = [*SPECS, *(k for k in ("qpcr", "elisa") if k not in SPECS)]
        raise InputError(f"unknown import kind {kind!r}; choose from: {', '.join(kinds)}")


def import_file(
    session: Session,
    actor: str,
    kind: str,
    path: str | Path,
    *,
    update: bool = False,
    dry_run: bool = False,
    sheet: str | None = None,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Read, validate and import one file: every row or none.

    Parameters
    ----------
    session
        Open session; the caller commits. A dry run rolls its work back here.
    actor
        Who imports (recorded in the import run and the audit trail).
    kind
        One of :data:`KINDS`.
    path
        CSV/TSV/XLSX file (see ``docs/formats.md``).
    update
        Allow rows that change stored records (each change audited).
    dry_run
        Validate and compare only; nothing is written.
    sheet
        XLSX: the worksheet to read (default: the active one; never a hidden one unnamed).
    progress
        Called as ``progress(done, total)``.

    Raises
    ------
    InputError
        Unknown kind, missing schema, an unreadable file, any bad row (all
        reported), or a change to a stored record without ``update``.
    """
    from decidua.io.importers import MAX_IMPORT_ROWS, import_table
    from decidua.io.readers import read_table

    check_kind(kind)
    require_schema(session)
    table = read_table(path, sheet=sheet, max_rows=MAX_IMPORT_ROWS)
    report = import_table(
        session, table, kind, actor=actor, update_existing=update, dry_run=dry_run,
        progress=progress,
    )  # fmt: skip
    if dry_run:
        session.rollback()
    return report


def import_row(
    session: Session,
    actor: str,
    kind: str,
    values: Mapping[str, Any],
    *,
    file_name: str,
    update: bool = False,
) -> ImportReport:
    """Import one record given as ``{column: value}`` (a web form, an API body) as a
    one-row file named ``file_name``: validated, stored and audited as any import is.

    ``None`` is an empty cell. Raises :class:`InputError` as :func:`import_file` does
    (the problems name the columns).
    """
    import csv
    import io
    import tempfile

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(list(values))
    w.writerow(["" if v is None else v for v in values.values()])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file_name
        path.write_text(buf.getvalue(), encoding="utf-8")
        return import_file(session, actor, kind, path, update=update)
