"""HTML pages: login, patients, a patient, forms, uploads, biopsies, audit, users."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from decidua.errors import DeciduaError, InputError
from decidua.web import access as web_access
from decidua.web import security
from decidua.web.common import (
    NotLoggedIn,
    audit_for,
    biopsy_for,
    cache_get,
    cache_put,
    list_for,
    need,
    patient_detail,
    session_scope,
)

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("user", getattr(request.state, "user", None))
    ctx["csrf"] = request.state.session["csrf"]
    ctx["can"] = lambda route, **p: bool(ctx["user"]) and web_access.allowed(
        ctx["user"]["role"], route, **p)
    ctx["editable_kinds"] = lambda user: [k for n, k in _EDIT_ROUTES if user and
                                          web_access.allowed(user["role"], f"{n}_edit")]
    return request.app.state.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def render_string(request: Request, name: str, **ctx: Any) -> str:
    """A template rendered as :func:`render` does, as text (``csrf`` may be given)."""
    ctx.setdefault("user", getattr(request.state, "user", None))
    ctx.setdefault("csrf", request.state.session["csrf"])
    ctx["can"] = lambda route, **p: bool(ctx["user"]) and web_access.allowed(
        ctx["user"]["role"], route, **p)
    ctx["editable_kinds"] = lambda user: [k for n, k in _EDIT_ROUTES if user and
                                          web_access.allowed(user["role"], f"{n}_edit")]
    ctx["request"] = request
    return request.app.state.templates.get_template(name).render(ctx)


def current_user(request: Request, s: Any) -> dict[str, Any]:
    """The logged-in, still active user (roles are read fresh on every request)."""
    from decidua.services.users import session_user

    name = request.state.session.get("user")
    sid = request.state.session.get("sid")
    user = session_user(s, sid, name) if name and sid else None
    if user is None:
        request.state.session.clear()
        request.state.session.update(security.new_session())
        raise NotLoggedIn("please log in")
    request.state.user = user
    return user


def login_required(request: Request, route: str, **params: Any) -> dict[str, Any]:
    with session_scope(request) as s:
        return need(current_user(request, s), route, **params)


# ---------------------------------------------------------------- login


@router.get("/login")
def login_form(request: Request) -> Response:
    return render(request, "login.html", user=None, error=None, username="")


@router.post("/login")
async def login(request: Request) -> Response:
    from decidua.services.users import check_login, start_session

    form = await request.form()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    client = request.client.host if request.client else "?"
    limiter: security.RateLimiter = request.app.state.limiter
    if limiter.blocked(username, client):
        return render(request, "login.html", 429, user=None, username=username,
                      error="too many failed logins: wait 15 minutes and try again")
    fresh = security.new_session(username)  # a new session id: no fixation
    with session_scope(request) as s:
        user = check_login(s, username, password)
        if user is not None:
            start_session(s, user["username"], fresh["sid"])  # revocable server-side
    if user is None:
        limiter.failed(username, client)
        return render(request, "login.html", 401, user=None, username=username,
                      error="wrong user name or password (or no web login yet)")
    limiter.succeeded(username)
    request.state.session.clear()
    request.state.session.update(fresh)
    return RedirectResponse("/patients", 303)


@router.post("/logout")
def logout(request: Request) -> Response:
    from decidua.services.users import end_session

    sid = request.state.session.get("sid")
    if request.state.session.get("user") and sid:
        with session_scope(request) as s:
            end_session(s, sid)  # the old cookie is refused from now on
    request.state.session.clear()
    request.state.session.update(security.new_session())
    return RedirectResponse("/login", 303)


@router.get("/")
def home(request: Request) -> Response:
    login_required(request, "patients")
    return RedirectResponse("/patients", 303)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


# ---------------------------------------------------------------- patients


def _int_or_none(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise InputError("a whole number is needed", value=value) from None


@router.get("/patients")
def patients_page(request: Request) -> Response:
    q = request.query_params
    from decidua.services.risk import pathway_step_choices

    filters = {k: q.get(k, "") for k in ("search", "min_losses", "max_losses", "min_age",
                                          "max_age", "last_call", "step", "page")}  # fmt: skip
    if filters["last_call"] not in ("", "normal", "abnormal", "none"):
        filters["last_call"] = ""
    steps = pathway_step_choices()
    if filters["step"] not in {k for k, _ in steps}:
        filters["step"] = ""
    page = max(1, _int_or_none(filters["page"]) or 1)
    with session_scope(request) as s:
        user = need(current_user(request, s), "patients")
        result, rows = list_for(
            request, s, user, search=filters["search"] or None,
            min_losses=_int_or_none(filters["min_losses"]),
            max_losses=_int_or_none(filters["max_losses"]),
            min_age=_int_or_none(filters["min_age"]), max_age=_int_or_none(filters["max_age"]),
            last_call=filters["last_call"] or None, step=filters["step"] or None,
            limit=50, offset=(page - 1) * 50,
        )  # fmt: skip
    steps = steps if web_access.pathway_allowed(user["role"]) else []
    return render(request, "patients.html", rows=rows, total=result.total, filters=filters,
                  steps=steps,
                  page=page, pages=max(1, (result.total + 49) // 50))


@router.get("/patients/new")
def patient_new(request: Request) -> Response:
    user = login_required(request, "patient_new")
    return render(request, "form.html", user=user, form=PATIENT_FORM, values={}, errors={},
                  action="/patients/new", title="New woman")


@router.post("/patients/new")
async def patient_create(request: Request) -> Response:
    user = login_required(request, "patient_create")
    values = await _values(request, PATIENT_FORM)
    errors = _store_row(request, user, "patients", values, PATIENT_FORM)
    if errors:
        return render(request, "form.html", 422, user=user, form=PATIENT_FORM, values=values,
                      errors=errors, action="/patients/new", title="New woman")
    return RedirectResponse(f"/patients/{values['patient_id']}", 303)


#: Rendered patient pages by (patient, user, role, day, version: see
#: :func:`~decidua.web.common.view_version`), with the CSRF token left as
#: :data:`_CSRF_SLOT` (filled in per request): rendering the page costs more than
#: everything else a cached view needs.
_PAGE_CACHE: OrderedDict[tuple, str] = OrderedDict()
_PAGE_CACHE_SIZE = 2048
_CSRF_SLOT = "__decidua_csrf_slot__"
_page_lock = threading.Lock()


@router.get("/patients/{patient_id}")
async def patient_page(request: Request, patient_id: str) -> Response:
    """A cached page is served on the event loop (two statements of indexed look-ups: the
    session, and the version of her records); a page to build goes to the thread pool."""
    from fastapi.concurrency import run_in_threadpool

    csrf = request.state.session["csrf"]
    html = _patient_html(request, patient_id, build=False)
    if html is None:
        html = await run_in_threadpool(_patient_html, request, patient_id, build=True)
    return HTMLResponse(html.replace(_CSRF_SLOT, csrf))


def _patient_html(request: Request, patient_id: str, *, build: bool) -> str | None:
    from decidua.web.common import is_researcher, research_key, view_version

    with session_scope(request) as s:
        user = need(current_user(request, s), "patient")
        key = research_key(request.app) if is_researcher(user) else None
        version = view_version(s, user, patient_id, key)
        ckey = (id(request.app), patient_id, user["username"], user["role"], dt.date.today(),
                version)
        html = cache_get(_PAGE_CACHE, ckey, _page_lock) if version is not None else None
        if html is None and build:
            detail = patient_detail(request, s, user, patient_id, version)
            html = render_string(request, "patient.html", csrf=_CSRF_SLOT, p=detail)
            if version is not None:
                cache_put(_PAGE_CACHE, ckey, html, _PAGE_CACHE_SIZE, _page_lock)
    return html


_EDIT_ROUTES = (("pregnancy", "pregnancies"), ("investigation", "investigations"),
                ("biopsy", "biopsies"), ("intervention", "interventions"))
_TITLES = {"pregnancies": ("Add a pregnancy", "Edit a pregnancy"),
           "biopsies": ("Add a biopsy", "Edit a biopsy"),
           "investigations": ("Add an investigation", "Edit an investigation"),
           "interventions": ("Add an intervention", "Edit an intervention")}  # fmt: skip


def _form_page(name: str, form: list, kind: str):  # type: ignore[no-untyped-def]
    """The add form of one kind of record (``{name}_new``/``_create``) and its edit form
    (``{name}_edit``/``_update``): both stored as a one-row import of that kind, so the
    importer validates and audits; an edit keeps the record's key columns fixed."""
    title, edit_title = _TITLES[kind]

    def show(request: Request, patient_id: str) -> Response:
        user = login_required(request, f"{name}_new")
        return render(request, "form.html", user=user, form=form, errors={},
                      values={"patient_id": patient_id}, title=f"{title}: {patient_id}",
                      action=f"/patients/{patient_id}/{kind}/new", fixed=(),
                      back=f"/patients/{patient_id}")  # fmt: skip

    async def create(request: Request, patient_id: str) -> Response:
        user = login_required(request, f"{name}_create")
        values = await _values(request, form)
        values["patient_id"] = patient_id
        errors = _store_row(request, user, kind, values, form)
        if errors:
            return render(request, "form.html", 422, user=user, form=form, values=values,
                          errors=errors, title=f"{title}: {patient_id}", fixed=(),
                          action=f"/patients/{patient_id}/{kind}/new",
                          back=f"/patients/{patient_id}")  # fmt: skip
        return RedirectResponse(f"/patients/{patient_id}", 303)

    def _stored(request: Request, user: dict[str, Any], patient_id: str,
                record_id: int) -> dict[str, str]:
        from decidua.services.patients import stored_row

        with session_scope(request) as s:
            return stored_row(s, user["username"], patient_id, kind, record_id)

    def edit(request: Request, patient_id: str, record_id: int) -> Response:
        user = login_required(request, f"{name}_edit")
        values = _stored(request, user, patient_id, record_id)
        return render(request, "form.html", user=user, form=form, errors={}, values=values,
                      title=f"{edit_title}: {patient_id}", fixed=_fixed(kind),
                      action=f"/patients/{patient_id}/{kind}/{record_id}/edit",
                      back=f"/patients/{patient_id}")  # fmt: skip

    async def update(request: Request, patient_id: str, record_id: int) -> Response:
        user = login_required(request, f"{name}_update")
        stored = _stored(request, user, patient_id, record_id)
        values = await _values(request, form)
        for col in (*_fixed(kind), "patient_id"):  # the key names the record: never posted
            values[col] = stored[col]
        errors = _store_row(request, user, kind, values, form, update=True)
        if errors:
            return render(request, "form.html", 422, user=user, form=form, values=values,
                          errors=errors, title=f"{edit_title}: {patient_id}",
                          fixed=_fixed(kind),
                          action=f"/patients/{patient_id}/{kind}/{record_id}/edit",
                          back=f"/patients/{patient_id}")  # fmt: skip
        return RedirectResponse(f"/patients/{patient_id}", 303)

    base = f"/patients/{{patient_id}}/{kind}"
    router.add_api_route(f"{base}/new", show, methods=["GET"])
    router.add_api_route(f"{base}/new", create, methods=["POST"])
    router.add_api_route(f"{base}/{{record_id}}/edit", edit, methods=["GET"])
    router.add_api_route(f"{base}/{{record_id}}/edit", update, methods=["POST"])


