"""Pydantic schemas of one row of each import file (see ``docs/formats.md``).

Each schema validates the text of one row and turns it into the attribute
values of one stored record (``to_record``). Cross-row and database checks
(duplicates, unknown patients, changed records) live in
:mod:`decidua.io.importers`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from decidua.domain import (
    INVESTIGATION_KINDS,
    AssayKind,
    ConceptionMode,
    DecidualCall,
    Interpretation,
    InterventionKind,
    KaryotypeResult,
    Outcome,
    QCStatus,
)

#: LH+ day range accepted for a biopsy (a biopsy outside it is a data error).
LH_DAY_MIN, LH_DAY_MAX = 0, 20
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if not _ISO_DATE.match(value):
            raise ValueError("date must be written YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a calendar date") from None
    return value


def _not_future(value: dt.date | None) -> dt.date | None:
    if value is not None and value > dt.date.today():
        raise ValueError("date is in the future")
    if value is not None and value.year < 1900:
        raise ValueError("date is before 1900")
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("number must be finite")
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


PastDate = Annotated[dt.date, BeforeValidator(_iso_date), AfterValidator(_not_future)]
Finite = Annotated[float, AfterValidator(_finite)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]
ShortText = Annotated[str, StringConstraints(max_length=64)]


def _enum(enum: Any) -> Any:
    return Annotated[enum, BeforeValidator(_lower)]


class RowSchema(BaseModel):
    """Base of row schemas: unknown columns are refused, text is stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    #: Columns naming the parent record (``patient_id`` / ``biopsy_id``) or ``None``.
    parent_column: ClassVar[str | None] = None
    #: File columns that identify a row (duplicates inside one file are errors).
    key_columns: ClassVar[tuple[str, ...]] = ()
    #: File column -> the record attributes it sets, when not the attribute of the
    #: same name ("values.x" is key x of the JSON attribute ``values``). A column
    #: absent from a file leaves these attributes of a stored record unchanged.
    column_attrs: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def attrs_of(cls, column: str) -> tuple[str, ...]:
        """Record attributes (dotted for JSON keys) set by one file column."""
        if column in cls.column_attrs:
            return cls.column_attrs[column]
        if column == cls.parent_column:
            return ()
        return (column,)

    @classmethod
    def uncleared_columns(cls) -> dict[str, Any]:
        """Optional columns whose empty cell means a non-empty default (column -> default).

        On an update an empty cell in such a column never changes a stored
        value (e.g. an empty consent cell never revokes a consent).
        """
        return {
            n: f.default
            for n, f in cls.model_fields.items()
            if not f.is_required() and f.default is not None
        }

    def file_key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in self.key_columns)

    def to_record(self) -> dict[str, Any]:
        """Attribute values of the stored record (without the parent's database id)."""
        raise NotImplementedError


class PatientRow(RowSchema):
    """One row of a patients file."""

    key_columns: ClassVar[tuple[str, ...]] = ("patient_id",)
    column_attrs: ClassVar[dict[str, tuple[str, ...]]] = {"patient_id": ("pseudonym",)}

    patient_id: Code
    year_of_birth: int = Field(ge=1920, le=dt.date.today().year - 10)
    bmi: Finite | None = Field(default=None, ge=10, le=80)
    ethnicity: ShortText | None = None
    study_group: Annotated[str | None, BeforeValidator(_lower)] = Field(
        default=None, pattern=r"^(rpl|control|other)$"
    )
    consent_research: bool = False
    consent_biobank: bool = False
    consent_contact: bool = False

    def to_record(self) -> dict[str, Any]:
        return {
            "pseudonym": self.patient_id,
            "year_of_birth": self.year_of_birth,
            "bmi": self.bmi,
            "ethnicity": self.ethnicity,
            "study_group": self.study_group,
            "consent_research": self.consent_research,
            "consent_biobank": self.consent_biobank,
            "consent_contact": self.consent_contact,
        }


