"""Shared helpers of pages and API: the database, the user, role checks, view shaping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict
from typing import Any

from fastapi import Request

from decidua.errors import DeciduaError, NotFoundError
from decidua.web import access as web_access


class Forbidden(DeciduaError):
    """The logged-in user's role may not use this route."""


class NotLoggedIn(DeciduaError):
    """No (valid) login or token."""


def db_url(request: Request) -> str | None:
    return request.app.state.db_url


def session_scope(request: Request) -> Any:
    """A transaction on the app's database (:func:`decidua.store.session.session_scope`)."""
    from decidua.store.session import session_scope as scope

    return scope(db_url(request))


def need(user: dict[str, Any], name: str, /, **params: Any) -> dict[str, Any]:
    """Raise :class:`Forbidden` unless the user's role may use route ``name``."""
    if not web_access.allowed(user["role"], name, **params):
        r = web_access.BY_NAME[name]
        raise Forbidden(f"your role ({user['role']}) may not use this page ({r.command})")
    return user


def age_band(year_of_birth: int, on: dt.date | None = None) -> str:
    """The research export's age band (``"30-34"``, ``"<25"``, ``">=45"``) in place of a
    year of birth (researchers)."""
    from decidua.services.export import research_age_band

    return research_age_band(year_of_birth, on)


def is_researcher(user: dict[str, Any]) -> bool:
    return user["role"] == "researcher"


# ---------------------------------------------------------------- research pseudonyms

#: Pseudonym maps by key digest: (database URL and its women and biopsies, maps).
_IDS_CACHE: dict[bytes, tuple[tuple, Any]] = {}


def research_key(app: Any) -> bytes:
    """The key of the researcher's pseudonyms: the export's ``DECIDUA_EXPORT_KEY`` when set
    (the pseudonyms of the exports), else one derived from the cookie-signing key."""
    key = getattr(app.state, "research_key", None)
    if key is None:
        from decidua.services.export import research_key as choose

        key = choose(app.state.research_fallback)
        app.state.research_key = key
    return key


def research_ids(session: Any, key: bytes) -> Any:
    """:class:`~decidua.services.export.ResearchIds` for ``key``, recomputed when a woman
    or a biopsy is added or removed (:func:`~decidua.services.export.research_ids_version`)."""
    import hashlib

    from decidua.services.export import research_ids as compute
    from decidua.services.export import research_ids_version

    version = (_url(session), *research_ids_version(session))
    digest = hashlib.sha256(key).digest()
    with _cache_lock:
        hit = _IDS_CACHE.get(digest)
    if hit is not None and hit[0] == version:
        return hit[1]
    ids = compute(session, key)
    with _cache_lock:
        _IDS_CACHE[digest] = (version, ids)
    return ids


def _url(session: Any) -> str:
    """The session's database URL (no password): part of every cache key, as one process
    may serve, or test, several databases."""
    return session.get_bind().url.render_as_string(hide_password=True)


def resolve_patient(session: Any, user: dict[str, Any], key: bytes | None, given: str) -> str:
    """The clinic id a route's ``{patient_id}`` names: a researcher names women by their
    pseudonym only (a clinic id is not found for her)."""
    return _resolve(session, user, key, given, "woman")


def resolve_biopsy(session: Any, user: dict[str, Any], key: bytes | None, given: str) -> str:
    """The biopsy code a route's ``{code}`` names (a researcher: a biopsy pseudonym)."""
    return _resolve(session, user, key, given, "biopsy")


def _resolve(session: Any, user: dict[str, Any], key: bytes | None, given: str,
             what: str) -> str:
    if not is_researcher(user):
        return given
    ids = research_ids(session, _need_key(key))
    found = ids.patient_of(given) if what == "woman" else ids.biopsy_of(given)
    if found is None:
        raise NotFoundError(f"no {what} {given!r}")
    return found


def _need_key(key: bytes | None) -> bytes:
    if key is None:
        raise DeciduaError("no research pseudonym key")
    return key


def patient_row(row: dict[str, Any], user: dict[str, Any], ids: Any = None) -> dict[str, Any]:
    """A list row as the user may see it (researchers: the pseudonym and an age band)."""
    if is_researcher(user):
        from decidua.services.export import research_row

        return research_row(row, ids)
    return {**row, "age_band": None}


