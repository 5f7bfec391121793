"""Report use cases: read a woman's (or a biopsy's) records, build the report, render it.

The report itself is pure (:mod:`decidua.reports`); this module reads what it
needs from the store, in one read-only session, and passes plain records in.
Who may ask for which report is the role table's business
(:mod:`decidua.services.access`): identified patient reports for clinicians
and admins, pseudonymised ones for researchers too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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
    from decidua.services.biopsies import calls_for_risk, show_biopsy
    from decidua.services.monitor import monitor_patient
    from decidua.services.patients import load_patient
    from decidua.services.risk import check_model_age

    patient, record = load_patient(session, patient_id)
    docs: dict[str, Any] = {b.biopsy_id: show_biopsy(session, b.biopsy_id)
                            for b in record.biopsies}
    for doc in docs.values():  # ids and times of rows are not part of the record
        for r in doc.get("results", []):
            r.pop("id", None), r.pop("import_run_id", None), r.pop("derived_from_id", None)
            r.pop("created_at", None)
    # each biopsy's call as `risk patient` uses it (the newest computed one, else typed)
    _, rows = calls_for_risk(session, record)
    risk_calls = {r["biopsy"]: {k: r[k] for k in ("call", "used", "note", "source")}
                  for r in rows}
    day = on or dt.date.today()
    check_model_age(record, day)
    monitoring = monitor_patient(session, record.patient_id, on=day)["interventions"]
    return build_patient_report(
        record, docs, on=day, study_group=patient.study_group,
        risk_calls=risk_calls, references=centile_references(session),
        monitoring=monitoring,
        pseudonym=report_pseudonym(record.patient_id) if pseudonymise else None,
        generated_at=generated_at)


def centile_references(session: Session) -> dict[str, Any]:
    """Every reference a stored component may name, by version: the shipped timing-gene
    centiles and uNK range, and each stored clinic fit (``decidua reference fit``)."""
    from decidua.services.biopsies import load_references

    refs = load_references(session)
    out: dict[str, Any] = {r.version: r for r in refs.genes.values()}
    out.update({r.version: r for r in refs.clinic.values()})
    if refs.unk is not None:
        out[refs.unk.version] = refs.unk
    return out


def _signoff_dict(s: Any) -> dict[str, Any]:
    return {"version": s.version, "actor": s.actor, "display_name": s.display_name,
            "role": s.role, "signed_at": s.signed_at.isoformat() if s.signed_at else None,
            "results_sha256": s.results_sha256, "result_ids": list(s.result_ids or []),
            "note": s.note}


def _biopsy(session: Session, code: str) -> Any:
    from sqlalchemy import select

    from decidua.errors import NotFoundError
    from decidua.store import models as m

    b = session.scalar(select(m.Biopsy).where(m.Biopsy.code == code))
    if b is None:
        raise NotFoundError(f"no biopsy {code!r}")
    return b


def signoffs(session: Session, code: str) -> list[dict[str, Any]]:
    """A biopsy's sign-offs, oldest first."""
    from sqlalchemy import select

    from decidua.store import models as m

    b = _biopsy(session, code)
    rows = session.scalars(select(m.BiopsySignoff).where(m.BiopsySignoff.biopsy_id == b.id)
                           .order_by(m.BiopsySignoff.version))
    return [_signoff_dict(s) for s in rows]


def biopsy_report(
    session: Session, actor: str, code: str, *, generated_at: dt.datetime | str | None = None
) -> Any:
    """A biopsy's lab report: each result with its provenance and QC, the call, the
    signature block (from the newest sign-off, valid only if the results are unchanged).

    Raises
    ------
    NotFoundError
        For an unknown code.
    """
    from decidua.reports.biopsy import build_biopsy_report
    from decidua.services.biopsies import show_biopsy

    require_schema(session)
    b = _biopsy(session, code)
    doc = show_biopsy(session, code)
    return build_biopsy_report(
        doc, patient_id=b.patient.pseudonym, biopsy_date=b.biopsy_date,
        cycle_number=b.cycle_number, on_treatment=b.on_treatment, clinic_call=b.clinic_call,
        signoffs=signoffs(session, code), overlays=read_overlays(doc.get("results") or []),
        generated_at=generated_at)


def read_overlays(results: list[dict[str, Any]]) -> dict[str, bytes]:
    """The overlay pictures the results name (``values["overlay"]``) that exist as files,
    by the path as stored (a relative path is read from the working directory)."""
    out: dict[str, bytes] = {}
    for r in results:
        v = r.get("values") or {}
        ov = v.get("overlay") if isinstance(v, dict) else None
        if isinstance(ov, str) and ov and ov not in out:
            p = Path(ov)
            if p.is_file():
                out[ov] = p.read_bytes()
    return out


@dataclass(frozen=True)
class SignOff:
    """What ``sign_biopsy`` did: the version signed, and whether it is new."""

    biopsy: str
    version: int
    results_sha256: str
    n_results: int
    created: bool
    signed_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"biopsy": self.biopsy, "version": self.version,
                "results_sha256": self.results_sha256, "n_results": self.n_results,
                "created": self.created, "signed_by": self.signed_by}


