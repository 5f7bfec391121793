"""Pseudonymous research export use case."""

from __future__ import annotations

from dataclasses import dataclass
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
    """

    rows: dict[str, int]
    paths: list[Path]
    stable_key: bool


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
) -> ExportResult:
    """Write the pseudonymous research export (keyed-hash ids, no free text).

    Parameters
    ----------
    out
        Output directory.
    fmt
        ``csv`` or ``parquet``.
    include_non_consented
        Also export women without research consent.
    shift_dates
        Move each woman's dates by a keyed offset (intervals kept).
    """
    from decidua.io.export import export_frames, export_key, write_export

    check_format(fmt)
    require_schema(session)
    key, stable = export_key()
    frames = export_frames(
        session, key, consented_only=not include_non_consented, shift_dates=shift_dates
    )
    paths = write_export(frames, out, fmt, dates_shifted=shift_dates)
    return ExportResult({name: len(f) for name, f in frames.items()}, paths, stable)