def _numbers(value: Any) -> Any:
    """Only the numbers (and flags) of stored result values: no text (plate, well, file)."""
    if isinstance(value, dict):
        kept = {k: _numbers(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None}
    if isinstance(value, list):
        kept = [_numbers(v) for v in value]
        return [v for v in kept if v is not None]
    if isinstance(value, bool | int | float):
        return value
    return None


#: Result fields a researcher sees (no file name, batch or result key: free text).
_RESULT_FIELDS = ("kind", "qc_status", "source_sha256", "importer_version", "analysis_version",
                  "created_at")  # fmt: skip


def biopsy_view(b: dict[str, Any], user: dict[str, Any], ids: Any = None) -> dict[str, Any]:
    """A biopsy's results as the user may see them (researchers: its pseudonym, numbers
    only, no file names, batches, result keys or actors)."""
    if not is_researcher(user):
        return b
    out = {**b, "biopsy": ids.biopsies[b["biopsy"]],
           "timing": _numbers(b["timing"]) if b.get("timing") else None,
           "results": [{**{k: r.get(k) for k in _RESULT_FIELDS},
                        "values": _numbers(r.get("values") or {})} for r in b["results"]],
           "calls": [{k: v for k, v in c.items() if k != "actor"} for c in b.get("calls", [])]}
    return out  # fmt: skip


#: Patient views by (patient, role, day, version: :func:`view_version`): the risk model
#: and the pathway are the expensive part, and depend only on those (the model and
#: rule versions are fixed for a running process).
_DETAIL_CACHE: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_DETAIL_CACHE_SIZE = 4096
_cache_lock = threading.Lock()


def cache_get(cache: OrderedDict, key: Any, lock: threading.Lock) -> Any:
    """The value of a least-recently-used ``cache`` under ``key`` (now the most recently
    used), or ``None``; ``lock`` guards the cache."""
    with lock:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
        return hit


def cache_put(cache: OrderedDict, key: Any, value: Any, size: int,
              lock: threading.Lock) -> None:
    """Store ``value`` in a least-recently-used ``cache`` of at most ``size`` entries."""
    with lock:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)


def view_version(session: Any, user: dict[str, Any], patient_id: str,
                 key: bytes | None = None) -> tuple | None:
    """What keys the cached views of the woman a route names (``None``: no such woman,
    not cached): the version of her own records
    (:func:`~decidua.services.patients.patient_version`), so that a write to another
    woman leaves her cached views valid. A researcher names her by her pseudonym (with
    ``key``, see :func:`research_key`)."""
    from decidua.services.patients import patient_version

    clinic = patient_id
    if is_researcher(user):
        clinic = research_ids(session, _need_key(key)).patient_of(patient_id)
        if clinic is None:
            return None
    mine = patient_version(session, clinic)
    return None if mine is None else (_url(session), *mine)


def patient_detail(request: Any, session: Any, user: dict[str, Any], patient_id: str,
                   version: tuple | None = None) -> dict[str, Any]:
    """Everything the patient page and ``GET /api/v1/patients/{id}`` show (cached by
    :func:`view_version`).

    ``patient_id`` is the id the route was given: for a researcher, the woman's research
    pseudonym (under the app's :func:`research_key`), which is all she is shown as.
    ``version``: the :func:`view_version` if already read.
    The dict returned is shared with the cache: read it, never change it.
    """  # fmt: skip
    import hashlib

    key = research_key(request.app) if is_researcher(user) else None
    if version is None:
        version = view_version(session, user, patient_id, key)
    kd = hashlib.sha256(key).digest() if key is not None else None
    ckey = (patient_id, user["role"], kd, dt.date.today(), version)
    hit = cache_get(_DETAIL_CACHE, ckey, _cache_lock) if version is not None else None
    if hit is not None:
        return hit
    ids, clinic_id = None, patient_id
    if is_researcher(user):
        ids = research_ids(session, _need_key(key))
        clinic_id = ids.patient_of(patient_id)
        if clinic_id is None:
            raise NotFoundError(f"no woman {patient_id!r}")
    out = _patient_detail(session, user, clinic_id, ids)
    if version is not None:
        cache_put(_DETAIL_CACHE, ckey, out, _DETAIL_CACHE_SIZE, _cache_lock)
    return out


