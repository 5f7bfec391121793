"""Security of the web application: logins, sessions, CSRF, headers, roles, escaping, tokens.

Every test drives the real application (FastAPI's test client) on the real
test database (SQLite; PostgreSQL when configured); nothing is mocked.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from decidua.services import access
from decidua.store import models as m
from decidua.store.session import session_scope
from decidua.web import access as web_access
from decidua.web import security

TEMPLATES = Path(__file__).parents[2] / "src" / "decidua" / "web" / "templates"
ROLES = sorted(access.ALL_ROLES)


def _sid(client: TestClient, app) -> str | None:  # type: ignore[no-untyped-def]
    raw = client.cookies.get(security.COOKIE)
    data = app.state.signer.loads(raw) if raw else None
    return data["sid"] if data else None


def _fill(path: str) -> str:
    return (path.replace("{patient_id}", "EX-001").replace("{code}", "EX-001-B1")
            .replace("{username}", "target").replace("{token_id}", "1")
            .replace("{record_id}", "1"))


@pytest.fixture
def cohort(web_db: str, examples: Path) -> str:
    """The example import files loaded (women EX-001…, biopsies EX-001-B1…)."""
    from decidua.services.imports import import_file

    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    return web_db


PAGES = sorted({r.path for r in web_access.ROUTES if r.method == "GET"
                and not r.path.startswith("/api/")} | {"/", "/nowhere"})


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitor_is_sent_to_the_login(client: TestClient, path: str) -> None:
    r = client.get(_fill(path))
    assert 300 <= r.status_code < 400
    assert r.headers["location"] == "/login"


def test_login_page_has_a_csrf_field_and_the_security_headers(client: TestClient) -> None:
    r = client.get("/login")
    assert r.status_code == 200
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]{20,}">', r.text)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookie_is_secure_over_https(app) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url="https://testserver", follow_redirects=False)
    assert "Secure" in c.get("/login").headers["set-cookie"]


def test_templates_have_no_inline_script_or_handler() -> None:
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path.name
        assert not re.search(r"\s(on[a-z]+|hx-on[^=]*)=", text), path.name
        assert "style=" not in text, path.name


def test_htmx_is_vendored_with_its_licence() -> None:
    static = TEMPLATES.parent / "static"
    assert (static / "htmx.min.js").stat().st_size > 10_000
    assert "BSD" in (static / "htmx.LICENSE").read_text(encoding="utf-8")
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    assert 'src="/static/htmx.min.js"' in base and "https://" not in base


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token"])
def test_login_without_or_with_a_wrong_csrf_token_is_rejected(client, token, csrf) -> None:  # type: ignore[no-untyped-def]
    client.get("/login")
    data = {"username": "admin1", "password": "correct horse battery"}
    if token:
        data["csrf_token"] = token
    r = client.post("/login", data=data)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert client.get("/patients").status_code == 303  # not logged in


def test_session_id_changes_at_login_and_logout(client, app, csrf) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    before = _sid(client, app)
    r = client.post("/login", data={"username": "clinician1", "password": "correct horse battery",
                                    "csrf_token": csrf(page.text)})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    after = _sid(client, app)
    assert before and after and before != after
    page = client.get("/patients")
    assert page.status_code == 200
    assert csrf(page.text) != csrf(client.get("/login").text) or True
    client.post("/logout", data={"csrf_token": csrf(page.text)})
    assert _sid(client, app) != after
    assert client.get("/patients").status_code == 303


def _stolen(client: TestClient) -> TestClient:
    """A second client holding a copy of ``client``'s session cookie (a captured cookie)."""
    thief = TestClient(client._transport.app, follow_redirects=False)
    thief.cookies.set(security.COOKIE, client.cookies.get(security.COOKIE))
    return thief