def _fixed(kind: str) -> tuple[str, ...]:
    from decidua.services.patients import EDITABLE

    return EDITABLE[kind][0]


@router.get("/patients/{patient_id}/audit")
def patient_audit(request: Request, patient_id: str) -> Response:
    with session_scope(request) as s:
        user = need(current_user(request, s), "patient_audit")
        events = audit_for(request, s, user, patient_id)
    return render(request, "audit.html", patient_id=patient_id, events=events)


@router.get("/biopsies/{code}")
def biopsy_page(request: Request, code: str) -> Response:
    return _biopsy_page(request, code)


def _biopsy_page(request: Request, code: str, error: str | None = None) -> Response:
    from decidua.services.reports import signoffs
    from decidua.web.common import is_researcher

    with session_scope(request) as s:
        user = need(current_user(request, s), "biopsy")
        b = biopsy_for(request, s, user, code)
        signs = [] if is_researcher(user) else signoffs(s, code)
        if signs:  # does the newest sign-off still cover the results as they are?
            from decidua.reports.biopsy import results_digest
            from decidua.services.biopsies import show_biopsy

            signs[-1]["current"] = (results_digest(show_biopsy(s, code)["results"])
                                    == signs[-1]["results_sha256"])
    return render(request, "biopsy.html", 422 if error else 200, b=b, signoffs=signs,
                  sign_error=error)


