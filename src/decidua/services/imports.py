"""Import use case: one file, validated, written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
        raise InputError(f"unknown import kind {kind!r}; choose from: {', '.join(SPECS)}")


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
