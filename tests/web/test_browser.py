"""Browser tests: Playwright driving Debian's chromium against a real server on 127.0.0.1.

The application runs under uvicorn in a thread on a free port, on the test
database (SQLite; PostgreSQL when configured). Nothing is mocked: the clicks go
through the login, the forms, the upload preview and commit, the role checks.
Skipped only when ``/usr/bin/chromium`` is absent (``.ci/run`` installs it).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from web_helpers import PASSWORD

from decidua.store import models as m
from decidua.store.session import session_scope
from decidua.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(web_db: str) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(create_app(web_db, secret="browser"), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")  # fmt: skip
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def _login(page, base: str, user: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/patients")


def _pregnancies(url: str, pid: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(m.Pregnancy).join(m.Patient)
                        .where(m.Patient.pseudonym == pid)) or 0  # fmt: skip


def _add_pregnancy(page, base: str, order: int, date: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/patients/WEB-1/pregnancies/new")
    page.fill("#f-order", str(order))
    page.select_option("#f-outcome", "miscarriage")
    page.fill("#f-gestation_weeks", "8")
    page.fill("#f-outcome_date", date)
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{base}/patients/WEB-1")


def test_clinic_day_in_the_browser(server: str, browser, web_db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = server
    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # every page sends an anonymous visitor to the login
    for path in ("/", "/patients", "/patients/WEB-1", "/upload", "/users"):
        page.goto(base + path)
        assert page.url == f"{base}/login", path

    _login(page, base, "clinician1")

    # create a woman
    page.click("text=New woman")
    page.fill("#f-patient_id", "WEB-1")
    page.fill("#f-year_of_birth", "1988")
    page.fill("#f-ethnicity", "Secret ethnicity text")
    page.select_option("#f-study_group", "rpl")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{base}/patients/WEB-1")
    assert page.inner_text("h1") == "Patient WEB-1"

    # a bad form: the error is beside the field, and what was typed is kept
    page.goto(f"{base}/patients/WEB-1/pregnancies/new")
    page.fill("#f-order", "1")
    page.fill("#f-karyotype_detail", "47,XX,+16")
    page.fill("#f-gestation_weeks", "99")
    page.fill("#f-outcome_date", "2020-03-01")
    page.click("button:has-text('Save')")
    assert page.locator("#error-gestation_weeks").is_visible()
    assert page.input_value("#f-outcome_date") == "2020-03-01"
    assert page.input_value("#f-karyotype_detail") == "47,XX,+16"
    assert page.input_value("#f-order") == "1"
    assert _pregnancies(web_db, "WEB-1") == 0

    # her history: two losses, and a biopsy
    _add_pregnancy(page, base, 1, "2020-03-01")
    _add_pregnancy(page, base, 2, "2021-05-01")
    page.click("text=Add a biopsy")
    page.fill("#f-biopsy_id", "WEB-1-B1")
    page.fill("#f-lh_surge_date", "2022-01-03")
    page.fill("#f-biopsy_date", "2022-01-10")
    page.select_option("#f-clinic_call", "normal")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{base}/patients/WEB-1")
    assert "LH+7" in page.inner_text("section:has(h2:text('Biopsies'))")
    risk_before = page.inner_text("#p-loss")
    stage_before = page.inner_text("#stage")
    assert page.inner_text("#losses").startswith("2")

    # a bad CSV: row-level errors, nothing stored
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,order,outcome,outcome_date\n"
                   "WEB-1,3,miscarriage,2022-06-01\nWEB-1,4,sometimes,2023-01-01\n")
    page.goto(f"{base}/upload")
    page.select_option("select[name=kind]", "pregnancies")
    page.set_input_files("input[name=file]", str(bad))
    page.click("button:has-text('Check the file')")
    problems = page.inner_text("#problems")
    assert "nothing was stored" in problems and "outcome" in problems and "3" in problems
    assert _pregnancies(web_db, "WEB-1") == 2

    # a good CSV: preview (nothing stored yet), then commit
    good = tmp_path / "good.csv"
    good.write_text("patient_id,order,outcome,outcome_date\nWEB-1,3,miscarriage,2022-06-01\n")
    page.select_option("select[name=kind]", "pregnancies")
    page.set_input_files("input[name=file]", str(good))
    page.click("button:has-text('Check the file')")
    assert "nothing stored yet" in page.inner_text("#preview")
    assert _pregnancies(web_db, "WEB-1") == 2
    page.click("#commit")
    assert "Stored good.csv" in page.inner_text("#stored")
    assert _pregnancies(web_db, "WEB-1") == 3

    # her risk and pathway change
    page.goto(f"{base}/patients/WEB-1")
    assert page.inner_text("#losses").startswith("3")
    assert page.inner_text("#p-loss") != risk_before
    assert page.inner_text("#stage") != stage_before
    assert page.locator("svg.riskbar").count() == 1
    # no CSP violation or script error (failed loads are the 4xx pages asked for above)
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    ctx.close()

    # a researcher cannot edit and sees no identifying field
    rctx = browser.new_context()
    r = rctx.new_page()
    _login(r, base, "researcher1")
    assert r.locator("text=New woman").count() == 0
    assert "WEB-1" not in r.inner_text("main")  # the list shows research pseudonyms
    r.click("td a >> nth=0")  # she is the only woman: her pseudonym
    text = r.inner_text("main")
    assert re.match(r"Patient P[0-9a-f]{16}$", r.inner_text("h1"))
    assert "WEB-1" not in text and "1988" not in text and "Secret ethnicity text" not in text
    assert re.search(r"Age band\s+\d+-\d+", text)
    assert r.locator("text=Add a pregnancy").count() == 0
    assert r.goto(f"{base}/patients/WEB-1").status == 404  # a clinic id names no one for her
    resp = r.goto(f"{base}/patients/WEB-1/pregnancies/new")
    assert resp.status == 403
    assert r.locator("text=Upload").count() == 0
    rctx.close()


def test_add_and_edit_records_in_the_browser(server: str, browser, web_db: str,
                                             examples: Path) -> None:  # type: ignore[no-untyped-def]
    """Add an investigation; edit an intervention with an error, then put it right."""
    from decidua.services.imports import import_file

    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    base = server
    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _login(page, base, "clinician1")
    page.goto(f"{base}/patients/EX-002")
    page.click("text=Add an investigation")
    page.select_option("#f-kind", "tsh")
    page.fill("#f-date", "2023-02-01")
    page.fill("#f-value", "3.4")
    page.select_option("#f-interpretation", "normal")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{base}/patients/EX-002")
    assert "3.4 mIU/L, normal" in page.inner_text("table.timeline")

    page.goto(f"{base}/patients/EX-001")
    page.click("#records >> text=sitagliptin from 2022-01-05")
    assert page.input_value("#f-dose") == "100 mg daily"
    assert page.get_attribute("#f-start_date", "readonly") is not None
    page.fill("#f-end_date", "2021-01-01")  # before the start: refused
    page.fill("#f-dose", "50 mg daily")
    page.click("button:has-text('Save')")
    assert "before start_date" in page.inner_text("#error-end_date")
    assert page.input_value("#f-dose") == "50 mg daily"  # nothing lost
    with session_scope(web_db) as s:
        assert s.scalars(select(m.Intervention.dose)).one() == "100 mg daily"
    page.fill("#f-end_date", "2022-04-05")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{base}/patients/EX-001")
    assert "sitagliptin 50 mg daily" in page.inner_text("table.timeline")
    with session_scope(web_db) as s:
        assert s.scalars(select(m.Intervention.dose)).one() == "50 mg daily"
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    ctx.close()
