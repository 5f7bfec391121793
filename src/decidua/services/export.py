"""Pseudonymous research export use case."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from decidua.errors import InputError
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    rows
        Rows per exported table, in the order written.
    paths
        Files written (tables and the README).
    stable_key
        Whether ``DECIDUA_EXPORT_KEY`` was set (pseudonyms repeat across exports).
    k_anonymity
        Smallest group of women sharing the released quasi-identifiers.
    quasi_identifiers
        The quasi-identifier columns released.
    warnings
        What the user must be told (free text included, low k, random key).
    """

    rows: dict[str, int]
    paths: list[Path]
    stable_key: bool
    k_anonymity: int = 0
    quasi_identifiers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_format(fmt: str) -> None:
    """Refuse an unknown export format before any work."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose csv or parquet", column="--format")


def export(
    session: Session,
    actor: str,
    out: str | Path,
    *,
    fmt: str = "csv",
    include_non_consented: bool = False,
    shift_dates: bool = False,
    include_free_text: bool = False,
    exact_quasi_identifiers: bool = False,
) -> ExportResult:
    """Write the pseudonymous research export, and audit it (who, where, which options).

    See :mod:`decidua.io.export` for what is released. Who may export (and
    who may include non-consented women: an admin) is decided by
    :mod:`decidua.services.access`.

    Parameters
    ----------
    out
        Output directory: new, or an empty folder (checked before any work).
    fmt
        ``csv`` or ``parquet``.
    include_non_consented
        Also export women without research consent.
    shift_dates
        Move each woman's dates by a keyed offset (intervals kept).
    include_free_text
        Also export free-text fields (a warning is returned).
    exact_quasi_identifiers
        Exact age at the index date and BMI instead of bands.

    Raises
    ------
    InputError
        Unknown format, unusable output folder, a short ``DECIDUA_EXPORT_KEY``.
    """
    from decidua.io.export import (
        MIN_KEY_CHARS,
        check_output_dir,
        export_frames,
        export_key,
        write_export,
    )
    from decidua.store import audit

    check_format(fmt)
    check_output_dir(out)
    key, stable = export_key()
    require_schema(session)
    tables = export_frames(
        session, key, consented_only=not include_non_consented, shift_dates=shift_dates,
        include_free_text=include_free_text, exact_quasi_identifiers=exact_quasi_identifiers,
    )  # fmt: skip
    try:
        paths = write_export(tables, out, fmt)
    except OSError as exc:
        raise InputError(
            f"cannot write the export: {exc.strerror or exc}; nothing was written", file=str(out)
        ) from None
    rows = {name: len(f) for name, f in tables.frames.items()}
    options = {
        "format": fmt, "include_non_consented": include_non_consented,
        "shift_dates": shift_dates, "include_free_text": include_free_text,
        "exact_quasi_identifiers": exact_quasi_identifiers,
        "key": "DECIDUA_EXPORT_KEY" if stable else "random",
    }  # fmt: skip
    audit.record(
        session, actor=actor, action="create", entity="export", entity_id=None,
        entity_key=str(Path(out).absolute())[-128:],
        after={"options": options, "rows": rows, "k_anonymity": tables.k_anonymity,
               "quasi_identifiers": tables.quasi_identifiers},
    )  # fmt: skip
    warnings = list(tables.warnings)
    if not stable:
        warnings.append(
            "no DECIDUA_EXPORT_KEY set: pseudonyms are random for this export (set a key of at "
            f"least {MIN_KEY_CHARS} characters to link exports)"
        )
    return ExportResult(
        rows, paths, stable, tables.k_anonymity, tables.quasi_identifiers, warnings
    )
