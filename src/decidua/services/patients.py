"""Patient use cases: the list of women and one woman's timeline (view models).

The web application and the CLI show the same rows and the same timeline; they
only format them differently.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decidua import RESEARCH_USE_LABEL, domain
from decidua.errors import InputError
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
        If the schema is missing or out of date, for an unknown group or a negative limit.
    """
    from sqlalchemy import func, select

    from decidua.store import models as m
    from decidua.store.records import to_record

    if group is not None:
        group = group.strip().lower()  # coded values are case-insensitive (docs/formats.md)
        if group not in m.STUDY_GROUPS:
            raise InputError(f"unknown study group {group!r}; choose from: "
                             f"{', '.join(m.STUDY_GROUPS)}", column="--group", value=group)
    if limit < 0:
        raise InputError("--limit cannot be negative (0 = all)", column="--limit", value=limit)
    require_schema(session)
    stmt = patients_query()
    if group:
        stmt = stmt.where(m.Patient.study_group == group)
    if limit:
        stmt = stmt.limit(limit)
    rows = [summary_row(to_record(p), p.study_group) for p in session.scalars(stmt)]
    total = session.scalar(select(func.count()).select_from(m.Patient)) or 0
    return PatientList(rows, int(total))


def load_patient(session: Session, patient_id: str) -> tuple[Any, Any]:
    """A stored woman for a use case: the schema checked, then ``(patient, record)`` —
    the loaded :class:`~decidua.store.models.Patient` (pregnancies, investigations,
    biopsies with their results, interventions) and her
    :class:`~decidua.domain.PatientRecord`.

    Raises
    ------
    NotFoundError
        For an unknown id.
    InputError
        If the schema is missing or out of date.
    """
    from decidua.store.records import to_record

    patient = stored_patient(session, patient_id)
    return patient, to_record(patient)


def stored_patient(session: Session, patient_id: str) -> Any:
    """The schema checked, then the loaded :class:`~decidua.store.models.Patient`.

    Raises
    ------
    NotFoundError
        For an unknown id.
    InputError
        If the schema is missing or out of date.
    """
    from decidua.store.records import get_patient

    require_schema(session)
    return get_patient(session, patient_id)


def load_record(session: Session, patient_id: str) -> Any:
    """A stored woman's :class:`~decidua.domain.PatientRecord` (see :func:`load_patient`)."""
    return load_patient(session, patient_id)[1]


def show_patient(session: Session, actor: str, patient_id: str) -> PatientView:
    """One woman's record and timeline.

    Raises
    ------
    NotFoundError
        For an unknown id.
    InputError
        If the schema is missing or out of date.
    """
    patient, rec = load_patient(session, patient_id)
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
        if p.fetal_heart_activity is not None and p.is_loss:
            detail += ("; after fetal heart activity" if p.fetal_heart_activity
                       else "; no fetal heart activity seen")
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
        others: dict[str, int] = {}  # other kinds counted, not listed one by one
        for r in results.get(b.biopsy_id, []):
            if r["kind"] == "cfu":
                v = r["values"]
                detail += f"; CFU {v['colonies']}/{v['cells_seeded']} ({r['key']})"
            else:
                others[r["kind"]] = others.get(r["kind"], 0) + 1
        for kind, n in others.items():
            detail += f"; {kind} result" if n == 1 else f"; {kind} results ({n})"
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


