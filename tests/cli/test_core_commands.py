"""Foundation CLI commands end to end on real databases."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import load_examples
from typer.testing import CliRunner

from decidua.cli import app
from decidua.cli.core import demo_dir

runner = CliRunner()


def _load_examples(db: str, examples: Path) -> None:
    load_examples(db, examples, runner)


def test_db_upgrade_current_downgrade(empty_db: str, tmp_path: Path) -> None:
    r = runner.invoke(app, ["--db", empty_db, "db", "upgrade"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", empty_db, "users", "add", "tester", "--role", "admin"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", empty_db, "db", "current"])
    from decidua.store.migrate import head_revision

    assert f"current: {head_revision()}" in r.output
    r = runner.invoke(app, ["--db", empty_db, "db", "downgrade", "base", "--yes"])
    assert r.exit_code == 1 and "backup" in r.output  # the user table holds a row
    bak = str(tmp_path / "before-downgrade.bak")
    r = runner.invoke(app, ["--db", empty_db, "db", "downgrade", "base", "--yes", "--backup", bak])
    assert r.exit_code == 0 and "base (empty)" in r.output, r.output


def test_patients_list_and_show(db: str, examples: Path) -> None:
    _load_examples(db, examples)
    r = runner.invoke(app, ["--db", db, "patients", "list", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["total"] == 3
    ex1 = next(p for p in data["patients"] if p["patient_id"] == "EX-001")
    assert (ex1["losses"], ex1["consecutive_losses"], ex1["biopsies"]) == (3, 3, 2)
    ex2 = next(p for p in data["patients"] if p["patient_id"] == "EX-002")
    assert (ex2["losses"], ex2["consecutive_losses"], ex2["live_births"]) == (2, 2, 1)

    r = runner.invoke(app, ["--db", db, "patient", "show", "EX-001", "--json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    events = [e["event"] for e in shown["timeline"]]
    assert events[:3] == ["pregnancy 1", "pregnancy 2", "pregnancy 3"]
    assert "biopsy EX-001-B1" in events and "intervention" in events
    dates = [e["date"] for e in shown["timeline"]]
    assert dates == sorted(dates)
    biopsy = next(e for e in shown["timeline"] if e["event"] == "biopsy EX-001-B1")
    assert "LH+8" in biopsy["details"] and "CFU 4/500" in biopsy["details"]
    assert "research use only" in shown["label"].lower()

    r = runner.invoke(app, ["--db", db, "patient", "show", "EX-001"])
    assert r.exit_code == 0 and "Timeline" in r.output


def test_unknown_patient_is_exit_1(db: str) -> None:
    r = runner.invoke(app, ["--db", db, "patient", "show", "NOPE"])
    assert r.exit_code == 1 and "no patient" in r.output


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_is_pseudonymous(
    db: str, examples: Path, tmp_path: Path, fmt: str, monkeypatch
) -> None:
    _load_examples(db, examples)
    out = tmp_path / "exp"
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", "k" * 32)
    r = runner.invoke(app, ["--db", db, "export", "--format", fmt, "-o", str(out)])
    assert r.exit_code == 0, r.output
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    patients = read(out / f"patients.{fmt}")
    # all three consented to research
    assert len(patients) == 3
    blob = "".join(p.read_bytes().decode("latin-1") for p in out.iterdir())
    for original in ("EX-001", "EX-002", "EX-003", "EX-001-B1"):
        assert original not in blob
    biopsies = read(out / f"biopsies.{fmt}")
    assert set(biopsies["patient"]) <= set(patients["patient"])
    assert sorted(biopsies["lh_day"]) == [7, 8, 8, 8]
    # same key, same pseudonyms; no key, different pseudonyms
    out2 = tmp_path / "exp2"
    runner.invoke(app, ["--db", db, "export", "--format", fmt, "-o", str(out2)])
    assert set(read(out2 / f"patients.{fmt}")["patient"]) == set(patients["patient"])
    monkeypatch.delenv("DECIDUA_EXPORT_KEY")
    out3 = tmp_path / "exp3"
    runner.invoke(app, ["--db", db, "export", "--format", fmt, "-o", str(out3)])
    assert not set(read(out3 / f"patients.{fmt}")["patient"]) & set(patients["patient"])


def test_export_shift_dates_keeps_intervals(
    db: str, examples: Path, tmp_path: Path, monkeypatch
) -> None:
    _load_examples(db, examples)
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", "s" * 32)
    plain, shifted = tmp_path / "plain", tmp_path / "shifted"
    assert runner.invoke(app, ["--db", db, "export", "-o", str(plain)]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "export", "--shift-dates", "-o", str(shifted)])
    assert r.exit_code == 0, r.output
    assert "shifted per woman" in (shifted / "README.txt").read_text()
    offsets: dict[str, set[int]] = {}
    for table, cols in {
        "pregnancies": ["outcome_date"],
        "investigations": ["date"],
        "biopsies": ["biopsy_date"],
        "interventions": ["start_date", "end_date"],
    }.items():
        a, b = pd.read_csv(plain / f"{table}.csv"), pd.read_csv(shifted / f"{table}.csv")
        assert len(a) == len(b) and list(a["patient"]) == list(b["patient"])
        if table == "biopsies":
            assert list(a["lh_day"]) == list(b["lh_day"])
        for col in cols:
            ok = a[col].notna()
            assert (b[col].notna() == ok).all()
            days = (pd.to_datetime(b[col][ok]) - pd.to_datetime(a[col][ok])).dt.days
            for patient, d in zip(a["patient"][ok], days, strict=True):
                offsets.setdefault(patient, set()).add(int(d))
    # one offset per woman, never zero, within the documented bound
    assert len(offsets) == 3
    for found in offsets.values():
        assert len(found) == 1
        (d,) = found
        assert d != 0 and abs(d) <= 182
    # no shifted year of birth gives the shift away: the age band at the index date
    pa, pb = pd.read_csv(plain / "patients.csv"), pd.read_csv(shifted / "patients.csv")
    assert "year_of_birth" not in pb.columns
    assert list(pa["age_band"]) == list(pb["age_band"])


def test_date_shift_is_keyed_bounded_and_spread() -> None:
    from decidua.io.export import date_shift

    shifts = [date_shift(f"W{i}", b"k" * 32) for i in range(4000)]
    assert 0 not in shifts and min(shifts) >= -182 and max(shifts) <= 182
    # both directions, most of the range used, roughly uniform
    assert min(shifts) <= -170 and max(shifts) >= 170
    assert 0.45 < sum(s > 0 for s in shifts) / len(shifts) < 0.55
    assert date_shift("W1", b"k" * 32) == shifts[1]
    assert sum(date_shift(f"W{i}", b"j" * 32) == shifts[i] for i in range(4000)) < 100
    with pytest.raises(ValueError):
        date_shift("W1", b"k", max_days=0)


def test_export_respects_consent(db: str, examples: Path, tmp_path: Path) -> None:
    p = examples / "patients.csv"
    p.write_text(p.read_text().replace("EX-002,1985,31.0,,rpl,yes", "EX-002,1985,31.0,,rpl,no"))
    _load_examples(db, examples)
    out = tmp_path / "e"
    assert runner.invoke(app, ["--db", db, "export", "-o", str(out)]).exit_code == 0
    assert len(pd.read_csv(out / "patients.csv")) == 2
    assert len(pd.read_csv(out / "pregnancies.csv")) == 4
    r = runner.invoke(app, ["--db", db, "export", "--format", "xml", "-o", str(out)])
    assert r.exit_code == 1


def test_demo_loads_bundled_cohort_through_importers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    r = runner.invoke(app, ["demo", "--database", url])
    assert r.exit_code == 0, r.output
    assert "SYNTHETIC" in r.output
    n_patients = len(pd.read_csv(demo_dir() / "patients.csv"))
    n_biopsies = len(pd.read_csv(demo_dir() / "biopsies.csv"))
    r = runner.invoke(app, ["--db", url, "patients", "list", "--json", "--limit", "0"])
    data = json.loads(r.output)
    assert data["total"] == n_patients >= 350
    assert sum(p["biopsies"] for p in data["patients"]) == n_biopsies
    rpl = [p for p in data["patients"] if p["study_group"] == "rpl"]
    assert len(rpl) >= 300


def test_users_are_created_audited_and_deactivated(db: str, snap) -> None:
    r = runner.invoke(app, ["--db", db, "users", "add", "asha", "--role", "scientist"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", db, "users", "add", "asha", "--role", "admin"])
    assert r.exit_code == 1 and "exists" in r.output
    r = runner.invoke(app, ["--db", db, "users", "add", "bob", "--role", "wizard"])
    assert r.exit_code == 1 and "unknown role" in r.output
    r = runner.invoke(app, ["--db", db, "users", "deactivate", "asha"])
    assert r.exit_code == 0
    users = json.loads(runner.invoke(app, ["--db", db, "users", "list", "--json"]).output)
    assert {"username": "asha", "role": "scientist", "active": False, "name": None} in users
    audit = snap(db)["audit"]
    assert [(a[1], a[2]) for a in audit] == [("create", "app_user"), ("update", "app_user")]
