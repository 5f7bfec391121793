"""Privacy of research exports (issue #11, items 6-9), end to end through the CLI.

Databases are filled with the example import files (three women) or with a
documented synthetic file of 60 women (ids, years of birth and BMIs drawn
from a seeded generator), on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from decidua.cli import app
from decidua.io import export as ex
from decidua.io.importers import import_file
from decidua.store import models as m
from decidua.store.session import session_scope

runner = CliRunner()
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]
KEY = "an-export-key-of-at-least-32-characters"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _load(db: str, examples: Path) -> None:
    for kind in KINDS:
        import_file(examples / f"{kind}.csv", kind, url=db, actor="tester")


def _export(db: str, out: Path, *args: str, key: str | None = KEY) -> object:
    env = {"DECIDUA_EXPORT_KEY": key or ""}
    return runner.invoke(app, ["--db", db, "export", "-o", str(out), *args], env=env)


def _stored_dates(db: str) -> set[str]:
    """Every date held for the women: every Date column of every model, and JSON values."""
    found: set[str] = set()
    with session_scope(db) as s:
        for entity in ex._ENTITIES.values():
            cols = [c for c in ex.date_columns(entity) if c != "created_at"]
            for row in s.scalars(select(entity)):
                found |= {getattr(row, c).isoformat() for c in cols if getattr(row, c)}
                for v in (getattr(row, "values", None) or {}).values():
                    if isinstance(v, str) and ISO.fullmatch(v):
                        found.add(v)
    return found


def test_every_model_date_column_is_exported_shifted_or_excluded() -> None:
    for name, entity in ex._ENTITIES.items():
        for col in ex.date_columns(entity):
            exported = col in ex.EXPORTED.get(name, ())
            assert exported or (entity.__tablename__, col) in ex.NOT_EXPORTED_DATES, (name, col)


def test_no_date_survives_shift_dates(db: str, examples: Path, tmp_path: Path) -> None:
    _load(db, examples)
    real = _stored_dates(db)
    assert "2021-11-25" in real  # the CFU count date (inside assay values) is among them
    plain, shifted = tmp_path / "plain", tmp_path / "shifted"
    assert _export(db, plain, "--include-free-text").exit_code == 0
    r = _export(db, shifted, "--shift-dates", "--include-free-text")
    assert r.exit_code == 0, r.output
    # every stored date is in the plain export ...
    text = "\n".join(p.read_text() for p in plain.glob("*.csv"))
    assert real <= set(ISO.findall(text)), sorted(real - set(ISO.findall(text)))
    # ... and every date cell of the shifted export differs from it (same key: same rows)
    n_dates = 0
    for f in plain.glob("*.csv"):
        a, b = pd.read_csv(f, dtype=str), pd.read_csv(shifted / f.name, dtype=str)
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        for col in a.columns:
            is_date = a[col].fillna("").str.fullmatch(ISO.pattern)
            n_dates += int(is_date.sum())
            assert (b[col][is_date] != a[col][is_date]).all(), (f.name, col)
            assert b[col][is_date].str.fullmatch(ISO.pattern).all()
    assert n_dates >= len(real)


def test_free_text_only_on_request_with_a_warning(db: str, examples: Path, tmp_path: Path) -> None:
    _load(db, examples)
    r = _export(db, tmp_path / "plain")
    assert r.exit_code == 0, r.output
    blob = "\n".join(p.read_text() for p in (tmp_path / "plain").glob("*.csv"))
    for text in ("100 mg daily", "SIT-1 active", "GPL/mL", "CFU-2021-11", "plate=P1", "A1",
                 "White British", "repeat in 12 weeks", "47,XX,+16"):  # fmt: skip
        assert text not in blob, text
    r = _export(db, tmp_path / "free", "--include-free-text")
    assert r.exit_code == 0 and "Warning: free-text" in r.output
    blob = "\n".join(p.read_text() for p in (tmp_path / "free").glob("*.csv"))
    assert "100 mg daily" in blob and "CFU-2021-11" in blob
    assert "INCLUDED" in (tmp_path / "free" / "README.txt").read_text()


def _synthetic_patients(path: Path, n: int = 60, seed: int = 7) -> Path:
    rng = random.Random(seed)
    lines = ["patient_id,year_of_birth,bmi,study_group,consent_research"]
    for i in range(n):
        bmi = round(rng.uniform(17, 42), 1)
        lines.append(f"S-{i:03d},{rng.randint(1975, 2000)},{bmi},rpl,yes")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_row_order_is_shuffled_and_keyed(db: str, tmp_path: Path) -> None:
    import_file(_synthetic_patients(tmp_path / "p.csv"), "patients", url=db, actor="t")
    orders = []
    for i, key in enumerate([None, None, KEY, KEY]):
        out = tmp_path / f"e{i}"
        assert _export(db, out, "--exact-quasi-identifiers", key=key).exit_code == 0
        orders.append(list(pd.read_csv(out / "patients.csv")["year_of_birth"]))
    stored = [int(line.split(",")[1]) for line in (tmp_path / "p.csv").read_text().split()[1:]]
    assert orders[0] != stored and orders[2] != stored  # not the clinic's order
    assert orders[0] != orders[1]  # keyless exports cannot be lined up by position
    assert orders[2] == orders[3]  # the same key gives the same order


def test_quasi_identifiers_are_coarsened_and_k_reported(
    db: str, tmp_path: Path
) -> None:
    import_file(_synthetic_patients(tmp_path / "p.csv"), "patients", url=db, actor="t")
    out = tmp_path / "banded"
    r = _export(db, out)
    assert r.exit_code == 0, r.output
    p = pd.read_csv(out / "patients.csv")
    assert {"year_of_birth", "bmi", "age_at_index"}.isdisjoint(p.columns)
    assert set(p["bmi_band"]) <= {"<18.5", "18.5-24.9", "25.0-29.9", "30.0-34.9", "35.0-39.9",
                                  ">=40.0"}  # fmt: skip
    k = int(p.groupby(["age_band", "bmi_band", "study_group"]).size().min())
    assert f"k-anonymity of age_band, bmi_band, study_group: {k}" in r.output
    assert f"k-anonymity: {k}" in (out / "README.txt").read_text()

    exact = tmp_path / "exact"
    r = _export(db, exact, "--exact-quasi-identifiers")
    q = pd.read_csv(exact / "patients.csv")
    assert {"year_of_birth", "bmi", "age_at_index"} <= set(q.columns)
    assert "k-anonymity of age_at_index, year_of_birth, bmi, study_group: 1" in r.output
    assert "Warning: k-anonymity" in r.output
    shifted = tmp_path / "shifted"
    assert _export(db, shifted, "--exact-quasi-identifiers", "--shift-dates").exit_code == 0
    assert "year_of_birth" not in pd.read_csv(shifted / "patients.csv").columns


def test_bands() -> None:
    assert [ex.age_band(a) for a in (19, 25, 29, 30, 44, 45, 60)] == [
        "<25", "25-29", "25-29", "30-34", "40-44", ">=45", ">=45"
    ]  # fmt: skip
    assert [ex.bmi_band(b) for b in (17.0, 18.5, 24.9, 25.0, 39.9, 40.0, None)] == [
        "<18.5", "18.5-24.9", "18.5-24.9", "25.0-29.9", "35.0-39.9", ">=40.0", None
    ]  # fmt: skip


def test_short_key_is_refused(db: str, examples: Path, tmp_path: Path) -> None:
    _load(db, examples)
    r = _export(db, tmp_path / "e", key="short-key")
    assert r.exit_code == 1 and "at least 32" in r.output
    assert not (tmp_path / "e").exists()
    r = _export(db, tmp_path / "e2", key=None)
    assert r.exit_code == 0 and "pseudonyms are random" in r.output


def test_csv_formula_injection_is_escaped(db: str, examples: Path, tmp_path: Path) -> None:
    import_file(examples / "patients.csv", "patients", url=db, actor="t")
    iv = tmp_path / "iv.csv"
    iv.write_text(
        "patient_id,kind,start_date,dose,trial_arm\n"
        'EX-001,sitagliptin,2022-01-05,"=HYPERLINK(""http://x"")",@SUM(A1)\n'
        "EX-002,sitagliptin,2022-02-05,+1,-2\n"
    )
    import_file(iv, "interventions", url=db, actor="t")
    out = tmp_path / "e"
    assert _export(db, out, "--include-free-text").exit_code == 0
    frame = pd.read_csv(out / "interventions.csv", dtype=str)
    cells = set(frame["dose"]) | set(frame["trial_arm"])
    assert cells == {"'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1", "'-2"}


def test_every_export_is_audited(db: str, examples: Path, tmp_path: Path) -> None:
    _load(db, examples)
    assert _export(db, tmp_path / "e", "--shift-dates").exit_code == 0
    with session_scope(db) as s:
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "export")).one()
    assert ev.actor == "tester"
    assert ev.after["options"]["shift_dates"] is True
    assert ev.after["options"]["key"] == "DECIDUA_EXPORT_KEY"
    assert ev.after["rows"]["patients"] == 3
    assert KEY not in json.dumps(ev.after)


def test_non_consented_export_needs_an_admin(db: str, examples: Path, tmp_path: Path) -> None:
    _load(db, examples)
    with session_scope(db) as s:
        s.add(m.User(username="rita", role="researcher"))
    env = {"DECIDUA_USER": "rita", "DECIDUA_EXPORT_KEY": KEY}
    args = ["--db", db, "export", "-o", str(tmp_path / "e")]
    r = runner.invoke(app, [*args, "--include-non-consented"], env=env)
    assert r.exit_code == 1 and "may not run `export`" in r.output
    assert runner.invoke(app, args, env=env).exit_code == 0


@pytest.mark.parametrize("kind", ["file", "nonempty"])
def test_unusable_output_is_refused_before_work(
    db: str, examples: Path, tmp_path: Path, kind: str
) -> None:
    _load(db, examples)
    out = tmp_path / "o"
    if kind == "file":
        out.write_text("x")
    else:
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    r = _export(db, out)
    assert r.exit_code == 1 and str(out) in r.output and "Traceback" not in r.output
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