def search_patients(
    session: Session,
    actor: str,
    *,
    search: str | None = None,
    min_losses: int | None = None,
    max_losses: int | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
    last_call: str | None = None,
    on: dt.date | None = None,
    only: Collection[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PatientList:
    """One page of women matching filters, filtered in the database (fast on large cohorts).

    Parameters
    ----------
    search
        Part of the patient id (case-insensitive).
    min_losses, max_losses
        Bounds on the number of losses (all recorded pregnancies).
    min_age, max_age
        Bounds on the age in whole years on ``on`` (default today), from the year of birth.
    last_call
        Clinic call of her latest biopsy: ``normal``, ``abnormal`` or ``none`` (no call).
    only
        Only these patient ids (e.g. the women whose research pseudonym matched).
    limit, offset
        The page. ``total`` of the result counts every matching woman.

    Each row also has ``last_biopsy_call`` (``None``: no biopsy or no call).
    """
    from sqlalchemy import func, or_, select

    from decidua.store import models as m
    from decidua.store.records import to_record

    require_schema(session)
    year = (on or dt.date.today()).year
    losses = (
        select(func.count())
        .where(m.Pregnancy.patient_id == m.Patient.id,
               m.Pregnancy.outcome.in_([o.value for o in domain.LOSS_OUTCOMES]))
        .correlate(m.Patient)
        .scalar_subquery()
    )  # fmt: skip
    latest = (
        select(m.Biopsy.clinic_call)
        .where(m.Biopsy.patient_id == m.Patient.id)
        .order_by(m.Biopsy.biopsy_date.desc(), m.Biopsy.id.desc())
        .limit(1)
        .correlate(m.Patient)
        .scalar_subquery()
    )
    conds: list[Any] = []
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(func.lower(m.Patient.pseudonym).like(f"%{escaped}%", escape="\\"))
    if only is not None:
        conds.append(m.Patient.pseudonym.in_(sorted(only)))
    if min_losses is not None:
        conds.append(losses >= min_losses)
    if max_losses is not None:
        conds.append(losses <= max_losses)
    if min_age is not None:  # age in whole years this year: year - year_of_birth (± 1)
        conds.append(m.Patient.year_of_birth <= year - min_age)
    if max_age is not None:
        conds.append(m.Patient.year_of_birth >= year - max_age)
    if last_call == "none":
        conds.append(or_(latest.is_(None)))
    elif last_call:
        conds.append(latest == last_call)
    ids = select(m.Patient.id).where(*conds)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    stmt = patients_query().where(*conds).offset(offset)
    if limit:
        stmt = stmt.limit(limit)
    rows = []
    for p in session.scalars(stmt):
        rec = to_record(p)
        row = summary_row(rec, p.study_group)
        dated = sorted(rec.biopsies, key=lambda b: (b.biopsy_date or dt.date.min))
        call = dated[-1].clinic_call if dated else None
        row["last_biopsy_call"] = call.value if call else None
        rows.append(row)
    return PatientList(rows, int(total))


def patient_audit(
    session: Session, actor: str, patient_id: str, *, values: bool = True
) -> list[dict[str, Any]]:
    """The audit trail of one woman's records (her row, pregnancies, investigations,
    biopsies and their results, interventions, risk assessments), oldest first.

    ``values=False`` leaves out the before / after values (a researcher's view).

    Raises
    ------
    NotFoundError
        For an unknown id.
    """
    from sqlalchemy import and_, or_, select

    from decidua.store import models as m

    p = stored_patient(session, patient_id)
    biopsy_ids = [b.id for b in p.biopsies]
    ids: dict[str, list[int]] = {
        "patient": [p.id],
        "pregnancy": [x.id for x in p.pregnancies],
        "investigation": [x.id for x in p.investigations],
        "biopsy": biopsy_ids,
        "intervention": [x.id for x in p.interventions],
        "assay_result": list(session.scalars(
            select(m.AssayResult.id).where(m.AssayResult.biopsy_id.in_(biopsy_ids)))),
        "risk_assessment": list(session.scalars(
            select(m.RiskAssessment.id).where(m.RiskAssessment.patient_id == p.id))),
    }  # fmt: skip
    conds = [and_(m.AuditEvent.entity == e, m.AuditEvent.entity_id.in_(v))
             for e, v in ids.items() if v]  # fmt: skip
    events = session.scalars(
        select(m.AuditEvent).where(or_(*conds)).order_by(m.AuditEvent.at, m.AuditEvent.id)
    )
    return [
        {"at": a.at.isoformat(), "actor": a.actor, "action": a.action, "entity": a.entity,
         "key": a.entity_key, "before": a.before if values else None,
         "after": a.after if values else None}
        for a in events
    ]  # fmt: skip


def patient_version(session: Session, patient_id: str) -> tuple[int, ...] | None:
    """A version of one woman's records and of what her views read besides them, for
    caching her views (``None``: no such woman); a write to another woman leaves it as is.

    In one statement: her row's id; for each table of her records (pregnancies,
    investigations, biopsies, interventions, her biopsies' results, calls and sign-offs,
    her risk assessments) the count and largest id of her rows (an added or removed row
    changes them), the count and largest id of the audit events of her row and of those
    rows (an update adds one; counts too, as PostgreSQL may commit ids out of order), and
    the count and largest id of the fitted marker references (the centiles her calls and
    before/after comparisons read, shared by all women). Model and rule versions are the
    running code's and belong to the caller's key.
    """
    row = session.execute(_patient_version_statement(), {"patient_id": patient_id}).one()
    return None if row[0] is None else tuple(int(v or 0) for v in row)


@functools.cache
def _patient_version_statement() -> Any:
    """The statement of :func:`patient_version`, built once (its compiled form is then
    reused: building it costs more than running it), the id a bound parameter."""
    from sqlalchemy import bindparam, func, select

    from decidua.store import models as m

    pid = (select(m.Patient.id).where(m.Patient.pseudonym == bindparam("patient_id"))
           .scalar_subquery())
    biopsies = select(m.Biopsy.id).where(m.Biopsy.patient_id == pid)
    owned = (
        (m.Pregnancy, m.Pregnancy.patient_id == pid),
        (m.Investigation, m.Investigation.patient_id == pid),
        (m.Biopsy, m.Biopsy.patient_id == pid),
        (m.Intervention, m.Intervention.patient_id == pid),
        (m.RiskAssessment, m.RiskAssessment.patient_id == pid),
        (m.AssayResult, m.AssayResult.biopsy_id.in_(biopsies)),
        (m.BiopsyCall, m.BiopsyCall.biopsy_id.in_(biopsies)),
        (m.BiopsySignoff, m.BiopsySignoff.biopsy_id.in_(biopsies)),
    )  # fmt: skip
    ev = m.AuditEvent
    own_events = ev.entity == m.Patient.__tablename__, ev.entity_id == pid
    cols = [pid, *(select(f).select_from(ev).where(*own_events).scalar_subquery()
                   for f in (func.count(), func.max(ev.id)))]  # fmt: skip
    for model, mine in owned:
        events = (ev.entity == model.__tablename__,
                  ev.entity_id.in_(select(model.id).where(mine)))  # fmt: skip
        cols += [select(f).select_from(t).where(*w).scalar_subquery()
                 for t, w in ((model, (mine,)), (ev, events))
                 for f in (func.count(), func.max(t.id))]  # fmt: skip
    cols += [select(func.count()).select_from(m.MarkerReference).scalar_subquery(),
             select(func.max(m.MarkerReference.id)).scalar_subquery()]  # fmt: skip
    return select(*cols)


#: The tables of a woman's own record (what her care pathway reads), with the audit trail.
_RECORD_TABLES = ("patient", "pregnancy", "investigation", "biopsy", "intervention",
                  "audit_event")  # fmt: skip


def record_mark(session: Session) -> tuple[tuple[int, int], ...]:
    """``(count, largest id)`` of each table of :data:`_RECORD_TABLES`, in one statement:
    where :func:`patients_changed_since` starts from."""
    from sqlalchemy import func, select

    from decidua.store import models as m

    tables = [m.Base.metadata.tables[t] for t in _RECORD_TABLES]
    cols = []
    for t in tables:
        cols += [select(func.count()).select_from(t).scalar_subquery(),
                 select(func.max(t.c.id)).scalar_subquery()]  # fmt: skip
    row = session.execute(select(*cols)).one()
    vals = [int(v or 0) for v in row]
    return tuple((vals[i], vals[i + 1]) for i in range(0, len(vals), 2))


def patients_changed_since(session: Session, mark: tuple[tuple[int, int], ...]) -> set[str] | None:
    """Ids of the women whose own record changed after :func:`record_mark` gave ``mark``:
    a row of hers added (an id past the mark's largest) or changed (an audit event past
    the mark on her row or one of hers). ``None`` when a row was removed meanwhile (fewer
    rows up to the mark's largest id than it counted): then who changed cannot be told.

    Read the new mark *before* this call and the records after it, so that nothing
    written in between is missed (at worst a woman is recomputed twice).
    """
    from sqlalchemy import and_, func, select, union

    from decidua.store import models as m

    tables = [m.Base.metadata.tables[t] for t in _RECORD_TABLES]
    kept = [select(func.count()).select_from(t).where(t.c.id <= top).scalar_subquery()
            for t, (_, top) in zip(tables, mark, strict=True)]  # fmt: skip
    if any(n != count for n, (count, _) in
           zip(session.execute(select(*kept)).one(), mark, strict=True)):  # fmt: skip
        return None
    tops = dict(zip(_RECORD_TABLES, (top for _, top in mark), strict=True))
    ev, p = m.AuditEvent, m.Patient
    parts = [select(p.pseudonym).where(p.id > tops["patient"]),
             select(p.pseudonym).join(ev, and_(ev.entity == "patient", ev.entity_id == p.id))
             .where(ev.id > tops["audit_event"])]  # fmt: skip
    for child in (m.Pregnancy, m.Investigation, m.Biopsy, m.Intervention):
        name = child.__tablename__
        parts += [
            select(p.pseudonym).join(child, child.patient_id == p.id)
            .where(child.id > tops[name]),
            select(p.pseudonym).join(child, child.patient_id == p.id)
            .join(ev, and_(ev.entity == name, ev.entity_id == child.id))
            .where(ev.id > tops["audit_event"]),
        ]  # fmt: skip
    return set(session.scalars(union(*parts)))


# ---------------------------------------------------------------- records to edit (web forms)

#: Import kinds whose records the web edits, with the import file's key columns (fixed on
#: an edit: a changed key would name another record) and (model attribute, column) pairs.
EDITABLE: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "pregnancies": (("order",), (("order", "order"), ("outcome", "outcome"),
                    ("gestation_weeks", "gestation_weeks"), ("conception", "conception"),
                    ("karyotype", "karyotype"), ("karyotype_detail", "karyotype_detail"),
                    ("outcome_date", "outcome_date"),
                    ("fetal_heart_activity", "fetal_heart_activity"))),
    "investigations": (("kind", "date"), (("kind", "kind"), ("date", "date"),
                       ("value", "value"), ("unit", "unit"),
                       ("interpretation", "interpretation"), ("text", "text"))),
    "biopsies": (("biopsy_id",), (("code", "biopsy_id"), ("cycle_number", "cycle_number"),
                 ("lh_surge_date", "lh_surge_date"), ("biopsy_date", "biopsy_date"),
                 ("on_treatment", "on_treatment"), ("clinic_call", "clinic_call"))),
    "interventions": (("kind", "start_date"), (("kind", "kind"),
                      ("start_date", "start_date"), ("end_date", "end_date"),
                      ("dose", "dose"), ("trial_arm", "trial_arm"))),
}  # fmt: skip
_RELATION = {"pregnancies": "pregnancies", "investigations": "investigations",
             "biopsies": "biopsies", "interventions": "interventions"}  # fmt: skip


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def stored_row(
    session: Session, actor: str, patient_id: str, kind: str, record_id: int
) -> dict[str, str]:
    """One stored record of a woman as the row of its import file (text values), so that
    a form can show it and store the edit as a one-row import with ``update``.

    Raises
    ------
    NotFoundError
        No such woman, or no record ``record_id`` of that kind that is hers.
    """
    from decidua.errors import NotFoundError

    if kind not in EDITABLE:
        require_schema(session)
        raise NotFoundError(f"no editable record kind {kind!r}")
    patient = stored_patient(session, patient_id)
    for obj in getattr(patient, _RELATION[kind]):
        if obj.id == record_id:
            row = {col: _as_text(getattr(obj, attr)) for attr, col in EDITABLE[kind][1]}
            row["patient_id"] = patient_id
            return row
    raise NotFoundError(f"no {kind[:-1] if kind != 'biopsies' else 'biopsy'} {record_id} "
                        f"of {patient_id!r}")  # fmt: skip


def editable_records(session: Session, actor: str, patient_id: str) -> list[dict[str, Any]]:
    """A woman's records that a form can edit: ``{"kind", "id", "label"}``, by kind and date.

    Raises
    ------
    NotFoundError
        For an unknown id.
    """
    p = stored_patient(session, patient_id)
    out: list[dict[str, Any]] = []
    for x in sorted(p.pregnancies, key=lambda x: x.order):
        when = f", {x.outcome_date.isoformat()}" if x.outcome_date else ""
        out.append({"kind": "pregnancies", "id": x.id,
                    "label": f"pregnancy {x.order} ({x.outcome.replace('_', ' ')}{when})"})
    for x in sorted(p.investigations, key=lambda x: (x.date or dt.date.min, x.id)):
        label = domain.INVESTIGATION_KINDS[x.kind].label if x.kind in domain.INVESTIGATION_KINDS \
            else x.kind  # fmt: skip
        out.append({"kind": "investigations", "id": x.id,
                    "label": f"{label}, {x.date.isoformat() if x.date else 'undated'}"})
    for x in sorted(p.biopsies, key=lambda x: (x.biopsy_date or dt.date.min, x.id)):
        out.append({"kind": "biopsies", "id": x.id, "label": f"biopsy {x.code}"})
    for x in sorted(p.interventions, key=lambda x: (x.start_date or dt.date.min, x.id)):
        out.append({"kind": "interventions", "id": x.id,
                    "label": f"{x.kind.replace('_', ' ')} from {x.start_date.isoformat()}"})
    return out