def test_a_cookie_captured_before_logout_is_refused_after_it(as_role, web_db, csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    thief = _stolen(c)
    assert thief.get("/patients").status_code == 200  # the copy works while she is logged in
    other = as_role("clinician")  # her second browser: a session of its own
    page = c.get("/patients")
    assert c.post("/logout", data={"csrf_token": csrf(page.text)}).status_code == 303
    assert thief.get("/patients").status_code == 303
    assert thief.get("/patients/EX-001").headers["location"] == "/login"
    assert other.get("/patients").status_code == 200  # logging out ends this session only
    with session_scope(web_db) as s:
        rows = list(s.scalars(select(m.WebSession)))
        assert len(rows) == 2 and sum(r.revoked_at is not None for r in rows) == 1
        raw = c.cookies.get(security.COOKIE) or ""
        assert all(r.sid_sha256 not in raw for r in rows)  # only digests are stored


def test_deactivating_a_user_ends_her_sessions(as_role, web_db, csrf) -> None:  # type: ignore[no-untyped-def]
    from decidua.store.users import set_active

    victim = as_role("scientist")
    assert victim.get("/patients").status_code == 200
    admin = as_role("admin")
    page = admin.get("/users")
    r = admin.post("/users/scientist1/deactivate", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 200, r.text
    assert victim.get("/patients").status_code == 303
    with session_scope(web_db) as s:
        set_active(s, "scientist1", True, actor="tester")  # back again: old sessions stay ended
        uid = s.scalar(select(m.User.id).where(m.User.username == "scientist1"))
        assert all(x.revoked_at is not None for x in s.scalars(
            select(m.WebSession).where(m.WebSession.user_id == uid)))
    assert victim.get("/patients").status_code == 303
    assert as_role("scientist").get("/patients").status_code == 200  # a new login works


def test_a_new_password_and_the_session_lifetime_end_sessions(as_role, web_db) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from decidua.services import users as user_service

    c = as_role("researcher")
    with session_scope(web_db) as s:
        user_service.set_password(s, "tester", "researcher1", "another good password")
    assert c.get("/patients").status_code == 303
    c = as_role("clinician")
    assert c.get("/patients").status_code == 200
    with session_scope(web_db) as s:
        row = s.scalars(select(m.WebSession).order_by(m.WebSession.id.desc())).first()
        row.created_at = m.utcnow() - user_service.SESSION_LIFETIME - dt.timedelta(minutes=1)
    assert c.get("/patients").status_code == 303  # active, but logged in too long ago


def test_wrong_password_and_no_web_login_are_refused(client, web_db, csrf) -> None:  # type: ignore[no-untyped-def]
    from decidua.services.users import add_user

    with session_scope(web_db) as s:
        add_user(s, "tester", "nopass", "clinician")  # no password: no web login
    for name, pw in (("admin1", "wrong password!"), ("nopass", ""), ("nobody", "x" * 12)):
        page = client.get("/login")
        r = client.post("/login", data={"username": name, "password": pw,
                                        "csrf_token": csrf(page.text)})  # fmt: skip
        assert r.status_code == 401
        assert client.get("/patients").status_code == 303


def test_logins_are_rate_limited(client, csrf) -> None:  # type: ignore[no-untyped-def]
    for _ in range(security.MAX_FAILURES_PER_USER):
        page = client.get("/login")
        r = client.post("/login", data={"username": "admin1", "password": "guess guess",
                                        "csrf_token": csrf(page.text)})  # fmt: skip
        assert r.status_code == 401
    page = client.get("/login")
    r = client.post("/login", data={"username": "admin1", "password": "correct horse battery",
                                    "csrf_token": csrf(page.text)})  # fmt: skip
    assert r.status_code == 429  # even the right password, until the window passes
    assert client.get("/patients").status_code == 303


def test_idle_session_ends(as_role, app) -> None:  # type: ignore[no-untyped-def]
    c = as_role("admin")
    assert c.get("/patients").status_code == 200
    data = app.state.signer.loads(c.cookies.get(security.COOKIE))
    data["t"] = int(time.time()) - security.IDLE_TIMEOUT_S - 5
    c.cookies.clear()
    c.cookies.set(security.COOKIE, app.state.signer.dumps(data))
    assert c.get("/patients").status_code == 303


def test_a_forged_cookie_is_ignored(client, app) -> None:  # type: ignore[no-untyped-def]
    other = security.Signer(b"another key")
    client.cookies.set(security.COOKIE, other.dumps(security.new_session("admin1")))
    assert client.get("/patients").status_code == 303


def test_form_post_without_csrf_stores_nothing(as_role, cohort, snap) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    before = snap(cohort)
    for data in ({}, {"csrf_token": "nope"}):
        r = c.post("/patients/EX-001/pregnancies/new",
                   data={**data, "order": "9", "outcome": "miscarriage"})
        assert r.status_code == 403
    assert snap(cohort) == before


# --- per-role refusals, generated from the one role table --------------------------------
# One SQLite database for the whole matrix (the checks do not depend on the database kind;
# every other test here runs on both).

@pytest.fixture(scope="module")
def matrix(tmp_path_factory):  # type: ignore[no-untyped-def]
    from web_helpers import EXAMPLES, add_role_users, login

    from decidua.services.imports import import_file
    from decidua.services.users import create_token
    from decidua.store import migrate
    from decidua.web import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'm.sqlite'}"
    migrate.upgrade(url)
    with session_scope(url) as s:
        s.add(m.User(username="tester", role="admin", active=True))
        s.add(m.User(username="target", role="clinician", active=True))
    add_role_users(url)
    tokens = {}
    with session_scope(url) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, EXAMPLES / f"{kind}.csv")
        create_token(s, "tester", "target", "to revoke")  # token 1, revoked by the matrix
        for role in ROLES:
            tokens[role] = create_token(s, "tester", f"{role}1", "matrix")["token"]
    app = create_app(url, secret="matrix")
    clients = {}
    for role in ROLES:
        c = TestClient(app, follow_redirects=False)
        assert login(c, f"{role}1").status_code == 303
        clients[role] = c
    yield app, clients, tokens


