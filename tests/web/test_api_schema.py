"""The JSON API against its own OpenAPI schema (schemathesis), authenticated.

Every operation of ``/openapi.json`` is called with generated inputs by an
admin's token on the example cohort: no response may be a 5xx, and every
response must match the schema (status codes, content types, bodies). Kept
small (a few examples per operation) so that it runs in well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as oa_checks

from decidua.store.session import session_scope
from decidua.web import create_app


@pytest.fixture
def web_schema(web_db: str, examples: Path, tokens: dict[str, str]):  # type: ignore[no-untyped-def]
    from decidua.services.imports import import_file

    with session_scope(web_db) as s:
        for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
            import_file(s, "tester", kind, examples / f"{kind}.csv")
    app = create_app(web_db, secret="schema")
    app.state.test_token = tokens["admin"]
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    st_checks.not_a_server_error,
    oa_checks.status_code_conformance,
    oa_checks.content_type_conformance,
    oa_checks.response_schema_conformance,
]


def test_api_conforms_to_its_schema(web_schema) -> None:  # type: ignore[no-untyped-def]
    token = web_schema.app.state.test_token
    operations = [r.ok() for r in web_schema.get_all_operations()]
    assert len(operations) >= 5
    seen: set[tuple[str, int]] = set()
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def run(case):  # type: ignore[no-untyped-def]
            r = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
            seen.add((case.operation.label, r.status_code))

        run()
    # the calls reached the application: successes and validation refusals both seen
    assert {code for _, code in seen} >= {200, 404}
    assert {label for label, _ in seen} == {op.label for op in operations}


def test_known_patient_is_found_through_the_api(web_schema) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    app = web_schema.app
    c = TestClient(app, headers={"Authorization": f"Bearer {app.state.test_token}"})
    page = c.get("/api/v1/patients", params={"min_losses": 2}).json()
    assert page["total"] >= 1 and all(r["losses"] >= 2 for r in page["patients"])
    one = c.get("/api/v1/patients/EX-001").json()
    assert one["patient_id"] == "EX-001" and one["risk"]["interval"][0] <= one["risk"]["p_loss"]
    assert c.get("/api/v1/patients/NOPE-9").status_code == 404