@router.post("/biopsies/{code}/sign")
async def biopsy_sign(request: Request, code: str) -> Response:
    """Sign the biopsy's results as they are now (``biopsy sign``: audited; signing
    unchanged results again adds nothing; new results need a new version)."""
    from decidua.services.reports import sign_biopsy

    user = login_required(request, "biopsy_sign")
    form = await request.form()
    note = str(form.get("note", "")).strip() or None
    try:
        with session_scope(request) as s:
            sign_biopsy(s, user["username"], code, note=note)
    except InputError as exc:
        return _biopsy_page(request, code, error=str(exc))
    return RedirectResponse(f"/biopsies/{code}#signoff", status_code=303)


# ---------------------------------------------------------------- forms

# (field, label, type, choices, help) — field names are the import file's columns.
PATIENT_FORM = [
    ("patient_id", "Patient id", "text", None, "the clinic's pseudonymous id"),
    ("year_of_birth", "Year of birth", "number", None, ""),
    ("bmi", "BMI", "text", None, "kg/m², optional"),
    ("ethnicity", "Ethnicity", "text", None, "optional"),
    ("study_group", "Study group", "select", ["rpl", "control", "other"], ""),
    ("consent_research", "Research consent", "select", ["no", "yes"], ""),
    ("consent_biobank", "Biobank consent", "select", ["no", "yes"], ""),
    ("consent_contact", "Contact consent", "select", ["no", "yes"], ""),
]
PREGNANCY_FORM = [
    ("order", "Order", "number", None, "1 for her first pregnancy"),
    ("outcome", "Outcome", "select", ["miscarriage", "biochemical", "live_birth", "stillbirth",
                                      "ectopic", "molar", "termination", "ongoing"], ""),
    ("gestation_weeks", "Gestation (weeks)", "text", None, "optional"),
    ("conception", "Conception", "select", ["spontaneous", "ovulation_induction", "iui", "ivf",
                                            "icsi", "assisted_other", "unknown"], ""),
    ("karyotype", "Karyotype", "select", ["not_tested", "normal", "abnormal", "failed"], ""),
    ("karyotype_detail", "Karyotype detail", "text", None, "optional, e.g. 47,XX,+16"),
    ("outcome_date", "Outcome date", "date", None, "YYYY-MM-DD"),
    ("fetal_heart_activity", "Fetal heart activity seen", "select", ["", "true", "false"],
     "on ultrasound before the outcome; empty: not known"),
]
BIOPSY_FORM = [
    ("biopsy_id", "Biopsy id", "text", None, ""),
    ("cycle_number", "Cycle", "number", None, "optional"),
    ("lh_surge_date", "LH surge date", "date", None, "YYYY-MM-DD"),
    ("biopsy_date", "Biopsy date", "date", None, "YYYY-MM-DD"),
    ("on_treatment", "On treatment", "select", ["false", "true"], ""),
    ("clinic_call", "Decidual reaction (clinic call)", "select", ["", "normal", "abnormal"],
     "optional"),
]

