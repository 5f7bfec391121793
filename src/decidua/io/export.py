"""Pseudonymous research export (CSV or Parquet).

Patient and biopsy ids are replaced by keyed hashes (HMAC-SHA256), so an
export cannot be linked back to the clinic's ids without the key. With the
same key (``DECIDUA_EXPORT_KEY``) successive exports share pseudonyms; without
one, a random key is used and discarded, so exports cannot be linked at all.
Free-text fields are left out. By default only women who consented to
research are exported.

With ``shift_dates`` every date of a woman is moved by the same keyed offset
(1 to 182 days, earlier or later; REDCap-style date shifting), so intervals
within a woman are kept while calendar dates no longer match clinic records.
Her year of birth moves with the same offset, so ages stay within a year.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from decidua import RESEARCH_USE_LABEL
from decidua.errors import InputError
from decidua.store import models as m

ENV_EXPORT_KEY = "DECIDUA_EXPORT_KEY"
FORMATS = ("csv", "parquet")
#: Largest date shift, in days, applied with ``shift_dates``.
MAX_SHIFT_DAYS = 182


def pseudonymise(value: str, key: bytes, prefix: str) -> str:
    """Keyed, non-reversible pseudonym of an id (``prefix`` + 16 hex digits)."""
    return prefix + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def date_shift(pseudonym: str, key: bytes, max_days: int = MAX_SHIFT_DAYS) -> int:
    """Keyed per-woman date offset in days: in ``[-max_days, max_days]``, never 0.

    The same key and pseudonym always give the same offset, so successive
    exports with ``DECIDUA_EXPORT_KEY`` shift a woman's dates identically.
    """
    if max_days < 1:
        raise ValueError("max_days must be >= 1")
    digest = hmac.new(key, b"date-shift:" + pseudonym.encode(), hashlib.sha256).digest()
    k = int.from_bytes(digest[:8], "big") % (2 * max_days)
    return k - max_days if k < max_days else k - max_days + 1


def export_key() -> tuple[bytes, bool]:
    """The export key from ``DECIDUA_EXPORT_KEY``, or a random one (second item False)."""
    from decidua.settings import get_settings

    secret = get_settings().export_key
    if secret is not None:
        return secret.get_secret_value().encode(), True
    return secrets.token_bytes(32), False


def _select_in(session: Session, entity: Any, fk: str, ids: list[int]) -> list[Any]:
    """Rows of ``entity`` whose ``fk`` is in ``ids`` (chunked IN lists)."""
    out: list[Any] = []
    col = getattr(entity, fk)
    for i in range(0, len(ids), 500):
        out.extend(session.scalars(select(entity).where(col.in_(ids[i : i + 500]))))
    return out


def _frame(
    rows: list[Any],
    ids: dict[str, Callable[[Any], str]],
    attrs: list[str],
    shift: Callable[[Any], int] | None = None,
) -> pd.DataFrame:
    """One export table: pseudonymous id columns first, then plain attributes.

    ``shift(row)`` gives the row's date offset in days (``None``: dates kept).
    """

    def value(r: Any, a: str) -> Any:
        v = getattr(r, a)
        if shift is not None and isinstance(v, date):
            return v + timedelta(days=shift(r))
        return v

    return pd.DataFrame(
        [{**{c: f(r) for c, f in ids.items()}, **{a: value(r, a) for a in attrs}} for r in rows],
        columns=[*ids, *attrs],
    )


def _shifted_year(year: int | None, days: int) -> int | None:
    """A year of birth moved by ``days``, taking 1 July as the day within the year."""
    return None if year is None else (date(year, 7, 1) + timedelta(days=days)).year


def export_frames(
    session: Session, key: bytes, *, consented_only: bool = True, shift_dates: bool = False
) -> dict[str, pd.DataFrame]:
    """Build the export tables (pseudonymous ids, no free text).

    Parameters
    ----------
    session
        Open database session.
    key
        HMAC key for pseudonyms.
    consented_only
        Export only women with ``consent_research``.
    shift_dates
        Move each woman's dates (and year of birth) by her keyed offset
        (:func:`date_shift`); LH+ days and intervals are unchanged.
    """
    pstmt = select(m.Patient)
    if consented_only:
        pstmt = pstmt.where(m.Patient.consent_research.is_(True))
    patients = list(session.scalars(pstmt))
    pid = {p.id: pseudonymise(p.pseudonym, key, "P") for p in patients}
    offset = {p.id: date_shift(p.pseudonym, key) if shift_dates else 0 for p in patients}
    ids = list(pid)
    biopsies = _select_in(session, m.Biopsy, "patient_id", ids)
    bid = {b.id: pseudonymise(b.code, key, "B") for b in biopsies}

    def by_patient(r: Any) -> str:
        return pid[r.patient_id]

    def by_biopsy(r: Any) -> str:
        return bid[r.biopsy_id]

    def shift(r: Any) -> int:
        return offset[r.patient_id]

    sh = shift if shift_dates else None
    patient_frame = _frame(
        patients, {"patient": lambda p: pid[p.id]}, ["year_of_birth", "bmi", "study_group"]
    )
    if shift_dates:
        patient_frame["year_of_birth"] = [
            _shifted_year(p.year_of_birth, offset[p.id]) for p in patients
        ]

    results = _select_in(session, m.AssayResult, "biopsy_id", list(bid))
    assay = pd.DataFrame(
        [
            {
                "biopsy": by_biopsy(r),
                "kind": r.kind,
                "result_key": r.result_key,
                "qc_status": r.qc_status,
                "batch": r.batch,
                **{f"value_{k}": v for k, v in sorted(r.values.items())},
            }
            for r in results
        ]
    )
    return {
        "patients": patient_frame,
        "pregnancies": _frame(
            _select_in(session, m.Pregnancy, "patient_id", ids),
            {"patient": by_patient},
            ["order", "outcome", "gestation_weeks", "conception", "karyotype", "outcome_date"],
            sh,
        ),
        "investigations": _frame(
            _select_in(session, m.Investigation, "patient_id", ids),
            {"patient": by_patient},
            ["kind", "date", "value", "unit", "interpretation"],
            sh,
        ),
        "biopsies": _frame(
            biopsies,
            {"biopsy": lambda b: bid[b.id], "patient": by_patient},
            ["cycle_number", "lh_day", "biopsy_date", "on_treatment", "clinic_call"],
            sh,
        ),
        "assay_results": assay,
        "interventions": _frame(
            _select_in(session, m.Intervention, "patient_id", ids),
            {"patient": by_patient},
            ["kind", "dose", "start_date", "end_date", "trial_arm"],
            sh,
        ),
    }


def write_export(
    frames: dict[str, pd.DataFrame], out_dir: str | Path, fmt: str, *, dates_shifted: bool = False
) -> list[Path]:
    """Write export tables as ``<name>.csv`` or ``<name>.parquet`` plus a README.

    ``dates_shifted`` only changes what the README says about dates.

    Raises
    ------
    InputError
        For an unknown format.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose csv or parquet", column="format")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        written.append(path)
    readme = out / "README.txt"
    readme.write_text(
        "Decidua pseudonymous research export.\n"
        f"{RESEARCH_USE_LABEL}\n"
        "Patient and biopsy ids are keyed hashes (HMAC-SHA256); free text is omitted.\n"
        + (
            f"Dates are shifted per woman by a keyed offset of 1-{MAX_SHIFT_DAYS} days "
            "(earlier or later); intervals within a woman are exact.\n"
            if dates_shifted
            else "Dates are the clinic's calendar dates.\n"
        ),
        encoding="utf-8",
    )
    written.append(readme)
    return written
