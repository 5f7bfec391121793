"""SQLAlchemy 2 ORM models of Decidua's patient data.

Derived facts (LH+ day, age, consecutive losses) are not stored: they are
computed from the stored dates and outcomes (see :mod:`decidua.domain`).
Coded columns are stored as strings with CHECK constraints so that SQLite and
PostgreSQL hold the same values.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from decidua import domain

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def _in(column: str, enum: type[StrEnum] | list[str]) -> str:
    values = [e.value for e in enum] if isinstance(enum, type) else list(enum)
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migrations)."""

    metadata = MetaData(naming_convention=NAMING)


STUDY_GROUPS = ["rpl", "control", "other"]


class Patient(Base):
    """A woman, known only by a pseudonymous id."""

    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint("year_of_birth BETWEEN 1900 AND 2100", name="year_of_birth_range"),
        CheckConstraint("bmi IS NULL OR (bmi > 0 AND bmi < 150)", name="bmi_range"),
        CheckConstraint(
            "study_group IS NULL OR " + _in("study_group", STUDY_GROUPS), name="study_group"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    year_of_birth: Mapped[int] = mapped_column(Integer)
    bmi: Mapped[float | None] = mapped_column(Float)
    ethnicity: Mapped[str | None] = mapped_column(String(64))
    study_group: Mapped[str | None] = mapped_column(String(16))
    consent_research: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_biobank: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    pregnancies: Mapped[list[Pregnancy]] = relationship(
        back_populates="patient", order_by="Pregnancy.order"
    )
    investigations: Mapped[list[Investigation]] = relationship(back_populates="patient")
    biopsies: Mapped[list[Biopsy]] = relationship(back_populates="patient")
    interventions: Mapped[list[Intervention]] = relationship(back_populates="patient")


class Pregnancy(Base):
    """One pregnancy of a patient, in order."""

    __tablename__ = "pregnancy"
    __table_args__ = (
        UniqueConstraint("patient_id", "pregnancy_order", name="uq_pregnancy_patient_order"),
        CheckConstraint("pregnancy_order >= 1", name="order_positive"),
        CheckConstraint(_in("outcome", domain.Outcome), name="outcome"),
        CheckConstraint(_in("conception", domain.ConceptionMode), name="conception"),
        CheckConstraint(_in("karyotype", domain.KaryotypeResult), name="karyotype"),
        CheckConstraint(
            "gestation_weeks IS NULL OR (gestation_weeks >= 0 AND gestation_weeks <= 45)",
            name="gestation_range",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    order: Mapped[int] = mapped_column("pregnancy_order", Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    gestation_weeks: Mapped[float | None] = mapped_column(Float)
    conception: Mapped[str] = mapped_column(String(24), default=domain.ConceptionMode.UNKNOWN)
    karyotype: Mapped[str] = mapped_column(String(16), default=domain.KaryotypeResult.NOT_TESTED)
    karyotype_detail: Mapped[str | None] = mapped_column(String(128))
    outcome_date: Mapped[dt.date | None] = mapped_column(Date)
    #: Fetal heart activity seen on ultrasound before the outcome; None: not known
    #: (schema revision 0011).
    fetal_heart_activity: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    patient: Mapped[Patient] = relationship(back_populates="pregnancies")


class Investigation(Base):
    """One coded investigation result of a patient."""

    __tablename__ = "investigation"
    __table_args__ = (
        UniqueConstraint("patient_id", "kind", "date", name="uq_investigation_key"),
        CheckConstraint(_in("kind", list(domain.INVESTIGATION_KINDS)), name="kind"),
        CheckConstraint(_in("interpretation", domain.Interpretation), name="interpretation"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    date: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(24))
    interpretation: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="investigations")


class Biopsy(Base):
    """An endometrial biopsy and the cycle it was taken in.

    The LH+ day is derived from the two dates (:attr:`lh_day`), never stored.
    """

    __tablename__ = "biopsy"
    __table_args__ = (
        CheckConstraint("cycle_number IS NULL OR cycle_number >= 1", name="cycle_positive"),
        CheckConstraint(
            "clinic_call IS NULL OR " + _in("clinic_call", domain.DecidualCall), name="clinic_call"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    cycle_number: Mapped[int | None] = mapped_column(Integer)
    lh_surge_date: Mapped[dt.date | None] = mapped_column(Date)
    biopsy_date: Mapped[dt.date] = mapped_column(Date)
    on_treatment: Mapped[bool] = mapped_column(Boolean, default=False)
    clinic_call: Mapped[str | None] = mapped_column(String(16))

    patient: Mapped[Patient] = relationship(back_populates="biopsies")
    assay_results: Mapped[list[AssayResult]] = relationship(back_populates="biopsy")

    @property
    def lh_day(self) -> int | None:
        """Days from LH surge to biopsy (derived)."""
        if self.lh_surge_date is None:
            return None
        return domain.lh_day(self.lh_surge_date, self.biopsy_date)


class ImportRun(Base):
    """One committed import of one file (provenance of every imported row)."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    importer_version: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    n_inserted: Mapped[int] = mapped_column(Integer, default=0)
    n_updated: Mapped[int] = mapped_column(Integer, default=0)
    n_unchanged: Mapped[int] = mapped_column(Integer, default=0)


class AssayResult(Base):
    """One assay result attached to a biopsy, with its provenance.

    ``result_key`` distinguishes several results of one assay on one biopsy
    (e.g. ``plate=P1;well=A1`` for colony counts); ``values`` holds the typed
    values of that assay as JSON (validated by the assay's importer).
    """

    __tablename__ = "assay_result"
    __table_args__ = (
        UniqueConstraint("biopsy_id", "kind", "result_key", name="uq_assay_result_key"),
        CheckConstraint(_in("kind", domain.AssayKind), name="kind"),
        CheckConstraint(_in("qc_status", domain.QCStatus), name="qc_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    biopsy_id: Mapped[int] = mapped_column(ForeignKey("biopsy.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    result_key: Mapped[str] = mapped_column(String(128), default="")
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    qc_status: Mapped[str] = mapped_column(String(16), default=domain.QCStatus.PENDING)
    batch: Mapped[str | None] = mapped_column(String(64))
    source_file: Mapped[str | None] = mapped_column(String(512))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Version of the code that read the file (e.g. ``decidua.io.qpcr/1``).
    importer_version: Mapped[str | None] = mapped_column(String(64))
    #: Model / reference the result was computed with (e.g. the timing reference).
    analysis_version: Mapped[str | None] = mapped_column(String(128))
    #: The stored result this one was computed from (a placement from its qPCR result).
    derived_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("assay_result.id", ondelete="SET NULL")
    )

    biopsy: Mapped[Biopsy] = relationship(back_populates="assay_results")


#: Calls a computed biopsy call can take (``decidua.screening.CALLS``).
BIOPSY_CALLS = ["normal", "abnormal", "uncallable"]


class BiopsyCall(Base):
    """A computed screening call on a biopsy (``decidua biopsy analyse``), never overwritten.

    ``evidence`` snapshots what the call used (result ids, values, centiles and the
    reference versions), so that the call can be reproduced from records and versions.
    """

    __tablename__ = "biopsy_call"
    __table_args__ = (CheckConstraint(_in("call", BIOPSY_CALLS), name="call"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    biopsy_id: Mapped[int] = mapped_column(ForeignKey("biopsy.id", ondelete="CASCADE"), index=True)
    call: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    components: Mapped[list[Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_version: Mapped[str] = mapped_column(String(32))
    analysis_version: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MarkerReference(Base):
    """A clinic's fitted reference centiles of one marker (``decidua reference fit``).

    ``data`` is :meth:`decidua.reference.centiles.DayCentiles.to_dict`; ``version`` its
    hash. Refitting adds a row; calls record the version they used.
    """

    __tablename__ = "marker_reference"
    __table_args__ = (UniqueConstraint("marker", "version", name="uq_marker_reference_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    marker: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(128))
    n: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Intervention(Base):
    """An intervention course (recorded, never recommended)."""

    __tablename__ = "intervention"
    __table_args__ = (
        UniqueConstraint("patient_id", "kind", "start_date", name="uq_intervention_key"),
        CheckConstraint(_in("kind", domain.InterventionKind), name="kind"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    dose: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    trial_arm: Mapped[str | None] = mapped_column(String(64))

    patient: Mapped[Patient] = relationship(back_populates="interventions")


class RiskAssessment(Base):
    """A recurrence-risk estimate as given at one time, with the inputs it used.

    Stored so that what a clinician was shown can be reproduced exactly: the
    inputs snapshot plus ``model_version`` regenerate the numbers.
    """

    __tablename__ = "risk_assessment"
    __table_args__ = (
        CheckConstraint("p_loss >= 0 AND p_loss <= 1", name="p_loss_range"),
        CheckConstraint("interval_low <= p_loss AND p_loss <= interval_high", name="interval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    p_loss: Mapped[float] = mapped_column(Float)
    interval_low: Mapped[float] = mapped_column(Float)
    interval_high: Mapped[float] = mapped_column(Float)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class User(Base):
    """A person using Decidua, with one role."""

    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint(_in("role", domain.Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: argon2 hash of the web password; ``None``: no web login.
    password_hash: Mapped[str | None] = mapped_column(String(255))


class ApiToken(Base):
    """A token for scripts using the JSON API: only its SHA-256 is stored; revocable."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A web login: only the SHA-256 of its session id is stored; ended at logout,
    when the user is deactivated or her password changes, or when too old."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class AuditEvent(Base):
    """Who changed what, when, with the values before and after."""

    __tablename__ = "audit_event"
    __table_args__ = (
        CheckConstraint("action IN ('create', 'update', 'delete')", name="action"),
        Index("ix_audit_event_entity", "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    entity_key: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"))


class BiopsySignoff(Base):
    """A scientist's sign-off of a biopsy's results, as they were when signed.

    ``results_sha256`` is the checksum of the signed results (kind, key, values, QC,
    provenance, versions); ``result_ids`` the results it covers. A signed result
    cannot change (see :func:`_refuse_signed_change`); new results make the
    sign-off stale until a new ``version`` is signed.
    """

    __tablename__ = "biopsy_signoff"
    __table_args__ = (
        UniqueConstraint("biopsy_id", "version", name="uq_biopsy_signoff_version"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    biopsy_id: Mapped[int] = mapped_column(
        ForeignKey("biopsy.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    results_sha256: Mapped[str] = mapped_column(String(64))
    result_ids: Mapped[list[int]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


def _refuse_signed_change(mapper: Any, connection: Any, target: AssayResult) -> None:
    """An assay result covered by a sign-off is never updated or deleted in place."""
    from sqlalchemy import select

    rows = connection.execute(
        select(BiopsySignoff.version, BiopsySignoff.result_ids).where(
            BiopsySignoff.biopsy_id == target.biopsy_id)).all()
    for version, ids in rows:
        if target.id in (ids or []):
            from decidua.errors import InputError

            raise InputError(
                f"assay result {target.id} ({target.kind} {target.result_key}) is signed "
                f"(sign-off version {version}): it cannot change; add a new result and "
                "sign a new version")


def _install_signoff_guard() -> None:
    from sqlalchemy import event

    for name in ("before_update", "before_delete"):
        if not event.contains(AssayResult, name, _refuse_signed_change):
            event.listen(AssayResult, name, _refuse_signed_change)


_install_signoff_guard()


__all__ = [
    "ApiToken",
    "AssayResult",
    "AuditEvent",
    "Base",
    "Biopsy",
    "BiopsyCall",
    "BiopsySignoff",
    "ImportRun",
    "Intervention",
    "Investigation",
    "MarkerReference",
    "Patient",
    "Pregnancy",
    "RiskAssessment",
    "User",
]
