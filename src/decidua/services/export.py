"""Pseudonymous research export use case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


# ---------------------------------------------------------------- research view (web)


@dataclass(frozen=True)
class ResearchIds:
    """The export's keyed pseudonyms of every woman and biopsy, both ways.

    Attributes
    ----------
    patients, biopsies
        Clinic id (biopsy code) -> pseudonym (``P…``, ``B…``, as in the export).
    """

    patients: dict[str, str]
    biopsies: dict[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_back_p", {v: k for k, v in self.patients.items()})
        object.__setattr__(self, "_back_b", {v: k for k, v in self.biopsies.items()})

    def patient_of(self, pseudonym: str) -> str | None:
        """The clinic id behind a patient pseudonym (``None``: no such pseudonym)."""
        return self._back_p.get(pseudonym)  # type: ignore[attr-defined]

    def biopsy_of(self, pseudonym: str) -> str | None:
        """The biopsy code behind a biopsy pseudonym (``None``: no such pseudonym)."""
        return self._back_b.get(pseudonym)  # type: ignore[attr-defined]


def research_key(fallback: bytes) -> bytes:
    """The key of research pseudonyms: ``DECIDUA_EXPORT_KEY`` when set (so a researcher
    sees the pseudonyms of the exports made with it), else ``fallback``.

    Raises
    ------
    InputError
        ``DECIDUA_EXPORT_KEY`` is set but too short.
    """
    from decidua.io.export import export_key
    from decidua.settings import get_settings

    if get_settings().export_key is None:
        return fallback
    return export_key()[0]


def research_ids(session: Session, key: bytes) -> ResearchIds:
    """Pseudonyms of every woman and biopsy with ``key`` (the export's keyed hash)."""
    from sqlalchemy import select

    from decidua.io.export import pseudonymise
    from decidua.store import models as m

    require_schema(session)
    pats = {p: pseudonymise(p, key, "P") for p in session.scalars(select(m.Patient.pseudonym))}
    bios = {b: pseudonymise(b, key, "B") for b in session.scalars(select(m.Biopsy.code))}
    return ResearchIds(pats, bios)


def research_ids_version(session: Session) -> tuple[int, ...]:
    """What :func:`research_ids` depends on: the count and largest id of the women and of
    the biopsies (their ids are the key columns of their rows: never edited), in one
    statement."""
    from sqlalchemy import func, select

    from decidua.store import models as m

    cols = [select(f).select_from(t).scalar_subquery() for t in (m.Patient, m.Biopsy)
            for f in (func.count(), func.max(t.id))]  # fmt: skip
    return tuple(int(v or 0) for v in session.execute(select(*cols)).one())


def research_age_band(year_of_birth: int, on: date | None = None) -> str:
    """The export's age band (``"30-34"``; ``"<25"``, ``">=45"``) of a woman on ``on``
    (default today), from her year of birth."""
    from decidua.io.export import age_band

    return str(age_band((on or date.today()).year - year_of_birth))


def research_row(row: dict[str, Any], ids: ResearchIds, on: date | None = None) -> dict[str, Any]:
    """A patient-list row (:func:`decidua.services.patients.summary_row`) as a researcher
    sees it, in the web's list and ``decidua patients list``: her pseudonym under ``ids`` in
    place of the clinic id, and the export's age band (on ``on``, default today) in place of
    her year of birth."""
    out = dict(row)
    out["age_band"] = research_age_band(out.pop("year_of_birth"), on)
    out["patient_id"] = ids.patients[row["patient_id"]]
    return out


def research_record(record: Any, ids: ResearchIds) -> Any:
    """A woman's record (:class:`decidua.domain.PatientRecord`) as a researcher sees it, in
    the web's patient page and ``decidua patient show``: her pseudonym and her biopsies'
    under ``ids``, and no free text (ethnicity, karyotype detail, investigation unit and
    text, dose, trial arm: what the export leaves out)."""
    import dataclasses

    preg = tuple(dataclasses.replace(p, karyotype_detail=None) for p in record.pregnancies)
    inv = tuple(dataclasses.replace(i, unit=None, text=None) for i in record.investigations)
    inter = tuple(dataclasses.replace(v, dose=None, trial_arm=None) for v in record.interventions)
    bio = tuple(dataclasses.replace(b, biopsy_id=ids.biopsies[b.biopsy_id])
                for b in record.biopsies)
    return dataclasses.replace(record, patient_id=ids.patients[record.patient_id],
                               ethnicity=None, pregnancies=preg, investigations=inv,
                               interventions=inter, biopsies=bio)  # fmt: skip


def research_bmi_band(bmi: float | None) -> str | None:
    """The export's WHO BMI band (``"18.5-24.9"``) in place of a BMI."""
    from decidua.io.export import bmi_band

    return bmi_band(bmi)


def research_age_limits(min_age: int | None, max_age: int | None) -> tuple[int | None, int | None]:
    """Age filter bounds widened to whole export age bands, so that filtering cannot
    narrow a woman down below her band (``(33, 33)`` -> ``(30, 34)``)."""
    from decidua.io.export import AGE_BANDS

    lo = None if min_age is None else max([b for b in AGE_BANDS if b <= min_age], default=0)
    hi = None
    if max_age is not None:
        above = [b for b in AGE_BANDS if b > max_age]
        hi = above[0] - 1 if above else None
    return lo, hi