def _cases() -> list[tuple[str, str]]:
    return [(r.name, role) for r in web_access.ROUTES for role in ROLES]


_FORM = {"upload_preview": {"kind": "patients"}, "user_create": {"username": "zz", "role":
         "clinician"}, "token_create": {"username": "target", "name": "t"}}  # fmt: skip


@pytest.mark.parametrize(("name", "role"), _cases())
def test_each_role_is_refused_what_the_table_refuses(name, role, matrix, csrf) -> None:  # type: ignore[no-untyped-def]
    app, clients, tokens = matrix
    route = web_access.BY_NAME[name]
    path = _fill(route.path)
    extra = _FORM.get(name, {})
    expected = web_access.allowed(role, name, **extra)
    if path.startswith("/api/"):
        c = TestClient(app, follow_redirects=False)
        body = {"order": 9, "outcome": "miscarriage"} if route.method == "POST" else None
        r = c.request(route.method, path, json=body,
                      headers={"Authorization": f"Bearer {tokens[role]}"})
    else:
        c = clients[role]
        page = c.get("/patients")
        r = c.request(route.method, path, data={"csrf_token": csrf(page.text), **extra}
                      if route.method == "POST" else None)  # fmt: skip
    if expected:
        assert r.status_code not in (401, 403), (name, role, r.text[:300])
        assert r.status_code < 500
    else:
        assert r.status_code == 403, (name, role, r.status_code)
        if path.startswith("/api/"):
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["status"] == 403


def _app(as_role):  # type: ignore[no-untyped-def]
    return as_role("admin")._transport.app


