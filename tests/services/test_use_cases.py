"""The use-case layer on real databases (SQLite, and PostgreSQL when configured):
the example import files (EX-001: three losses, biopsies called abnormal then normal;
three women in all) go in through :func:`decidua.services.imports.import_file` and
come back through the patient, risk and pathway use cases."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from decidua.errors import InputError, NotFoundError
from decidua.services import imports, patients, risk, users
from decidua.store.session import session_scope

KINDS = imports.KINDS
SRC = Path(__file__).resolve().parents[2] / "src" / "decidua"


def _load(url: str, examples: Path) -> None:
    for kind in KINDS:
        with session_scope(url) as s:
            imports.import_file(s, "tester", kind, examples / f"{kind}.csv")


def test_import_then_list_and_show(db: str, examples: Path, snap) -> None:  # type: ignore[no-untyped-def]
    before = snap(db)
    with session_scope(db) as s:
        report = imports.import_file(s, "tester", "patients", examples / "patients.csv",
                                     dry_run=True)  # fmt: skip
    assert report.dry_run and report.inserted == 3
    assert snap(db) == before  # a dry run writes nothing
    _load(db, examples)
    with session_scope(db) as s:
        page = patients.list_patients(s, "tester", limit=2)
        view = patients.show_patient(s, "tester", "EX-001")
    assert page.total == 3 and len(page.rows) == 2
    assert [r["patient_id"] for r in page.rows] == sorted(r["patient_id"] for r in page.rows)
    ex1 = view.to_dict()
    assert (ex1["losses"], ex1["consecutive_losses"]) == (3, 3)
    events = [e.event for e in view.timeline]
    assert events[:3] == ["pregnancy 1", "pregnancy 2", "pregnancy 3"]
    dates = [e.date for e in view.timeline if e.date]
    assert dates == sorted(dates)
    with session_scope(db) as s, pytest.raises(NotFoundError):
        patients.show_patient(s, "tester", "NOBODY")


def test_unknown_kind_and_missing_schema_are_input_errors(empty_db: str, examples: Path) -> None:
    with pytest.raises(InputError, match="unknown import kind"):
        imports.check_kind("spaceships")
    with session_scope(empty_db) as s, pytest.raises(InputError, match="db upgrade"):
        patients.list_patients(s, "tester")
    # today `risk patient` on an empty database ended in a traceback (no such table)
    with session_scope(empty_db) as s, pytest.raises(InputError, match="db upgrade"):
        risk.assess_patient(s, "tester", "EX-001")


def test_assess_patient_matches_the_risk_model_and_is_stored(db: str, examples: Path) -> None:
    from decidua.risk import predict_record
    from decidua.store.records import load_patient_record

    _load(db, examples)
    day = dt.date(2026, 1, 15)
    with session_scope(db) as s:
        res = risk.assess_patient(s, "clinician1", "EX-001", save=True, on=day)
        expected = predict_record(load_patient_record(s, "EX-001"), day)
    assert res.estimate.p_loss == expected.p_loss
    assert res.to_dict()["patient_id"] == "EX-001"
    with session_scope(db) as s:
        hist = risk.risk_history(s, "tester", "EX-001")
    assert [a["by"] for a in hist.assessments] == ["clinician1"]
    assert hist.assessments[0]["p_loss"] == expected.p_loss
    with session_scope(db) as s:
        steps = risk.pathway_for_patient(s, "tester", "EX-001", research_biopsy=True)
    assert steps.losses == 3


def test_assess_from_counts_is_the_model_with_that_history() -> None:
    from decidua.domain import Outcome
    from decidua.risk import default_model, predict

    res = risk.assess(34, losses=3, live_births=1, biopsies=["abnormal"], what_if=True)
    history = [Outcome.LIVE_BIRTH] + [Outcome.MISCARRIAGE] * 3
    assert res.estimate.p_loss == predict(34, history, ["abnormal"]).p_loss
    out = res.to_dict()
    outlook = default_model().biopsy_outlook(34, history, ["abnormal"])
    assert out["next_biopsy"]["p_abnormal"] == outlook.p_abnormal
    with pytest.raises(InputError, match="negative"):
        risk.assess(34, losses=-1)


def test_acting_user_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECIDUA_USER", "asha")
    assert users.acting_user() == "asha"
    monkeypatch.delenv("DECIDUA_USER")
    assert users.acting_user().startswith("local:")


CLI_MODULES = ["__init__.py", "core.py", "risk.py", "methylation.py", "output.py"]


@pytest.mark.parametrize("name", CLI_MODULES)
def test_cli_modules_hold_no_sql(name: str) -> None:
    """The CLI formats; queries and models live below the services."""
    tree = ast.parse((SRC / "cli" / name).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
    banned = [m for m in imported
              if m.split(".")[0] == "sqlalchemy" or m.startswith(("decidua.store.models",
                                                                   "decidua.store.records",
                                                                   "decidua.store.assessments",
                                                                   "decidua.store.users",
                                                                   "decidua.io.importers"))]
    assert banned == []


@pytest.mark.parametrize("path", sorted((SRC / "services").glob("*.py")), ids=lambda p: p.name)
def test_services_know_nothing_of_the_cli(path: Path) -> None:
    """Use cases are shared with the web application: no Typer, Rich, CLI or printing."""
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.update({node.module.split(".")[0], node.module})
    assert not imported & {"typer", "rich", "click", "decidua.cli"}
    assert not any(m.startswith("decidua.cli") for m in imported)
    prints = [n.lineno for n in ast.walk(tree)
              if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]  # fmt: skip
    assert prints == []