def _investigation_kinds() -> list[str]:
    from decidua.domain import INVESTIGATION_KINDS

    return sorted(INVESTIGATION_KINDS)


INVESTIGATION_FORM = [
    ("kind", "Investigation", "select", _investigation_kinds(), ""),
    ("date", "Date", "date", None, "YYYY-MM-DD"),
    ("value", "Value", "text", None, "numeric investigations only"),
    ("unit", "Unit", "text", None, "optional; the kind's usual unit when empty"),
    ("interpretation", "Interpretation", "select", ["normal", "abnormal", "equivocal"], ""),
    ("text", "Note", "text", None, "optional"),
]
INTERVENTION_FORM = [
    ("kind", "Intervention", "select", ["sitagliptin", "endometrial_scratch", "progesterone",
                                        "aspirin", "heparin", "aspirin_heparin", "placebo",
                                        "other"], ""),
    ("start_date", "Start date", "date", None, "YYYY-MM-DD"),
    ("end_date", "End date", "date", None, "optional"),
    ("dose", "Dose", "text", None, "optional, e.g. 100 mg daily"),
    ("trial_arm", "Trial arm", "text", None, "optional"),
]  # fmt: skip

_form_page("pregnancy", PREGNANCY_FORM, "pregnancies")
_form_page("biopsy", BIOPSY_FORM, "biopsies")
_form_page("investigation", INVESTIGATION_FORM, "investigations")
_form_page("intervention", INTERVENTION_FORM, "interventions")