class PregnancyRow(RowSchema):
    """One row of a pregnancies file."""

    parent_column: ClassVar[str | None] = "patient_id"
    key_columns: ClassVar[tuple[str, ...]] = ("patient_id", "order")

    patient_id: Code
    order: int = Field(ge=1, le=40)
    outcome: _enum(Outcome)
    gestation_weeks: Finite | None = Field(default=None, ge=0, le=45)
    conception: _enum(ConceptionMode) = ConceptionMode.UNKNOWN
    karyotype: _enum(KaryotypeResult) = KaryotypeResult.NOT_TESTED
    karyotype_detail: Annotated[str, StringConstraints(max_length=128)] | None = None
    outcome_date: PastDate | None = None
    #: Fetal heart activity seen on ultrasound before the outcome (empty: not known).
    fetal_heart_activity: bool | None = None

    @model_validator(mode="after")
    def _plausible(self) -> PregnancyRow:
        if self.fetal_heart_activity and self.outcome is Outcome.BIOCHEMICAL:
            raise ValueError("fetal_heart_activity: a biochemical loss was never seen on "
                             "ultrasound; record a loss after fetal heart activity as a "
                             "miscarriage")
        g = self.gestation_weeks
        if g is not None and self.outcome is Outcome.LIVE_BIRTH and g < 20:
            raise ValueError("gestation_weeks: a live birth before 20 weeks is not plausible")
        if g is not None and self.outcome is Outcome.BIOCHEMICAL and g > 12:
            raise ValueError("gestation_weeks: a biochemical loss after 12 weeks is not plausible")
        if g is not None and self.outcome is Outcome.STILLBIRTH and g < 24:
            raise ValueError("gestation_weeks: a stillbirth is at or after 24 weeks; record an "
                             "earlier fetal death as a miscarriage")
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "outcome": self.outcome.value,
            "gestation_weeks": self.gestation_weeks,
            "conception": self.conception.value,
            "karyotype": self.karyotype.value,
            "karyotype_detail": self.karyotype_detail,
            "outcome_date": self.outcome_date,
            "fetal_heart_activity": self.fetal_heart_activity,
        }


class InvestigationRow(RowSchema):
    """One row of an investigations file."""

    parent_column: ClassVar[str | None] = "patient_id"
    key_columns: ClassVar[tuple[str, ...]] = ("patient_id", "kind", "date")

    patient_id: Code
    kind: Annotated[str, BeforeValidator(_lower)]
    date: PastDate
    value: Finite | None = None
    unit: Annotated[str, StringConstraints(max_length=24)] | None = None
    interpretation: _enum(Interpretation)
    text: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _known_kind(self) -> InvestigationRow:
        info = INVESTIGATION_KINDS.get(self.kind)
        if info is None:
            raise ValueError(
                f"kind: unknown investigation {self.kind!r}; known: "
                + ", ".join(sorted(INVESTIGATION_KINDS))
            )
        if self.value is not None and not info.numeric:
            raise ValueError(f"value: {self.kind} is not a numeric investigation")
        return self

    def to_record(self) -> dict[str, Any]:
        info = INVESTIGATION_KINDS[self.kind]
        unit = self.unit
        if unit is None and self.value is not None:
            unit = info.unit
        return {
            "kind": self.kind,
            "date": self.date,
            "value": self.value,
            "unit": unit,
            "interpretation": self.interpretation.value,
            "text": self.text,
        }


class BiopsyRow(RowSchema):
    """One row of a biopsies file."""

    parent_column: ClassVar[str | None] = "patient_id"
    key_columns: ClassVar[tuple[str, ...]] = ("biopsy_id",)
    column_attrs: ClassVar[dict[str, tuple[str, ...]]] = {"biopsy_id": ("code",)}

    biopsy_id: Code
    patient_id: Code
    cycle_number: int | None = Field(default=None, ge=1, le=500)
    lh_surge_date: PastDate | None = None
    biopsy_date: PastDate
    on_treatment: bool = False
    clinic_call: _enum(DecidualCall) | None = None

    @model_validator(mode="after")
    def _lh_day(self) -> BiopsyRow:
        if self.lh_surge_date is not None:
            day = (self.biopsy_date - self.lh_surge_date).days
            if not LH_DAY_MIN <= day <= LH_DAY_MAX:
                raise ValueError(
                    f"biopsy_date: LH+ day {day} is outside {LH_DAY_MIN}-{LH_DAY_MAX} "
                    "(check lh_surge_date and biopsy_date)"
                )
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "code": self.biopsy_id,
            "cycle_number": self.cycle_number,
            "lh_surge_date": self.lh_surge_date,
            "biopsy_date": self.biopsy_date,
            "on_treatment": self.on_treatment,
            "clinic_call": self.clinic_call.value if self.clinic_call else None,
        }


class InterventionRow(RowSchema):
    """One row of an interventions file."""

    parent_column: ClassVar[str | None] = "patient_id"
    key_columns: ClassVar[tuple[str, ...]] = ("patient_id", "kind", "start_date")

    patient_id: Code
    kind: _enum(InterventionKind)
    start_date: PastDate
    end_date: PastDate | None = None
    dose: ShortText | None = None
    trial_arm: ShortText | None = None

    @model_validator(mode="after")
    def _ordered(self) -> InterventionRow:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date: ends before start_date")
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "dose": self.dose,
            "trial_arm": self.trial_arm,
        }