def sign_biopsy(session: Session, actor: str, code: str, *, note: str | None = None) -> SignOff:
    """Sign a biopsy's results as they are now (audited).

    The sign-off records the SHA-256 of the results and their ids; those results can then
    no longer change (the store refuses an update or delete). Signing unchanged results
    again adds nothing; after new results, signing adds the next version.

    Raises
    ------
    NotFoundError
        Unknown biopsy, or an actor who is not a user of this database.
    InputError
        No results to sign.
    """
    from sqlalchemy import select

    from decidua.errors import InputError, NotFoundError
    from decidua.reports.biopsy import results_digest
    from decidua.services.biopsies import show_biopsy
    from decidua.store import audit
    from decidua.store import models as m
    from decidua.store.session import lock_for_write

    require_schema(session)
    lock_for_write(session, ("biopsy_signoff",))
    b = _biopsy(session, code)
    doc = show_biopsy(session, code)
    results = doc["results"]
    if not results:
        raise InputError(f"biopsy {code!r} has no assay results to sign")
    user = session.scalar(select(m.User).where(m.User.username == actor))
    if user is None:
        raise NotFoundError(f"{actor!r} is not a user of this database")
    digest = results_digest(results)
    last = session.scalar(select(m.BiopsySignoff).where(m.BiopsySignoff.biopsy_id == b.id)
                          .order_by(m.BiopsySignoff.version.desc()).limit(1))
    if last is not None and last.results_sha256 == digest:
        return SignOff(code, last.version, digest, len(results), False, last.actor)
    row = m.BiopsySignoff(biopsy_id=b.id, version=(last.version + 1) if last else 1,
                          actor=actor, display_name=user.display_name, role=user.role,
                          results_sha256=digest, result_ids=[r["id"] for r in results],
                          note=note)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="create", entity="biopsy_signoff",
                 entity_id=row.id, entity_key=f"{code}:v{row.version}",
                 after={"version": row.version, "results_sha256": digest,
                        "result_ids": row.result_ids, "role": user.role})
    return SignOff(code, row.version, digest, len(results), True, actor)


def cohort_report(
    session: Session, actor: str, *, on: dt.date | None = None,
    generated_at: dt.datetime | str | None = None,
) -> Any:
    """The pseudonymised cohort report of every woman in the database (aggregates only).

    Raises
    ------
    InputError
        If the schema is missing or out of date.
    """
    from sqlalchemy import select

    from decidua.reports.cohort import build_cohort_report
    from decidua.services.patients import patients_query
    from decidua.store import models as m
    from decidua.store.records import to_record

    require_schema(session)
    patients = list(session.scalars(patients_query()))
    calls: dict[str, str] = {}
    components: dict[str, list[dict[str, Any]]] = {}
    rows = session.execute(select(m.Biopsy.code, m.BiopsyCall.call, m.BiopsyCall.components)
                           .join(m.BiopsyCall, m.BiopsyCall.biopsy_id == m.Biopsy.id)
                           .order_by(m.BiopsyCall.id))
    for code, call, comps in rows:  # the newest call of each biopsy wins
        calls[code] = call
        components[code] = [{"name": c.get("name"), "centile": c.get("centile")}
                            for c in comps or [] if c.get("centile") is not None]
    return build_cohort_report([to_record(p) for p in patients],
                               {p.pseudonym: p.study_group for p in patients},
                               screening_calls=calls, screening_components=components,
                               trials=cohort_trials(session), on=on or dt.date.today(),
                               generated_at=generated_at)


#: Markers whose trial arms the cohort report compares (``decidua trial analyse``).
COHORT_TRIAL_MARKERS = ("cfu", "unk")


def cohort_trials(session: Session) -> list[dict[str, Any]]:
    """``trial analyse`` of each :data:`COHORT_TRIAL_MARKERS` (default family), or
    ``{"marker", "error"}`` where it cannot be fitted; participants' pseudonyms and
    biopsy codes are dropped (the cohort report shows no identifier)."""
    from decidua.errors import DeciduaError
    from decidua.services.trial import analyse_trial

    out = []
    for marker in COHORT_TRIAL_MARKERS:
        try:
            doc = analyse_trial(session, marker)
        except DeciduaError as exc:
            out.append({"marker": marker, "error": str(exc)})
            continue
        doc.pop("coefficients", None)
        doc["participants"] = [{"arm": p["arm"], "baseline": p["baseline"],
                                "followup": p["followup"]} for p in doc["participants"]]
        doc["excluded"] = [{"reason": e["reason"]} for e in doc.get("excluded") or []]
        out.append(doc)
    return out


def write_report(report: Any, out: str | Path) -> Path:
    """Render a report to ``out`` (``.pdf`` or ``.html``)."""
    from decidua.reports.render import write

    return write(report, out)
