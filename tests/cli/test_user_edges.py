"""Edge cases a new user hits on the command line, each once reported as a bug
(a silent empty answer, a misleading message or a wrong display)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import load_examples
from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()


def _load_examples(db: str, examples: Path) -> None:
    load_examples(db, examples, runner)


def test_patients_list_group_is_a_checked_case_insensitive_code(db: str, examples: Path) -> None:
    _load_examples(db, examples)
    r = runner.invoke(app, ["--db", db, "patients", "list", "--group", "RPL", "--json"])
    assert r.exit_code == 0, r.output
    assert {p["patient_id"] for p in json.loads(r.output)["patients"]} == {"EX-001", "EX-002"}
    r = runner.invoke(app, ["--db", db, "patients", "list", "--group", "rpll"])
    assert r.exit_code == 1
    assert "'rpll'" in r.output and "rpl, control, other" in r.output


def test_patients_list_refuses_a_negative_limit(db: str) -> None:
    r = runner.invoke(app, ["--db", db, "patients", "list", "--limit", "-1"])
    assert r.exit_code == 1 and "--limit" in r.output


def test_biopsy_show_without_lh_surge_date_says_so(db: str, tmp_path: Path) -> None:
    pat, bio = tmp_path / "patients.csv", tmp_path / "biopsies.csv"
    pat.write_text("patient_id,year_of_birth\nQA-1,1990\n")
    bio.write_text("biopsy_id,patient_id,biopsy_date\nQA-1-B1,QA-1,2024-01-10\n")
    for kind, f in (("patients", pat), ("biopsies", bio)):
        assert runner.invoke(app, ["--db", db, "import", kind, str(f)]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "biopsy", "show", "QA-1-B1"])
    assert r.exit_code == 0, r.output
    assert "LH day unknown" in r.output and "None" not in r.output


def test_output_path_errors_name_the_option_the_user_typed(db: str, tmp_path: Path) -> None:
    # `report … -o/--output`: the message named a `--out` option that does not exist
    r = runner.invoke(app, ["--db", db, "report", "cohort", "-o", str(tmp_path)])
    assert r.exit_code == 1 and "'--output'" in r.output and "'--out'" not in r.output
    # `export -o/--out` keeps its own name
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = runner.invoke(app, ["--db", db, "export", "-o", str(f)])
    assert r.exit_code == 1 and "'--out'" in r.output


def test_unknown_import_kind_lists_every_kind_the_help_lists(db: str, tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    r = runner.invoke(app, ["--db", db, "import", "qcpr", str(f)])
    assert r.exit_code == 1 and "unknown import kind 'qcpr'" in r.output
    for kind in ("patients", "cfu", "unk", "sabgal", "qpcr", "elisa"):
        assert kind in r.output


def test_report_on_day_in_the_future_or_before_1900_is_refused_as_such(
        db: str, examples: Path, tmp_path: Path) -> None:
    _load_examples(db, examples)
    for day in ("2099-01-01", "1800-01-01"):
        r = runner.invoke(app, ["--db", db, "report", "patient", "EX-001", "-o",
                                str(tmp_path / "r.html"), "--on", day])
        assert r.exit_code == 1 and "'--on'" in r.output and "future" in r.output, r.output
        assert "age must be" not in r.output
    assert not (tmp_path / "r.html").exists()


def test_age_outside_the_risk_model_names_the_woman_and_the_day(
        db: str, tmp_path: Path) -> None:
    """An importable year of birth (1920 ...) can give an age the risk model refuses: the
    message said only "column 'age': age must be between 12 and 60 years (value 106.4)"."""
    pat = tmp_path / "patients.csv"
    pat.write_text("patient_id,year_of_birth\nQA-OLD,1930\n")
    assert runner.invoke(app, ["--db", db, "import", "patients", str(pat)]).exit_code == 0
    for args in (["risk", "patient", "QA-OLD"],
                 ["report", "patient", "QA-OLD", "-o", str(tmp_path / "old.html")],
                 ["report", "patient", "QA-OLD", "-o", str(tmp_path / "old.html"),
                  "--on", "1935-06-01"]):
        r = runner.invoke(app, ["--db", db, *args])
        assert r.exit_code == 1, r.output
        assert "QA-OLD: her age on" in r.output and "(12-60 years)" in r.output, r.output
        assert "1930" not in r.output  # the web shows this text to researchers too
    r = runner.invoke(app, ["--db", db, "report", "patient", "QA-OLD", "-o",
                            str(tmp_path / "ok.html"), "--on", "1970-06-01"])
    assert r.exit_code == 0, r.output


def test_report_of_a_woman_with_nothing_recorded_prints_no_plotting_warning(
        db: str, tmp_path: Path) -> None:
    """A new woman (no pregnancy, biopsy or treatment yet): matplotlib's "No artists with
    labels found to put in legend" reached the user as a warning line."""
    pat = tmp_path / "patients.csv"
    pat.write_text("patient_id,year_of_birth\nQA-NEW,1990\n")
    assert runner.invoke(app, ["--db", db, "import", "patients", str(pat)]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "report", "patient", "QA-NEW", "-o",
                            str(tmp_path / "new.html")])
    assert r.exit_code == 0, r.output
    assert "Warning" not in r.output and "legend" not in r.output, r.output