async def _values(request: Request, form: list) -> dict[str, str]:
    data = await request.form()
    return {f[0]: str(data.get(f[0], "")).strip()[:500] for f in form}


def _store_row(request: Request, user: dict[str, Any], kind: str, values: dict[str, str],
               form: list, *, update: bool = False) -> dict[str, str]:
    """Store one form as a one-row import (the importer validates and audits); field errors."""
    from decidua.services.imports import import_row

    columns = ["patient_id", *[f[0] for f in form if f[0] != "patient_id"]]
    try:
        with session_scope(request) as s:
            import_row(s, user["username"], kind, {c: values.get(c, "") for c in columns},
                       file_name=f"web-form-{kind}.csv", update=update)
    except InputError as exc:
        errors: dict[str, str] = {}
        for p in exc.problems:
            key = p.column if p.column in values else "_form"
            errors[key] = (errors.get(key, "") + " " + p.reason).strip()
        return errors
    return {}


# ---------------------------------------------------------------- uploads

KIND_NAMES = web_access.UPLOAD_KINDS
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _upload_dir(request: Request) -> Path:
    from decidua.settings import get_settings

    d = Path(get_settings().data_dir) / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


@router.get("/upload")
def upload_form(request: Request) -> Response:
    user = login_required(request, "upload")
    kinds = [k for k in KIND_NAMES if web_access.allowed(user["role"], "upload", kind=k)]
    return render(request, "upload.html", kinds=kinds, report=None, problems=None, token=None)


