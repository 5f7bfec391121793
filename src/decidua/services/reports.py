"""Report use cases: read a woman's (or a biopsy's) records, build the report, render it.

The report itself is pure (:mod:`decidua.reports`); this module reads what it
needs from the store, in one read-only session, and passes plain records in.
Who may ask for which report is the role table's business
(:mod:`decidua.services.access`): identified patient reports for clinicians
and admins, pseudonymised ones for researchers too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from decidua.reports.patient import PatientReport

#: Prefix of the pseudonyms of pseudonymised reports.
PSEUDONYM_PREFIX = "R-"


def report_pseudonym(patient_id: str) -> str:
    """The keyed pseudonym of a woman in a report (the export's key: ``DECIDUA_EXPORT_KEY``;
    without it a random key, so the pseudonym differs at every run)."""
    from decidua.io.export import export_key, pseudonymise

    key, _stable = export_key()
    return pseudonymise(patient_id, key, PSEUDONYM_PREFIX)


def patient_report(
    session: Session,
    actor: str,
    patient_id: str,
    *,
    pseudonymise: bool = False,
    on: dt.date | None = None,
    generated_at: dt.datetime | str | None = None,
) -> PatientReport:
    """A woman's report, built from her stored record and her biopsies' results.

    Parameters
    ----------
    session
        Open session (read only).
    actor
        The acting user.
    patient_id
        Her id.
    pseudonymise
        Leave out every identifier (see :mod:`decidua.reports.patient`).
    on
        Assessment day (default today): her age and the pregnancies counted.
    generated_at
        Generation time (default now).

    Raises
    ------
    NotFoundError
        For an unknown id.
    InputError
        If the schema is missing or out of date.
    """
    from decidua.reports.patient import build_patient_report
    from decidua.services.biopsies import show_biopsy
    from decidua.store.records import get_patient, to_record

    require_schema(session)
    patient = get_patient(session, patient_id)
    record = to_record(patient)
    docs: dict[str, Any] = {b.biopsy_id: show_biopsy(session, b.biopsy_id)
                            for b in record.biopsies}
    for doc in docs.values():  # ids and times of rows are not part of the record
        for r in doc.get("results", []):
            r.pop("id", None), r.pop("import_run_id", None), r.pop("derived_from_id", None)
            r.pop("created_at", None)
    return build_patient_report(
        record, docs, on=on or dt.date.today(), study_group=patient.study_group,
        pseudonym=report_pseudonym(record.patient_id) if pseudonymise else None,
        generated_at=generated_at)


def write_report(report: Any, out: str | Path) -> Path:
    """Render a report to ``out`` (``.pdf`` or ``.html``)."""
    from decidua.reports.render import write

    return write(report, out)