class CfuCountRow(RowSchema):
    """One row of a manual colony-count file (one well or dish)."""

    parent_column: ClassVar[str | None] = "biopsy_id"
    key_columns: ClassVar[tuple[str, ...]] = ("biopsy_id", "plate", "well")
    column_attrs: ClassVar[dict[str, tuple[str, ...]]] = {
        "plate": ("result_key", "values.plate"),
        "well": ("result_key", "values.well"),
        "cells_seeded": ("values.cells_seeded",),
        "colonies": ("values.colonies",),
        "count_date": ("values.count_date",),
    }

    biopsy_id: Code
    plate: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    well: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    cells_seeded: int = Field(gt=0, le=10_000_000)
    colonies: int = Field(ge=0)
    count_date: PastDate | None = None
    batch: ShortText | None = None

    @model_validator(mode="after")
    def _bounded(self) -> CfuCountRow:
        if self.colonies > self.cells_seeded:
            raise ValueError("colonies: more colonies than cells seeded")
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": AssayKind.CFU.value,
            "result_key": f"plate={self.plate};well={self.well}",
            "values": {
                "plate": self.plate,
                "well": self.well,
                "cells_seeded": self.cells_seeded,
                "colonies": self.colonies,
                "count_date": self.count_date.isoformat() if self.count_date else None,
                "method": "manual",
            },
            "qc_status": QCStatus.PASS.value,
            "batch": self.batch,
        }


def _check_field_counts(field: int, positive: tuple[str, int, str],
                        total: tuple[str, int, str]) -> None:
    """Refuse a microscope field's counts that cannot be: negative, no cells counted, more
    positive cells than cells. ``positive`` / ``total``: (column, count, what is counted);
    the message begins with the column it blames."""
    (pcol, pos, pwhat), (tcol, tot, twhat) = positive, total
    for col, n in ((pcol, pos), (tcol, tot)):
        if n < 0:
            raise ValueError(f"{col}: negative count in field {field}")
    if tot == 0:
        raise ValueError(f"{tcol}: no {twhat} counted in field {field}")
    if pos > tot:
        raise ValueError(f"{pcol}: {pos} {pwhat} above the {tot} {twhat} of field {field}")


class UnkFieldRow(RowSchema):
    """One microscope field of a uNK (CD56) count sheet (docs/screening.md).

    ``stromal_cells`` is every stromal cell counted in the field, CD56+ cells among
    them; ``protocol`` names the counting protocol (e.g. ``tuckerman2007``), which
    decides the reference the % is read against (never across protocols).
    """

    parent_column: ClassVar[str | None] = "biopsy_id"
    key_columns: ClassVar[tuple[str, ...]] = ("biopsy_id", "protocol", "field")
    column_attrs: ClassVar[dict[str, tuple[str, ...]]] = {
        "field": ("result_key", "values.field"),
        "protocol": ("result_key", "values.protocol"),
        "cd56_positive": ("values.cd56_positive",),
        "stromal_cells": ("values.stromal_cells",),
        "magnification": ("values.magnification",),
        "method": ("values.method",),
        "count_date": ("values.count_date",),
    }

    biopsy_id: Code
    field: int = Field(ge=1, le=1000)
    cd56_positive: int
    stromal_cells: int
    magnification: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    protocol: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,48}$")]
    method: Annotated[str, StringConstraints(pattern=r"^(manual|image)$")] = "manual"
    count_date: PastDate | None = None
    batch: ShortText | None = None

    @model_validator(mode="after")
    def _counts(self) -> UnkFieldRow:
        _check_field_counts(self.field, ("cd56_positive", self.cd56_positive, "CD56+ cells"),
                            ("stromal_cells", self.stromal_cells, "stromal cells"))
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": AssayKind.UNK.value,
            "result_key": f"protocol={self.protocol};field={self.field}",
            "values": {
                "field": self.field,
                "cd56_positive": self.cd56_positive,
                "stromal_cells": self.stromal_cells,
                "magnification": self.magnification,
                "protocol": self.protocol,
                "method": self.method,
                "count_date": self.count_date.isoformat() if self.count_date else None,
            },
            "qc_status": QCStatus.PASS.value,
            "batch": self.batch,
        }


class SabgalFieldRow(RowSchema):
    """One microscope field of an SA-β-gal count sheet (docs/senescence.md): stained
    (``positive``) cells among every cell counted (``total``) in the field."""

    parent_column: ClassVar[str | None] = "biopsy_id"
    key_columns: ClassVar[tuple[str, ...]] = ("biopsy_id", "field")
    column_attrs: ClassVar[dict[str, tuple[str, ...]]] = {
        "field": ("result_key", "values.field"),
        "positive": ("values.positive",),
        "total": ("values.total",),
        "count_date": ("values.count_date",),
    }

    biopsy_id: Code
    field: int = Field(ge=1, le=1000)
    positive: int
    total: int
    count_date: PastDate | None = None
    batch: ShortText | None = None

    @model_validator(mode="after")
    def _counts(self) -> SabgalFieldRow:
        _check_field_counts(self.field, ("positive", self.positive, "stained cells"),
                            ("total", self.total, "cells"))
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": AssayKind.SENESCENCE.value,
            "result_key": f"sabgal:field={self.field}",
            "values": {
                "assay": "sabgal",
                "field": self.field,
                "positive": self.positive,
                "total": self.total,
                "count_date": self.count_date.isoformat() if self.count_date else None,
            },
            "qc_status": QCStatus.PASS.value,
            "batch": self.batch,
        }