@router.post("/upload")
async def upload_preview(request: Request) -> Response:
    """Validate the file as a dry run: row-level problems, or what would be stored."""
    from decidua.services.imports import import_file

    user = login_required(request, "upload")
    form = await request.form()
    kind = str(form.get("kind", ""))
    kinds = [k for k in KIND_NAMES if web_access.allowed(user["role"], "upload", kind=k)]
    need(user, "upload_preview", kind=kind)
    if kind not in KIND_NAMES:
        raise InputError(f"unknown import kind {kind!r}")
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return render(request, "upload.html", 422, kinds=kinds, report=None, token=None,
                      problems=[{"row": None, "column": "file", "value": None,
                                 "reason": "choose a file"}])
    token = secrets.token_urlsafe(24)
    folder = _upload_dir(request) / token
    folder.mkdir()
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.filename).name)[:100] or "upload.csv"
    path = folder / name
    path.write_bytes(await upload.read())
    (folder / ".owner").write_text(f"{user['username']}\n{kind}\n", encoding="utf-8")
    try:
        with session_scope(request) as s:
            report = import_file(s, user["username"], kind, path, dry_run=True)
    except InputError as exc:
        _discard(folder)
        probs = [{"row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
                 for p in exc.problems]  # fmt: skip
        return render(request, "upload.html", 422, kinds=kinds, report=None, problems=probs,
                      token=None, kind=kind, filename=name)
    return render(request, "upload.html", kinds=kinds, report=report.to_dict(), problems=None,
                  token=token, kind=kind, filename=name)


def _discard(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@router.post("/upload/commit")
async def upload_commit(request: Request) -> Response:
    from decidua.services.imports import import_file

    user = login_required(request, "upload")
    form = await request.form()
    token = str(form.get("token", ""))
    if not _TOKEN.match(token):
        raise InputError("no such upload: upload the file again")
    folder = _upload_dir(request) / token
    owner = folder / ".owner"
    if not owner.exists():
        raise InputError("no such upload (already stored or discarded): upload the file again")
    username, kind = owner.read_text(encoding="utf-8").split("\n")[:2]
    if username != user["username"]:
        raise InputError("no such upload: upload the file again")
    need(user, "upload_commit", kind=kind)
    files = [p for p in folder.iterdir() if p.name != ".owner"]
    try:
        with session_scope(request) as s:
            report = import_file(s, user["username"], kind, files[0])
    except InputError as exc:
        probs = [{"row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
                 for p in exc.problems]  # fmt: skip
        return render(request, "upload.html", 422, kinds=[kind], report=None, problems=probs,
                      token=None, kind=kind, filename=files[0].name)
    finally:
        _discard(folder)
    return render(request, "upload.html", kinds=[kind], report=report.to_dict(),
                  problems=None, token=None, kind=kind, filename=files[0].name, stored=True)


# ---------------------------------------------------------------- users


@router.get("/users")
def users_page(request: Request) -> Response:
    from decidua.services.users import list_tokens, list_users

    with session_scope(request) as s:
        user = need(current_user(request, s), "users")
        users = list_users(s, user["username"], web=True)
        tokens = list_tokens(s, user["username"])
    return render(request, "users.html", users=users, tokens=tokens, new_token=None,
                  error=None)


async def _users_action(request: Request, route: str, action: Any) -> Response:
    from decidua.services.users import list_tokens, list_users

    user = login_required(request, route)
    form = await request.form()
    error, new_token = None, None
    try:
        with session_scope(request) as s:
            new_token = action(s, user["username"], form)
    except DeciduaError as exc:
        error = str(exc)
    with session_scope(request) as s:
        users = list_users(s, user["username"], web=True)
        tokens = list_tokens(s, user["username"])
    return render(request, "users.html", 422 if error else 200, user=user, users=users,
                  tokens=tokens, new_token=new_token, error=error)


@router.post("/users")
async def user_create(request: Request) -> Response:
    from decidua.services.users import add_user, set_password

    def act(s: Any, actor: str, form: Any) -> None:
        name = str(form.get("username", "")).strip()
        add_user(s, actor, name, str(form.get("role", "")),
                 display_name=str(form.get("name", "")).strip() or None)
        if form.get("password"):
            set_password(s, actor, name, str(form.get("password")))

    return await _users_action(request, "user_create", act)


@router.post("/users/{username}/password")
async def user_password(request: Request, username: str) -> Response:
    from decidua.services.users import set_password

    return await _users_action(request, "user_password", lambda s, a, f: set_password(
        s, a, username, str(f.get("password", ""))) and None)


@router.post("/users/{username}/deactivate")
async def user_deactivate(request: Request, username: str) -> Response:
    from decidua.services.users import deactivate_user

    return await _users_action(request, "user_deactivate",
                               lambda s, a, f: deactivate_user(s, a, username) and None)


@router.post("/tokens")
async def token_create(request: Request) -> Response:
    from decidua.services.users import create_token

    return await _users_action(request, "token_create", lambda s, a, f: create_token(
        s, a, str(f.get("username", "")), str(f.get("name", ""))))


@router.post("/tokens/{token_id}/revoke")
async def token_revoke(request: Request, token_id: int) -> Response:
    from decidua.services.users import revoke_token

    return await _users_action(request, "token_revoke",
                               lambda s, a, f: revoke_token(s, a, token_id))