def test_the_last_active_admin_cannot_deactivate_themselves(db: str) -> None:
    """Deactivating the only admin locked everyone out: every command then refused the
    deactivated user, no command reactivates a user, and the bootstrap needs no users."""
    users = json.loads(runner.invoke(app, ["--db", db, "users", "list", "--json"]).output)
    admins = [u["username"] for u in users if u["role"] == "admin" and u["active"]]
    assert len(admins) == 1
    r = runner.invoke(app, ["--db", db, "users", "deactivate", admins[0]])
    assert r.exit_code == 1 and "only active admin" in r.output, r.output
    r = runner.invoke(app, ["--db", db, "users", "list", "--json"])
    assert r.exit_code == 0 and {u["username"]: u["active"] for u in
                                 json.loads(r.output)}[admins[0]] is True
    # with two active admins either may go
    assert runner.invoke(app, ["--db", db, "users", "add", "second", "--role",
                               "admin"]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "users", "deactivate", "second"])
    assert r.exit_code == 0, r.output


def test_patient_timeline_counts_repeated_results_instead_of_listing_each(
        db: str, examples: Path) -> None:
    """Ten uNK fields showed as "unk result; unk result; ..." ten times."""
    _load_examples(db, examples)
    assert runner.invoke(app, ["--db", db, "import", "unk",
                               str(examples / "unk.csv")]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "patient", "show", "EX-001", "--json"])
    b1 = next(e for e in json.loads(r.output)["timeline"] if e["event"] == "biopsy EX-001-B1")
    n = sum(1 for line in (examples / "unk.csv").read_text().splitlines()[1:]
            if line.startswith("EX-001-B1,"))
    assert n > 1 and f"unk results ({n})" in b1["details"], b1["details"]
    assert b1["details"].count("unk result") == 1 and "CFU 4/500" in b1["details"]


def test_import_of_an_unsupported_file_type_suggests_only_what_imports_read(
        db: str, tmp_path: Path) -> None:
    """A .json import was told to "use .csv, .tsv, .xlsx or .parquet"; a .parquet import is
    then refused ("use .csv or .xlsx")."""
    for name in ("patients.json", "patients.parquet"):
        f = tmp_path / name
        f.write_text('{"patient_id": "X"}')
        r = runner.invoke(app, ["--db", db, "import", "patients", str(f)])
        assert r.exit_code == 1 and "unsupported file type" in r.output, r.output
        assert "use .csv, .tsv or .xlsx" in r.output