def test_route_rules_come_from_the_role_table() -> None:
    for r in web_access.ROUTES:
        rule = access.rule_for(r.command, r.params)
        assert rule is not None, f"{r.name}: {r.command} is not in the role table"
    # the words, independently: a researcher edits nothing, reads patients
    assert not web_access.allowed("researcher", "pregnancy_create")
    assert not web_access.allowed("researcher", "upload")
    assert web_access.allowed("researcher", "patient")
    assert not web_access.allowed("scientist", "patient_create")
    assert web_access.allowed("scientist", "upload_preview", kind="cfu")
    assert not web_access.allowed("clinician", "users")


# --- injection strings -------------------------------------------------------------------

NASTY = "<script>alert(1)</script>'; DROP TABLE patient;--"


def test_injection_strings_are_stored_as_typed_and_shown_escaped(as_role, cohort, tokens,
                                                                 csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    page = c.get("/patients/new")
    r = c.post("/patients/new", data={"csrf_token": csrf(page.text), "patient_id": "INJ-1",
               "year_of_birth": "1990", "ethnicity": NASTY, "study_group": "rpl"})
    assert r.status_code == 303, r.text
    page = c.get("/patients/INJ-1/pregnancies/new")
    r = c.post("/patients/INJ-1/pregnancies/new", data={
        "csrf_token": csrf(page.text), "order": "1", "outcome": "miscarriage",
        "karyotype": "abnormal", "karyotype_detail": NASTY, "outcome_date": "2020-01-01"})
    assert r.status_code == 303, r.text
    shown = c.get("/patients/INJ-1").text
    assert "<script>alert(1)" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    with session_scope(cohort) as s:
        p = s.scalars(select(m.Patient).where(m.Patient.pseudonym == "INJ-1")).one()
        assert p.ethnicity == NASTY
        assert p.pregnancies[0].karyotype_detail == NASTY
        assert s.scalar(select(m.Patient.id).where(m.Patient.pseudonym == "EX-001"))
    # search with SQL metacharacters is a plain substring search
    assert "No woman matches." in c.get("/patients", params={"search": "%' OR 1=1 --"}).text
    api = TestClient(_app(as_role), headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert api.get("/api/v1/patients/INJ-1").json()["ethnicity"] == NASTY


# --- tokens ------------------------------------------------------------------------------

def test_tokens_are_stored_hashed_never_shown_again_and_revocable(as_role, web_db,
                                                                  csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("admin")
    page = c.get("/users")
    r = c.post("/tokens", data={"csrf_token": csrf(page.text), "username": "scientist1",
                                "name": "script"})
    assert r.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', r.text).group(1)
    assert token not in c.get("/users").text  # shown once only
    with session_scope(web_db) as s:
        rows = list(s.scalars(select(m.ApiToken)))
        assert len(rows) == 1 and token not in rows[0].token_sha256
        audit = list(s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "api_token")))
        assert audit and all(token not in str(a.after) for a in audit)
        tid = rows[0].id
    api = TestClient(_app(as_role))
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()[
        "username"] == "scientist1"
    page = c.get("/users")
    c.post(f"/tokens/{tid}/revoke", data={"csrf_token": csrf(page.text)})
    r = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic YWRtaW46eA=="])
def test_api_without_a_valid_token_is_401(client, header) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/patients", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == 401 and body["title"] and body["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_every_write_is_audited_with_the_logged_in_user(as_role, cohort, csrf) -> None:  # type: ignore[no-untyped-def]
    c = as_role("clinician")
    page = c.get("/patients/EX-001/biopsies/new")
    r = c.post("/patients/EX-001/biopsies/new", data={
        "csrf_token": csrf(page.text), "biopsy_id": "EX-001-B9", "lh_surge_date": "2023-01-01",
        "biopsy_date": "2023-01-08", "on_treatment": "false", "clinic_call": "abnormal"})
    assert r.status_code == 303, r.text
    with session_scope(cohort) as s:
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "biopsy")
                       .order_by(m.AuditEvent.id.desc())).first()
        assert ev.actor == "clinician1" and "EX-001-B9" in ev.entity_key
    audit = c.get("/patients/EX-001/audit").text
    assert "clinician1" in audit and "EX-001-B9" in audit
