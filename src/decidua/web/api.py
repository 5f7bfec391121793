"""The JSON API under ``/api/v1``: token authentication, the same role rules as the pages.

``Authorization: Bearer <token>`` (tokens are created by an admin on the users
page, stored hashed, revocable). A missing or bad token gets 401, a forbidden
call 403; errors are RFC 9457 problem details (``application/problem+json``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from decidua.errors import InputError
from decidua.web import common as views


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


_P = {"model": Problem, "content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: _P, 403: _P, 404: _P, 422: _P, 503: _P}

router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERRORS)
_bearer = HTTPBearer(auto_error=False)


def api_user(
    request: Request, cred: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> dict[str, Any]:
    from decidua.services.users import user_for_token

    if cred is None or cred.scheme.lower() != "bearer" or not cred.credentials:
        raise views.NotLoggedIn("missing API token (Authorization: Bearer <token>)")
    with views.session_scope(request) as s:
        user = user_for_token(s, cred.credentials)
    if user is None:
        raise views.NotLoggedIn("invalid or revoked API token")
    return user


class Me(BaseModel):
    username: str
    role: str
    name: str | None


class PatientRow(BaseModel):
    patient_id: str
    year_of_birth: int | None = None
    age_band: str | None = None
    study_group: str | None
    pregnancies: int
    losses: int
    consecutive_losses: int
    live_births: int
    biopsies: int
    last_biopsy_call: str | None


class PatientPage(BaseModel):
    patients: list[PatientRow]
    total: int
    limit: int
    offset: int


class TimelineEvent(BaseModel):
    date: str | None
    event: str
    details: str


class BiopsyBrief(BaseModel):
    biopsy_id: str
    biopsy_date: str | None
    lh_day: int | None
    clinic_call: str | None
    on_treatment: bool


class Risk(BaseModel):
    p_loss: float
    interval: list[float]
    model_version: str
    components: dict[str, float]
    evidence: dict[str, int]


class Pathway(BaseModel):
    stage: str
    rules_version: str
    missing: list[str]
    steps: list[dict[str, Any]]


class PatientDetail(BaseModel):
    patient_id: str
    year_of_birth: int | None
    age_band: str | None
    bmi: float | None
    bmi_band: str | None = None
    ethnicity: str | None
    study_group: str | None
    losses: int
    consecutive_losses: int
    live_births: int
    timeline: list[TimelineEvent]
    biopsies: list[BiopsyBrief]
    risk: Risk | None
    risk_error: str | None = None
    pathway: Pathway | None
    monitor: list[dict[str, Any]] | None = None


class AuditEvent(BaseModel):
    at: str
    actor: str
    action: str
    entity: str
    key: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class Biopsy(BaseModel):
    biopsy: str
    call: str
    reasons: list[str]
    components: list[dict[str, Any]]
    rule_version: str | None
    lh_day: int | None
    timing: dict[str, Any] | None
    results: list[dict[str, Any]]


class PregnancyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: int = Field(ge=1, le=50)
    outcome: Literal["miscarriage", "biochemical", "live_birth", "stillbirth", "ectopic",
                     "molar", "termination", "ongoing"]  # fmt: skip
    gestation_weeks: float | None = Field(None, ge=0, le=45)
    conception: Literal["spontaneous", "ovulation_induction", "iui", "ivf", "icsi",
                        "assisted_other", "unknown"] = "unknown"  # fmt: skip
    karyotype: Literal["not_tested", "normal", "abnormal", "failed"] = "not_tested"
    karyotype_detail: str | None = Field(None, max_length=128)
    outcome_date: dt.date | None = None
    fetal_heart_activity: bool | None = None


class Stored(BaseModel):
    kind: str
    rows: int
    inserted: int
    updated: int
    unchanged: int


@router.get("/me", response_model=Me)
def me(user: dict[str, Any] = Depends(api_user)) -> Any:
    """The token's user."""
    views.need(user, "api_me")
    return {"username": user["username"], "role": user["role"], "name": user["name"]}


@router.get("/patients", response_model=PatientPage)
def patients(
    request: Request,
    user: dict[str, Any] = Depends(api_user),
    search: str | None = Query(None, max_length=64),
    min_losses: int | None = Query(None, ge=0, le=100),
    max_losses: int | None = Query(None, ge=0, le=100),
    min_age: int | None = Query(None, ge=0, le=120),
    max_age: int | None = Query(None, ge=0, le=120),
    last_call: Literal["normal", "abnormal", "none"] | None = None,
    step: str | None = Query(None, max_length=64, pattern=r"^[a-z0-9_]+$",
                             description="a care-pathway rule id: women with it still to do"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> Any:
    """Women matching the filters (the patient list page). A researcher gets research
    pseudonyms and age bands; her ``search`` matches pseudonyms."""
    views.need(user, "api_patients")
    with views.session_scope(request) as s:
        page, rows = views.list_for(
            request, s, user, search=search, min_losses=min_losses, max_losses=max_losses,
            min_age=min_age, max_age=max_age, last_call=last_call, step=step, limit=limit,
            offset=offset)  # fmt: skip
    return {"patients": rows, "total": page.total, "limit": limit, "offset": offset}


@router.get("/patients/{patient_id}", response_model=PatientDetail)
def patient(request: Request, patient_id: str, user: dict[str, Any] = Depends(api_user)) -> Any:
    """One woman: timeline, biopsies, risk with its interval, care pathway (the patient page).
    A researcher names her by her research pseudonym and sees pseudonyms and bands only."""
    views.need(user, "api_patient")
    with views.session_scope(request) as s:
        return views.patient_detail(request, s, user, patient_id)


@router.get("/patients/{patient_id}/audit", response_model=list[AuditEvent])
def patient_audit(
    request: Request, patient_id: str, user: dict[str, Any] = Depends(api_user)
) -> Any:
    """The audit trail of one woman's records."""
    views.need(user, "api_patient_audit")
    with views.session_scope(request) as s:
        return views.audit_for(request, s, user, patient_id)


@router.post("/patients/{patient_id}/pregnancies", response_model=Stored, status_code=201)
def add_pregnancy(
    request: Request, patient_id: str, body: PregnancyIn, user: dict[str, Any] = Depends(api_user)
) -> Any:
    """Add one pregnancy to a woman (validated by the importer; audited)."""
    from decidua.services.imports import import_row

    views.need(user, "api_pregnancy_create")
    with views.session_scope(request) as s:
        rep = import_row(s, user["username"], "pregnancies",
                         {"patient_id": patient_id, **body.model_dump(mode="json")},
                         file_name="api-pregnancy.csv")
    if rep.inserted == 0 and rep.updated == 0:
        raise InputError("nothing stored: this pregnancy is already recorded")
    d = rep.to_dict()
    return {k: d[k] for k in ("kind", "rows", "inserted", "updated", "unchanged")}


@router.get("/biopsies/{code}", response_model=Biopsy)
def biopsy(request: Request, code: str, user: dict[str, Any] = Depends(api_user)) -> Any:
    """One biopsy's stored results with provenance and its call (the biopsy page)."""
    views.need(user, "api_biopsy")
    with views.session_scope(request) as s:
        return views.biopsy_for(request, s, user, code)
