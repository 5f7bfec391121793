"""Pseudonymous research export (CSV or Parquet).

Patient and biopsy ids are replaced by keyed hashes (HMAC-SHA256), so an
export cannot be linked back to the clinic's ids without the key. With the
same key (``DECIDUA_EXPORT_KEY``) successive exports share pseudonyms; without
one, a random key is used and discarded, so exports cannot be linked at all.
Free-text fields are left out. By default only women who consented to
research are exported.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
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


def pseudonymise(value: str, key: bytes, prefix: str) -> str:
    """Keyed, non-reversible pseudonym of an id (``prefix`` + 16 hex digits)."""
    return prefix + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def export_key() -> tuple[bytes, bool]:
    """The export key from ``DECIDUA_EXPORT_KEY``, or a random one (second item False)."""
    env = os.environ.get(ENV_EXPORT_KEY)
    if env:
        return env.encode(), True
    return secrets.token_bytes(32), False


def _select_in(session: Session, entity: Any, fk: str, ids: list[int]) -> list[Any]:
    """Rows of ``entity`` whose ``fk`` is in ``ids`` (chunked IN lists)."""
    out: list[Any] = []
    col = getattr(entity, fk)
    for i in range(0, len(ids), 500):
        out.extend(session.scalars(select(entity).where(col.in_(ids[i : i + 500]))))
    return out


def _frame(rows: list[Any], ids: dict[str, Callable[[Any], str]], attrs: list[str]) -> pd.DataFrame:
    """One export table: pseudonymous id columns first, then plain attributes."""
    return pd.DataFrame(
        [{**{c: f(r) for c, f in ids.items()}, **{a: getattr(r, a) for a in attrs}} for r in rows],
        columns=[*ids, *attrs],
    )


def export_frames(
    session: Session, key: bytes, *, consented_only: bool = True
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
    """
    pstmt = select(m.Patient)
    if consented_only:
        pstmt = pstmt.where(m.Patient.consent_research.is_(True))
    patients = list(session.scalars(pstmt))
    pid = {p.id: pseudonymise(p.pseudonym, key, "P") for p in patients}
    ids = list(pid)
    biopsies = _select_in(session, m.Biopsy, "patient_id", ids)
    bid = {b.id: pseudonymise(b.code, key, "B") for b in biopsies}

    def by_patient(r: Any) -> str:
        return pid[r.patient_id]

    def by_biopsy(r: Any) -> str:
        return bid[r.biopsy_id]

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
        "patients": _frame(
            patients, {"patient": lambda p: pid[p.id]}, ["year_of_birth", "bmi", "study_group"]
        ),
        "pregnancies": _frame(
            _select_in(session, m.Pregnancy, "patient_id", ids),
            {"patient": by_patient},
            ["order", "outcome", "gestation_weeks", "conception", "karyotype", "outcome_date"],
        ),
        "investigations": _frame(
            _select_in(session, m.Investigation, "patient_id", ids),
            {"patient": by_patient},
            ["kind", "date", "value", "unit", "interpretation"],
        ),
        "biopsies": _frame(
            biopsies,
            {"biopsy": lambda b: bid[b.id], "patient": by_patient},
            ["cycle_number", "lh_day", "biopsy_date", "on_treatment", "clinic_call"],
        ),
        "assay_results": assay,
        "interventions": _frame(
            _select_in(session, m.Intervention, "patient_id", ids),
            {"patient": by_patient},
            ["kind", "dose", "start_date", "end_date", "trial_arm"],
        ),
    }


def write_export(frames: dict[str, pd.DataFrame], out_dir: str | Path, fmt: str) -> list[Path]:
    """Write export tables as ``<name>.csv`` or ``<name>.parquet`` plus a README.

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
        "Patient and biopsy ids are keyed hashes (HMAC-SHA256); free text is omitted.\n",
        encoding="utf-8",
    )
    written.append(readme)
    return written