def _patient_detail(session: Any, user: dict[str, Any], patient_id: str,
                    ids: Any = None) -> dict[str, Any]:
    from decidua.services import patients, risk
    from decidua.services.export import research_bmi_band

    view = patients.show_patient(session, user["username"], patient_id)
    rec = view.record
    research = is_researcher(user)
    if research:
        from decidua.services.export import research_record

        rec = research_record(rec, ids)
        timeline = patients.timeline(rec, {})
    else:
        timeline = list(view.timeline)
    out: dict[str, Any] = {
        "patient_id": rec.patient_id,
        "year_of_birth": None if research else rec.year_of_birth,
        "age_band": age_band(rec.year_of_birth) if research else None,
        "bmi": None if research else rec.bmi,
        "bmi_band": research_bmi_band(rec.bmi) if research else None,
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
        "monitor": None,
        "records": None if research else patients.editable_records(
            session, user["username"], patient_id),
    }  # fmt: skip
    if web_access.risk_allowed(user["role"]):
        try:
            est = risk.assess_patient(session, user["username"], patient_id).estimate
            out["risk"] = {"p_loss": est.p_loss, "interval": list(est.interval),
                           "model_version": est.model_version,
                           "components": est.components.to_dict(),
                           "evidence": dataclasses.asdict(est.evidence)}  # fmt: skip
        except DeciduaError as exc:
            out["risk_error"] = str(exc).replace(patient_id, rec.patient_id)
    if web_access.monitor_allowed(user["role"]) and rec.interventions:
        out["monitor"] = _monitor(session, patient_id, ids)
    if web_access.pathway_allowed(user["role"]):
        pw = risk.pathway_for_patient(session, user["username"], patient_id)
        out["pathway"] = {"stage": pw.stage, "rules_version": pw.rules_version,
                          "missing": list(pw.missing),
                          "steps": [s.to_dict() for s in pw.steps]}  # fmt: skip
    return out


# ---------------------------------------------------------------- views shared by pages and API


#: Care-pathway steps due, by database URL: (day, record mark, {woman: due step ids}).
_DUE_CACHE: dict[str, tuple[dt.date, tuple, dict[str, frozenset[str]]]] = {}


