"""Shared helpers of pages and API: the database, the user, role checks, view shaping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict
from typing import Any

from fastapi import Request

from decidua.errors import DeciduaError
from decidua.web import access as web_access


class Forbidden(DeciduaError):
    """The logged-in user's role may not use this route."""


class NotLoggedIn(DeciduaError):
    """No (valid) login or token."""


def db_url(request: Request) -> str | None:
    return request.app.state.db_url


def need(user: dict[str, Any], name: str, /, **params: Any) -> dict[str, Any]:
    """Raise :class:`Forbidden` unless the user's role may use route ``name``."""
    if not web_access.allowed(user["role"], name, **params):
        r = web_access.BY_NAME[name]
        raise Forbidden(f"your role ({user['role']}) may not use this page ({r.command})")
    return user


def age_band(year_of_birth: int, on: dt.date | None = None) -> str:
    """Five-year age band (``"30-34"``) in place of a year of birth (researchers)."""
    age = (on or dt.date.today()).year - year_of_birth
    low = (age // 5) * 5
    return f"{low}-{low + 4}"


def is_researcher(user: dict[str, Any]) -> bool:
    return user["role"] == "researcher"


def strip_free_text(record: Any) -> Any:
    """A patient record without free-text fields (ethnicity, karyotype detail, dose, arm)."""
    preg = tuple(dataclasses.replace(p, karyotype_detail=None) for p in record.pregnancies)
    inter = tuple(dataclasses.replace(v, dose=None, trial_arm=None) for v in record.interventions)
    return dataclasses.replace(record, ethnicity=None, pregnancies=preg, interventions=inter)


def patient_row(row: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """A list row as the user may see it (researchers: an age band, no year of birth)."""
    out = dict(row)
    if is_researcher(user):
        out["age_band"] = age_band(out.pop("year_of_birth"))
    else:
        out["age_band"] = None
    return out


#: Patient views by (patient, role, day, database content version): the risk model
#: and the pathway are the expensive part, and depend only on those (the model and
#: rule versions are fixed for a running process).
_DETAIL_CACHE: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_DETAIL_CACHE_SIZE = 4096
_cache_lock = threading.Lock()


def patient_detail(session: Any, user: dict[str, Any], patient_id: str) -> dict[str, Any]:
    """Everything the patient page and ``GET /api/v1/patients/{id}`` show (cached by the
    database's :func:`~decidua.services.patients.data_version`)."""
    import copy

    from decidua.services.patients import data_version

    key = (patient_id, user["role"], dt.date.today(), data_version(session))
    with _cache_lock:
        hit = _DETAIL_CACHE.get(key)
        if hit is not None:
            _DETAIL_CACHE.move_to_end(key)
            return copy.deepcopy(hit)
    out = _patient_detail(session, user, patient_id)
    with _cache_lock:
        _DETAIL_CACHE[key] = copy.deepcopy(out)
        while len(_DETAIL_CACHE) > _DETAIL_CACHE_SIZE:
            _DETAIL_CACHE.popitem(last=False)
    return out


def _patient_detail(session: Any, user: dict[str, Any], patient_id: str) -> dict[str, Any]:
    from decidua.services import patients, risk

    view = patients.show_patient(session, user["username"], patient_id)
    rec = view.record
    research = is_researcher(user)
    if research:
        rec = strip_free_text(rec)
        timeline = patients.timeline(rec, {})
    else:
        timeline = list(view.timeline)
    out: dict[str, Any] = {
        "patient_id": rec.patient_id,
        "year_of_birth": None if research else rec.year_of_birth,
        "age_band": age_band(rec.year_of_birth) if research else None,
        "bmi": rec.bmi,
        "ethnicity": None if research else rec.ethnicity,
        "study_group": view.study_group,
        "losses": rec.n_losses,
        "consecutive_losses": rec.consecutive_losses(),
        "live_births": rec.n_live_births,
        "timeline": [e.to_dict() for e in timeline],
        "biopsies": [
            {"biopsy_id": b.biopsy_id, "biopsy_date": b.biopsy_date.isoformat()
             if b.biopsy_date else None, "lh_day": b.lh_day,
             "clinic_call": b.clinic_call.value if b.clinic_call else None,
             "on_treatment": b.on_treatment}
            for b in rec.biopsies
        ],
        "risk": None,
        "pathway": None,
    }  # fmt: skip
    if web_access.risk_allowed(user["role"]):
        try:
            est = risk.assess_patient(session, user["username"], patient_id).estimate
            out["risk"] = {"p_loss": est.p_loss, "interval": list(est.interval),
                           "model_version": est.model_version,
                           "components": est.components.to_dict(),
                           "evidence": dataclasses.asdict(est.evidence)}  # fmt: skip
        except DeciduaError as exc:
            out["risk_error"] = str(exc)
    if web_access.pathway_allowed(user["role"]):
        pw = risk.pathway_for_patient(session, user["username"], patient_id)
        out["pathway"] = {"stage": pw.stage, "rules_version": pw.rules_version,
                          "missing": list(pw.missing),
                          "steps": [s.to_dict() for s in pw.steps]}  # fmt: skip
    return out
