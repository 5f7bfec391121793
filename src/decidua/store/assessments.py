"""Stored recurrence-risk assessments (what a clinician was shown, reproducibly)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from decidua.domain import PatientRecord
from decidua.store import audit
from decidua.store import models as m


def inputs_snapshot(record: PatientRecord, on: dt.date) -> dict[str, Any]:
    """The parts of a record a risk estimate depends on, as JSON-ready data."""

    def plain(obj: Any) -> dict[str, Any]:
        out = {}
        for k, v in dataclasses.asdict(obj).items():
            out[k] = v.isoformat() if isinstance(v, dt.date) else v
        return out

    return {
        "patient_id": record.patient_id,
        "as_of": on.isoformat(),
        "year_of_birth": record.year_of_birth,
        "pregnancies": [plain(p) for p in record.pregnancies],
        "biopsies": [plain(b) for b in record.biopsies],
    }


def save_assessment(
    session: Session,
    record: PatientRecord,
    result: dict[str, Any],
    *,
    on: dt.date,
    actor: str,
) -> m.RiskAssessment:
    """Store one risk estimate (``RiskEstimate.to_dict()``) with its inputs; audited."""
    patient = session.scalars(
        select(m.Patient).where(m.Patient.pseudonym == record.patient_id)
    ).one()
    lo, hi = result["interval"]
    row = m.RiskAssessment(
        patient_id=patient.id,
        actor=actor,
        model_version=str(result["model_version"]),
        p_loss=float(result["p_loss"]),
        interval_low=float(lo),
        interval_high=float(hi),
        inputs=inputs_snapshot(record, on),
        result=result,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="risk_assessment",
        entity_id=row.id,
        entity_key=f"patient={record.patient_id};model={row.model_version}",
        after={"p_loss": row.p_loss, "interval": [lo, hi], "model": row.model_version},
    )
    return row


def list_assessments(session: Session, patient_id: str) -> list[m.RiskAssessment]:
    """Stored assessments of one woman, oldest first."""
    stmt = (
        select(m.RiskAssessment)
        .join(m.Patient)
        .where(m.Patient.pseudonym == patient_id)
        .order_by(m.RiskAssessment.created_at, m.RiskAssessment.id)
    )
    return list(session.scalars(stmt))
