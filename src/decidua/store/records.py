"""Turn stored rows into the plain records of :mod:`decidua.domain`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from decidua import domain
from decidua.errors import NotFoundError
from decidua.store import models as m


def get_patient(session: Session, patient_id: str) -> m.Patient:
    """Load a patient (with history, investigations, biopsies, interventions).

    Raises
    ------
    NotFoundError
        If no patient has this pseudonymous id.
    """
    stmt = (
        select(m.Patient)
        .where(m.Patient.pseudonym == patient_id)
        .options(
            selectinload(m.Patient.pregnancies),
            selectinload(m.Patient.investigations),
            selectinload(m.Patient.biopsies).selectinload(m.Biopsy.assay_results),
            selectinload(m.Patient.interventions),
        )
    )
    patient = session.scalars(stmt).one_or_none()
    if patient is None:
        raise NotFoundError(f"no patient with id {patient_id!r}")
    return patient


def to_record(patient: m.Patient) -> domain.PatientRecord:
    """Convert a loaded :class:`~decidua.store.models.Patient` to a ``PatientRecord``."""
    return domain.PatientRecord(
        patient_id=patient.pseudonym,
        year_of_birth=patient.year_of_birth,
        bmi=patient.bmi,
        ethnicity=patient.ethnicity,
        pregnancies=tuple(
            domain.PregnancyRecord(
                order=p.order,
                outcome=domain.Outcome(p.outcome),
                gestation_weeks=p.gestation_weeks,
                conception=domain.ConceptionMode(p.conception),
                karyotype=domain.KaryotypeResult(p.karyotype),
                karyotype_detail=p.karyotype_detail,
                outcome_date=p.outcome_date,
                fetal_heart_activity=p.fetal_heart_activity,
            )
            for p in sorted(patient.pregnancies, key=lambda p: p.order)
        ),
        investigations=tuple(
            domain.InvestigationRecord(
                kind=i.kind,
                interpretation=domain.Interpretation(i.interpretation),
                date=i.date,
                value=i.value,
                unit=i.unit,
                text=i.text,
            )
            for i in sorted(patient.investigations, key=lambda i: (i.date, i.kind))
        ),
        biopsies=tuple(
            domain.BiopsyRecord(
                biopsy_id=b.code,
                biopsy_date=b.biopsy_date,
                lh_surge_date=b.lh_surge_date,
                cycle_number=b.cycle_number,
                on_treatment=b.on_treatment,
                clinic_call=domain.DecidualCall(b.clinic_call) if b.clinic_call else None,
            )
            for b in sorted(patient.biopsies, key=lambda b: (b.biopsy_date, b.code))
        ),
        interventions=tuple(
            domain.InterventionRecord(
                kind=domain.InterventionKind(v.kind),
                start_date=v.start_date,
                end_date=v.end_date,
                dose=v.dose,
                trial_arm=v.trial_arm,
            )
            for v in sorted(patient.interventions, key=lambda v: v.start_date)
        ),
    )


def load_patient_record(session: Session, patient_id: str) -> domain.PatientRecord:
    """Load one woman's full record by pseudonymous id.

    Raises
    ------
    NotFoundError
        If no patient has this id.
    """
    return to_record(get_patient(session, patient_id))
