"""Patient use cases: the list of women and one woman's timeline (view models).

The web application and the CLI show the same rows and the same timeline; they
only format them differently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decidua import RESEARCH_USE_LABEL, domain
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PatientList:
    """One page of patients.

    Attributes
    ----------
    rows
        ``patient_id, year_of_birth, study_group, pregnancies, losses,
        consecutive_losses, live_births, biopsies`` per woman, by id.
    total
        Number of women in the database (all groups).
    """

    rows: list[dict[str, Any]]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"patients": self.rows, "total": self.total}


@dataclass(frozen=True)
class TimelineEvent:
    """One dated line of a woman's timeline (``date`` ``None`` when unknown)."""

    date: dt.date | None
    event: str
    details: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat() if self.date else None,
            "event": self.event,
            "details": self.details,
        }


@dataclass(frozen=True)
class PatientView:
    """One woman's record as shown to a clinician: summary facts and the timeline."""

    record: domain.PatientRecord
    study_group: str | None
    timeline: tuple[TimelineEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        rec = self.record
        return {
            "patient_id": rec.patient_id,
            "year_of_birth": rec.year_of_birth,
            "bmi": rec.bmi,
            "study_group": self.study_group,
            "losses": rec.n_losses,
            "consecutive_losses": rec.consecutive_losses(),
            "live_births": rec.n_live_births,
            "timeline": [e.to_dict() for e in self.timeline],
            "label": RESEARCH_USE_LABEL,
        }


def summary_row(rec: domain.PatientRecord, study_group: str | None) -> dict[str, Any]:
    """The list row of one woman."""
    return {
        "patient_id": rec.patient_id,
        "year_of_birth": rec.year_of_birth,
        "study_group": study_group,
        "pregnancies": len(rec.pregnancies),
        "losses": rec.n_losses,
        "consecutive_losses": rec.consecutive_losses(),
        "live_births": rec.n_live_births,
        "biopsies": len(rec.biopsies),
    }


def patients_query() -> Any:
    """Women by id with their history, investigations, biopsies and interventions
    loaded in one query per relation (no query per woman)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from decidua.store import models as m

    return (
        select(m.Patient)
        .order_by(m.Patient.pseudonym)
        .options(
            selectinload(m.Patient.pregnancies),
            selectinload(m.Patient.investigations),
            selectinload(m.Patient.biopsies),
            selectinload(m.Patient.interventions),
        )
    )


def list_patients(
    session: Session, actor: str, *, group: str | None = None, limit: int = 50
) -> PatientList:
    """Women ordered by id, with their losses, live births and biopsies.

    Parameters
    ----------
    session
        Open session.
    actor
        The acting user.
    group
        Only this study group (``rpl``, ``control``, ``other``).
    limit
        At most this many rows (0 = all).

    Raises
    ------
    InputError
        If the schema is missing or out of date.
    """
    from sqlalchemy import func, select

    from decidua.store import models as m
    from decidua.store.records import to_record

    require_schema(session)
    stmt = patients_query()
    if group:
        stmt = stmt.where(m.Patient.study_group == group)
    if limit:
        stmt = stmt.limit(limit)
    rows = [summary_row(to_record(p), p.study_group) for p in session.scalars(stmt)]
    total = session.scalar(select(func.count()).select_from(m.Patient)) or 0
    return PatientList(rows, int(total))


def show_patient(session: Session, actor: str, patient_id: str) -> PatientView:
    """One woman's record and timeline.

    Raises
    ------
    NotFoundError
        For an unknown id.
    InputError
        If the schema is missing or out of date.
    """
    from decidua.store.records import get_patient, to_record

    require_schema(session)
    patient = get_patient(session, patient_id)
    rec = to_record(patient)
    results = {
        b.code: [
            {"kind": r.kind, "key": r.result_key, "qc": r.qc_status, "values": r.values}
            for r in b.assay_results
        ]
        for b in patient.biopsies
    }
    return PatientView(rec, patient.study_group, tuple(timeline(rec, results)))


def timeline(rec: domain.PatientRecord, results: dict[str, list[dict]]) -> list[TimelineEvent]:
    """A woman's pregnancies, investigations, biopsies (with assay results) and
    interventions as dated events, oldest first (undated first).

    Parameters
    ----------
    rec
        The woman's record.
    results
        Assay results by biopsy id: ``{"kind", "key", "qc", "values"}`` dicts.
    """
    events: list[TimelineEvent] = []
    for p in rec.pregnancies:
        detail = p.outcome.value.replace("_", " ")
        if p.gestation_weeks is not None:
            detail += f" at {p.gestation_weeks:g} weeks"
        if p.karyotype is not domain.KaryotypeResult.NOT_TESTED:
            detail += f"; karyotype {p.karyotype.value}"
            if p.karyotype_detail:
                detail += f" ({p.karyotype_detail})"
        if p.conception not in (domain.ConceptionMode.SPONTANEOUS, domain.ConceptionMode.UNKNOWN):
            detail += f"; {p.conception.value}"
        events.append(TimelineEvent(p.outcome_date, f"pregnancy {p.order}", detail))
    for i in rec.investigations:
        info = domain.INVESTIGATION_KINDS[i.kind]
        val = f"{i.value:g} {i.unit or ''}".strip() + ", " if i.value is not None else ""
        events.append(TimelineEvent(i.date, info.label, f"{val}{i.interpretation.value}"))
    for b in rec.biopsies:
        detail = f"LH+{b.lh_day}" if b.lh_day is not None else "LH day unknown"
        if b.cycle_number:
            detail += f", cycle {b.cycle_number}"
        if b.on_treatment:
            detail += ", on treatment"
        if b.clinic_call:
            detail += f", decidual reaction {b.clinic_call.value}"
        for r in results.get(b.biopsy_id, []):
            if r["kind"] == "cfu":
                v = r["values"]
                detail += f"; CFU {v['colonies']}/{v['cells_seeded']} ({r['key']})"
            else:
                detail += f"; {r['kind']} result"
        events.append(TimelineEvent(b.biopsy_date, f"biopsy {b.biopsy_id}", detail))
    for v in rec.interventions:
        detail = v.kind.value.replace("_", " ")
        if v.dose:
            detail += f" {v.dose}"
        if v.trial_arm:
            detail += f" (trial arm {v.trial_arm})"
        if v.end_date:
            detail += f", until {v.end_date.isoformat()}"
        events.append(TimelineEvent(v.start_date, "intervention", detail))
    events.sort(key=lambda e: e.date or dt.date.min)
    return events
