"""Failures a user meets end in exit 1 and a message naming the problem (issue #11, 11-12).

Real databases (SQLite; PostgreSQL when configured), real files; the CLI is
run in-process with Typer's runner, whose result keeps any exception: a
traceback would show as ``result.exception`` other than ``SystemExit``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from decidua.cli import app
from decidua.store import session as store_session

runner = CliRunner()


def _clean_exit_1(r, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, (w, r.output)


def test_locked_database_after_the_timeout(
    db: str, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_session, "LOCK_TIMEOUT_S", 1)
    store_session.dispose_engines()  # new connections get the short timeout
    holder = create_engine(db)
    conn = holder.connect()
    try:
        if db.startswith("sqlite"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("BEGIN"))
            conn.execute(text("LOCK TABLE patient IN ACCESS EXCLUSIVE MODE"))
        r = runner.invoke(app, ["--db", db, "import", "patients", str(examples / "patients.csv")])
    finally:
        conn.rollback()
        conn.close()
        holder.dispose()
    _clean_exit_1(r, "busy", "nothing was written")


def test_read_only_database(db: str, examples: Path, tmp_path: Path) -> None:
    if db.startswith("sqlite"):
        path = db.split("///", 1)[1]
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        eng = create_engine(db, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            name = c.execute(text("SELECT current_database()")).scalar()
            c.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        eng.dispose()
        store_session.dispose_engines()
        url = db
    r = runner.invoke(app, ["--db", url, "import", "patients", str(examples / "patients.csv")])
    _clean_exit_1(r, "read-only")
    r = runner.invoke(app, ["--db", url, "patients", "list"])  # reading still works
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    "args",
    [
        ["risk", "patient", "X-1"],
        ["risk", "history", "X-1"],
        ["pathway", "patient", "X-1"],
        ["patients", "list"],
        ["patient", "show", "X-1"],
        ["import", "patients", "f.csv"],
    ],
)
def test_missing_schema(empty_db: str, args: list[str]) -> None:
    r = runner.invoke(app, ["--db", empty_db, *args])
    _clean_exit_1(r, "db upgrade")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql+nosuchdriver://u:s3cret@h/db", "unsupported database URL"),
        ("not a url at all", "not a database URL"),
        ("postgresql://u:s3cret@127.0.0.1:1/x", "cannot open or reach the database"),
        ("sqlite:////proc/no/such/dir/x.sqlite", ""),
    ],
)
def test_bad_or_unreachable_database_url_never_prints_the_password(
    url: str, words: str
) -> None:
    r = runner.invoke(app, ["--db", url, "patients", "list"])
    _clean_exit_1(r, words)
    assert "s3cret" not in r.output


def test_output_path_problems_are_found_before_any_work(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    huge = tmp_path / "never-read.csv"  # does not exist: the output is checked first
    for args, words in [
        (["timing", "fit", str(huge), "-o", str(a_file)], "exists and is a file"),
        (["methylation", "summarize", str(huge), "-o", str(tmp_path)], "is a folder"),
        (["export", "-o", str(a_file)], "exists and is a file"),
        (["methylation", "summarize", str(huge), "-o", str(a_file / "x.tsv")], "is a file"),
    ]:
        r = runner.invoke(app, args)
        _clean_exit_1(r, words, "--out")


def test_implausible_risk_inputs_are_refused() -> None:
    r = runner.invoke(app, ["risk", "predict", "--age", "30", "--losses", "1000"])
    _clean_exit_1(r, "--losses", "not a plausible count", "at most 20")
    r = runner.invoke(app, ["risk", "predict", "--age", "30", "--losses", "20", "--json"])
    assert r.exit_code == 0, r.output


def test_impossible_delta_ct_and_empty_id_are_refused_on_placement(tmp_path: Path) -> None:
    genes = "CXCL14,DPP4,GPX3,IGFBP1,IL2RB,SLC15A2"
    ok = "0.2,7.6,2.3,7.5,6.2,10.9"
    f = tmp_path / "b.csv"
    f.write_text(f"ID,{genes}\nB1,1e300,7.6,2.3,7.5,6.2,10.9\n,{ok}\nB3,{ok}\n")
    r = runner.invoke(app, ["timing", "place", "default", str(f), "--json"])
    _clean_exit_1(r, "row 2, column 'CXCL14'", "impossible", "row 3, column 'ID'", "empty")
    f.write_text(f"ID,{genes}\nB1,{ok}\nB3,{ok}\n")
    r = runner.invoke(app, ["timing", "place", "default", str(f), "--json"])
    assert r.exit_code == 0, r.output
    assert '"nan"' not in r.output


def test_concurrent_sqlite_reader_sees_no_partial_import(db: str, examples: Path) -> None:
    """While an import holds the write lock, readers see the state before it (WAL)."""
    if not db.startswith("sqlite"):
        pytest.skip("SQLite WAL reader isolation")
    path = db.split("///", 1)[1]
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        con = sqlite3.connect(path)
        while not done.is_set():
            seen.append(con.execute("SELECT count(*) FROM patient").fetchone()[0])
        con.close()

    t = threading.Thread(target=reader)
    t.start()
    try:
        r = runner.invoke(app, ["--db", db, "import", "patients", str(examples / "patients.csv")])
    finally:
        done.set()
        t.join(10)
    assert r.exit_code == 0, r.output
    assert set(seen) <= {0, 3}