def test_decidualization_course_errors_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "cultures.csv"
    f.write_text("culture,marker,day\nc1,PRL,0\n")
    r = runner.invoke(app, ["decidualization", "course", str(f)])
    assert r.exit_code == 1 and f"{f}: time course table needs" in r.output, r.output
    f.write_text("culture,marker,day,value\nc1,PRL,0,1\nc1,PRL,two,3\n")
    r = runner.invoke(app, ["decidualization", "course", str(f)])
    assert r.exit_code == 1 and f"{f}, row 3, column 'day'" in r.output, r.output


def test_import_off_a_terminal_writes_nothing_to_stderr(tmp_path: Path, examples: Path) -> None:
    """The (transient) progress bar left a blank line on stderr, before every error too."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "DECIDUA_USER": "qa-admin",
           "DECIDUA_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite'}"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from decidua.cli import main; main()",
                               *args], env=env,
                              capture_output=True, text=True, timeout=120)

    assert run("db", "upgrade").returncode == 0
    assert run("users", "add", "qa-admin", "--role", "admin").returncode == 0
    r = run("import", "patients", str(examples / "patients.csv"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,year_of_birth\nQA-1,19x0\n")
    r = run("import", "patients", str(bad))
    assert r.returncode == 1 and r.stderr.startswith("Error:"), repr(r.stderr)


def test_serve_refuses_a_port_outside_1_65535_before_starting(db: str) -> None:
    """`serve --port 99999` ended in a Python traceback (OverflowError in bind)."""
    for port in ("99999", "0", "-1"):
        r = runner.invoke(app, ["--db", db, "serve", "--port", port])
        assert r.exit_code == 1 and "--port must be 1-65535" in r.output, r.output
        assert "Decidua web application on" not in r.output


def test_import_refuses_options_of_another_kind_instead_of_ignoring_them(
        db: str, examples: Path, tmp_path: Path) -> None:
    """`import qpcr … --update` / `import patients … --biopsy-map` ran, the option unused."""
    f = tmp_path / "plate.csv"
    f.write_text("well,sample,target,cq\nA1,S1,RPL19,20\n")
    r = runner.invoke(app, ["--db", db, "import", "qpcr", str(f), "--biopsy-map", str(f),
                            "--update"])
    assert r.exit_code == 1 and "--update does not apply to import qpcr" in r.output, r.output
    r = runner.invoke(app, ["--db", db, "import", "patients", str(examples / "patients.csv"),
                            "--biopsy-map", str(f), "--analyte", "PRL"])
    assert r.exit_code == 1, r.output
    assert "--biopsy-map, --analyte do not apply to import patients" in r.output
    r = runner.invoke(app, ["--db", db, "patients", "list", "--json"])
    assert json.loads(r.output)["total"] == 0  # nothing imported


def test_timing_centiles_refuses_to_score_outside_the_cohort_times(tmp_path: Path) -> None:
    """A value at LH+99 (or -4) got a centile from the splines far beyond their data."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    cohort = tmp_path / "cohort.csv"
    pd.DataFrame({"estimated_lh_day": rng.uniform(5, 12, 80),
                  "unk_pct": rng.uniform(1, 20, 80)}).to_csv(cohort, index=False)
    new = tmp_path / "new.csv"
    new.write_text("ID,estimated_lh_day,unk_pct\nn1,7,5\nn2,99,5\nn3,-4,5\n")
    r = runner.invoke(app, ["timing", "centiles", str(cohort), "--marker", "unk_pct",
                            "--score", str(new), "--json"])
    assert r.exit_code == 1, r.output
    assert "row 3, column 'estimated_lh_day': cycle time 99" in r.output
    assert "row 4, column 'estimated_lh_day': cycle time -4" in r.output
    new.write_text("ID,estimated_lh_day,unk_pct\nn1,7,5\n")
    r = runner.invoke(app, ["timing", "centiles", str(cohort), "--marker", "unk_pct",
                            "--score", str(new), "--json"])
    assert r.exit_code == 0 and 0 < json.loads(r.stdout)["scores"][0]["centile"] < 1


