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
from pathlib import Path

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

    def rows(entity, fk="patient_id"):  # type: ignore[no-untyped-def]
        out = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            out.extend(session.scalars(select(entity).where(getattr(entity, fk).in_(chunk))))
        return out

    frames: dict[str, pd.DataFrame] = {}
    frames["patients"] = pd.DataFrame(
        [
            {
                "patient": pid[p.id],
                "year_of_birth": p.year_of_birth,
                "bmi": p.bmi,
                "study_group": p.study_group,
            }
            for p in patients
        ],
        columns=["patient", "year_of_birth", "bmi", "study_group"],
    )
    frames["pregnancies"] = pd.DataFrame(
        [
            {
                "patient": pid[r.patient_id],
                "order": r.order,
                "outcome": r.outcome,
                "gestation_weeks": r.gestation_weeks,
                "conception": r.conception,
                "karyotype": r.karyotype,
                "outcome_date": r.outcome_date,
            }
            for r in rows(m.Pregnancy)
        ],
        columns=["patient", "order", "outcome", "gestation_weeks", "conception", "karyotype",
                 "outcome_date"],
    )  # fmt: skip
    frames["investigations"] = pd.DataFrame(
        [
            {
                "patient": pid[r.patient_id],
                "kind": r.kind,
                "date": r.date,
                "value": r.value,
                "unit": r.unit,
                "interpretation": r.interpretation,
            }
            for r in rows(m.Investigation)
        ],
        columns=["patient", "kind", "date", "value", "unit", "interpretation"],
    )
    biopsies = rows(m.Biopsy)
    bid = {b.id: pseudonymise(b.code, key, "B") for b in biopsies}
    frames["biopsies"] = pd.DataFrame(
        [
            {
                "biopsy": bid[b.id],
                "patient": pid[b.patient_id],
                "cycle_number": b.cycle_number,
                "lh_day": b.lh_day,
                "biopsy_date": b.biopsy_date,
                "on_treatment": b.on_treatment,
                "clinic_call": b.clinic_call,
            }
            for b in biopsies
        ],
        columns=["biopsy", "patient", "cycle_number", "lh_day", "biopsy_date", "on_treatment",
                 "clinic_call"],
    )  # fmt: skip
    results = []
    bids = list(bid)
    for i in range(0, len(bids), 500):
        stmt = select(m.AssayResult).where(m.AssayResult.biopsy_id.in_(bids[i : i + 500]))
        results.extend(session.scalars(stmt))
    frames["assay_results"] = pd.DataFrame(
        [
            {
                "biopsy": bid[r.biopsy_id],
                "kind": r.kind,
                "result_key": r.result_key,
                "qc_status": r.qc_status,
                "batch": r.batch,
                **{f"value_{k}": v for k, v in sorted(r.values.items())},
            }
            for r in results
        ]
    )
    frames["interventions"] = pd.DataFrame(
        [
            {
                "patient": pid[r.patient_id],
                "kind": r.kind,
                "dose": r.dose,
                "start_date": r.start_date,
                "end_date": r.end_date,
                "trial_arm": r.trial_arm,
            }
            for r in rows(m.Intervention)
        ],
        columns=["patient", "kind", "dose", "start_date", "end_date", "trial_arm"],
    )
    return frames


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