def steps_due(session: Any, user: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Every woman's care-pathway steps still to do (shared with the cache: read only).

    Computed for every woman once a day; after a write only the women whose own record
    changed are computed again (:func:`~decidua.services.patients.patients_changed_since`;
    all of them when a row was removed).
    """
    from decidua.services.patients import patients_changed_since, record_mark
    from decidua.services.risk import due_steps

    url = _url(session)
    day = dt.date.today()
    mark = record_mark(session)  # before the records are read: nothing written is missed
    with _cache_lock:
        hit = _DUE_CACHE.get(url)
    if hit is not None and hit[0] == day and hit[1] == mark:
        return hit[2]
    changed = patients_changed_since(session, hit[1]) if hit and hit[0] == day else None
    if changed is None:
        due = due_steps(session, user["username"], on=day)
    else:
        due = {**hit[2], **due_steps(session, user["username"], on=day, patients=changed)}
    with _cache_lock:
        _DUE_CACHE[url] = (day, mark, due)
    return due


def step_due(session: Any, user: dict[str, Any], step: str) -> frozenset[str]:
    """Ids of the women with pathway step ``step`` still to do (see :func:`steps_due`)."""
    from decidua.services.risk import check_step

    check_step(step)
    return frozenset(p for p, due in steps_due(session, user).items() if step in due)


#: Patient-list pages by (database, day, record mark, role, pseudonym key, filters).
_LIST_CACHE: OrderedDict[tuple, tuple[Any, list[dict[str, Any]]]] = OrderedDict()
_LIST_CACHE_SIZE = 256


def list_for(request: Any, session: Any, user: dict[str, Any], *, search: str | None,
             min_age: int | None = None, max_age: int | None = None, step: str | None = None,
             **filters: Any) -> tuple[Any, list[dict[str, Any]]]:
    """One page of the patient list and its rows as the user may see them
    (:func:`patient_row`): a researcher searches her pseudonyms, and age filters widen to
    whole age bands; ``step``: only women with that care-pathway step still to do
    (``pathway patient``).

    Cached (shared: read only) until a woman's own record changes anywhere
    (:func:`~decidua.services.patients.record_mark`: the list shows and filters only
    those tables) or the day does (ages).
    """
    import hashlib

    from decidua.services.export import research_age_limits
    from decidua.services.patients import record_mark, search_patients

    if step and not web_access.pathway_allowed(user["role"]):
        raise Forbidden(f"your role ({user['role']}) may not filter by pathway step")
    key = research_key(request.app) if is_researcher(user) else None
    ckey = (_url(session), dt.date.today(), record_mark(session), user["role"],
            hashlib.sha256(key).digest() if key else None, search, min_age, max_age, step,
            tuple(sorted(filters.items())))  # fmt: skip
    hit = cache_get(_LIST_CACHE, ckey, _cache_lock)
    if hit is not None:
        return hit
    ids, only = None, None
    if step:
        only = set(step_due(session, user, step))
    if key is not None:
        ids = research_ids(session, key)
        if search:
            needle = search.lower()
            found = {c for c, p in ids.patients.items() if needle in p.lower()}
            only = found if only is None else only & found
            search = None
        min_age, max_age = research_age_limits(min_age, max_age)
    page = search_patients(session, user["username"], search=search, min_age=min_age,
                           max_age=max_age, only=only, **filters)  # fmt: skip
    out = page, [patient_row(r, user, ids) for r in page.rows]
    cache_put(_LIST_CACHE, ckey, out, _LIST_CACHE_SIZE, _cache_lock)
    return out


def audit_for(request: Any, session: Any, user: dict[str, Any], patient_id: str) -> list:
    """A woman's audit trail as the user may see it (researchers: by pseudonym, no values,
    no record keys: they carry clinic ids)."""
    from decidua.services.patients import patient_audit

    research = is_researcher(user)
    clinic = resolve_patient(session, user, research_key(request.app), patient_id)
    events = patient_audit(session, user["username"], clinic, values=not research)
    if research:
        events = [{**e, "key": None} for e in events]
    return events


def biopsy_for(request: Any, session: Any, user: dict[str, Any], code: str) -> dict[str, Any]:
    """One biopsy as the user may see it (see :func:`biopsy_view`)."""
    from decidua.services.biopsies import show_biopsy

    ids = None
    if is_researcher(user):
        key = research_key(request.app)
        ids = research_ids(session, key)
        code = resolve_biopsy(session, user, key, code)
    b = biopsy_view(show_biopsy(session, code), user, ids)
    if ids is None:
        b["overlays"] = overlays(b["results"])
    return b


_IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def overlays(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The QC overlay pictures (CFU colonies, uNK cells) the stored results name
    (``values.overlay``): ``{"result_id", "kind", "key", "path", "sha256", "src", "note"}``
    with the picture as a ``data:`` URI (PNG or JPEG as written; the CSP allows ``data:``
    images), or a note when the file is missing or not a picture."""
    import base64
    import hashlib

    from decidua.services.reports import read_overlays

    found = read_overlays(results)
    out = []
    for r in results:
        v = r.get("values") or {}
        path = v.get("overlay") if isinstance(v, dict) else None
        if not isinstance(path, str) or not path:
            continue
        entry: dict[str, Any] = {"result_id": r.get("id"), "kind": r.get("kind"),
                                 "key": r.get("result_key"), "path": path, "sha256": None,
                                 "src": None, "note": None}  # fmt: skip
        data = found.get(path)
        if data is None:
            entry["note"] = "file not found"
        else:
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            mime = next((t for magic, t in _IMAGE_TYPES if data.startswith(magic)), None)
            if mime is None:
                entry["note"] = "not a PNG or JPEG picture"
            else:
                entry["src"] = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        out.append(entry)
    return out


def _monitor(session: Any, patient_id: str, ids: Any = None) -> list[dict[str, Any]]:
    """Before/after each intervention (``patient monitor``); a researcher's view names
    biopsies by pseudonym and leaves out the dose and trial arm (free text)."""
    from decidua.services.monitor import monitor_patient

    rows = monitor_patient(session, patient_id)["interventions"]
    if ids is None:
        return rows
    out = []
    for r in rows:
        r = {**r, "dose": None, "trial_arm": None}
        for side in ("before", "after"):
            if r.get(side):
                r[side] = {**r[side], "biopsy": ids.biopsies[r[side]["biopsy"]]}
        out.append(r)
    return out