def test_reference_fit_of_an_unknown_marker_names_the_stored_ones(
        db: str, examples: Path) -> None:
    """A typo ('cfu_pc') said "0 reference values; at least 30 are needed"."""
    _load_examples(db, examples)
    r = runner.invoke(app, ["--db", db, "reference", "fit", "cfu_pc"])
    assert r.exit_code == 1, r.output
    assert "no stored results of marker 'cfu_pc'" in r.output and "cfu_pct" in r.output
    r = runner.invoke(app, ["--db", db, "reference", "fit", "cfu_pct"])
    assert r.exit_code == 1 and "at least 30" in r.output  # known marker, too few values


def test_demo_refuses_a_database_that_holds_records(db: str, examples: Path) -> None:
    """`demo --database URL` of a clinic database loaded 370 synthetic women among the
    real ones (nothing tells them apart afterwards)."""
    _load_examples(db, examples)
    r = runner.invoke(app, ["demo", "--database", db])
    assert r.exit_code == 1 and "already holds 3 patient(s)" in r.output, r.output
    r = runner.invoke(app, ["--db", db, "patients", "list", "--json"])
    assert json.loads(r.output)["total"] == 3


def test_no_schema_on_the_default_database_points_at_the_demo_one(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Right after `make demo`, `decidua report patient DEC-0003 -o x.pdf` (as the README
    shows it) said only "run `decidua db upgrade`": the demo is var/demo.sqlite."""
    monkeypatch.delenv("DECIDUA_DATABASE_URL", raising=False)
    monkeypatch.setenv("DECIDUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DECIDUA_USER", "qa")
    r = runner.invoke(app, ["patients", "list"])
    assert r.exit_code == 1 and "db upgrade" in r.output and "demo" not in r.output
    (tmp_path / "demo.sqlite").write_bytes(b"")  # `make demo` wrote one
    r = runner.invoke(app, ["patients", "list"])
    assert r.exit_code == 1 and "db upgrade" in r.output, r.output
    assert f"--db sqlite:///{tmp_path / 'demo.sqlite'}" in r.output


def test_read_only_commands_read_the_demo_until_a_clinic_database_exists(
        demo_db: str, tmp_path: Path, examples: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: `decidua report patient ID -o FILE.pdf` works right after `make demo`
    (which writes var/demo.sqlite, not the default var/decidua.sqlite). Read-only commands
    read the demo and say so on stderr; writes never land among the synthetic women; once
    `db upgrade` has made the default database, it is the one read."""
    from decidua.store.session import dispose_engines

    data = tmp_path / "var"
    data.mkdir()
    (data / "demo.sqlite").write_bytes(Path(demo_db.removeprefix("sqlite:///")).read_bytes())
    monkeypatch.delenv("DECIDUA_DATABASE_URL", raising=False)
    monkeypatch.setenv("DECIDUA_DATA_DIR", str(data))
    monkeypatch.setenv("DECIDUA_USER", "tester")
    r = runner.invoke(app, ["patients", "list", "--json", "--limit", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total"] == 370  # stdout stays one JSON document
    assert "Reading the demo database" in r.stderr and "db upgrade" in r.stderr
    out = tmp_path / "dec-0003.pdf"
    r = runner.invoke(app, ["report", "patient", "DEC-0003", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF")
    # a write is refused on the default database, and the demo is untouched
    r = runner.invoke(app, ["import", "patients", str(examples / "patients.csv")])
    assert r.exit_code == 1 and "db upgrade" in r.output, r.output
    r = runner.invoke(app, ["patients", "list", "--json", "--limit", "1"])
    assert json.loads(r.stdout)["total"] == 370
    # once the clinic database exists, it is the default again (and no note)
    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "add", "tester", "--role", "admin"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["patients", "list", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total"] == 0 and "demo" not in r.stderr
    dispose_engines()
