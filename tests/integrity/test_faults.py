"""Fault injection (issue #11, acceptance): kill -9 mid-import, a full disk.

Each case runs the real ``decidua`` CLI in a child process:

- ``kill -9`` while an import holds its write lock (seen on PostgreSQL as the
  table lock in ``pg_locks``, on SQLite as the write-ahead log growing), then
  an integrity check (``PRAGMA integrity_check``; PostgreSQL: nothing of the
  import is visible) and a re-run that imports every row;
- a full disk, simulated for the child alone by a file-size limit
  (``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored, so writes past the limit fail
  with ``EFBIG`` as they would with ``ENOSPC``): the import and the export end
  with exit 1 and a message, and leave no partial rows or files; on
  PostgreSQL the patient table is moved to a tablespace on a 1 MB tmpfs
  (when the tests run as root beside the server; skipped otherwise).

The synthetic import files are generated here (ids ``F-00000``…, fixed years
and BMI), large enough for the import to last a moment.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from decidua.store import models as m
from decidua.store.session import dispose_engines, session_scope

SRC = Path(__file__).resolve().parents[2] / "src"
CLI = "import sys; from decidua.cli import main; sys.argv = ['decidua', *sys.argv[1:]]; main()"


def _patients(path: Path, n: int) -> Path:
    lines = ["patient_id,year_of_birth,bmi,study_group,consent_research"]
    lines += [f"F-{i:05d},{1970 + i % 30},{18 + i % 20}.5,rpl,yes" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ, "PYTHONPATH": str(SRC), "DECIDUA_USER": "tester",
        "DECIDUA_DATA_DIR": str(tmp_path / "var"), "DECIDUA_DATABASE_URL": "",
        "DECIDUA_EXPORT_KEY": "k" * 32,
    }  # fmt: skip


def _count(db: str, entity=m.Patient) -> int:  # type: ignore[no-untyped-def]
    dispose_engines()
    with session_scope(db) as s:
        return int(s.scalar(select(func.count()).select_from(entity)) or 0)


def _holds_import_lock(db: str, wal: Path | None) -> bool:
    if wal is not None:
        return wal.exists() and wal.stat().st_size > 64 * 1024
    eng = create_engine(db)
    try:
        with eng.connect() as c:
            return bool(
                c.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_class t ON l.relation = t.oid "
                        "WHERE t.relname = 'patient' AND l.mode = 'ShareRowExclusiveLock'"
                    )
                ).scalar()
            )
    finally:
        eng.dispose()


def test_kill_9_mid_import_leaves_nothing_and_a_rerun_imports_all(
    db: str, tmp_path: Path
) -> None:
    f = _patients(tmp_path / "big.csv", 10_000)
    args = [sys.executable, "-c", CLI, "--db", db, "import", "patients", str(f)]
    wal = Path(db.split("///", 1)[1] + "-wal") if db.startswith("sqlite") else None
    child = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _holds_import_lock(db, wal):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the import never took its lock"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    if wal is not None:
        con = sqlite3.connect(db.split("///", 1)[1])
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    assert _count(db) == 0 and _count(db, m.ImportRun) == 0 and _count(db, m.AuditEvent) == 0
    done = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _count(db) == 10_000 and _count(db, m.ImportRun) == 1


def _limited(limit_bytes: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def _sqlite_only(db: str) -> Path:
    if not db.startswith("sqlite"):
        pytest.skip("the file-size limit applies to the client process: SQLite only")
    return Path(db.split("///", 1)[1])


def test_full_disk_during_an_import(db: str, tmp_path: Path) -> None:
    path = _sqlite_only(db)
    f = _patients(tmp_path / "p.csv", 5_000)
    args = [sys.executable, "-c", CLI, "--db", db, "import", "patients", str(f)]
    done = subprocess.run(
        args, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
        preexec_fn=_limited(path.stat().st_size + 48 * 1024),
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "nothing was written" in done.stderr
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert _count(db) == 0
    again = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert _count(db) == 5_000


def test_full_disk_during_an_export_leaves_no_file(db: str, tmp_path: Path) -> None:
    _sqlite_only(db)
    f = _patients(tmp_path / "p.csv", 2_500)
    env = _env(tmp_path)
    base = [sys.executable, "-c", CLI, "--db", db]
    ok = subprocess.run([*base, "import", "patients", str(f)], env=env, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    out = tmp_path / "exports" / "e"
    out.parent.mkdir()
    done = subprocess.run(
        [*base, "export", "-o", str(out)], env=env, capture_output=True, text=True,
        timeout=120, preexec_fn=_limited(64 * 1024),
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "nothing was written" in done.stderr
    assert list(out.parent.iterdir()) == []  # no export folder, no temporary folder
    fine = subprocess.run([*base, "export", "-o", str(out)], env=env, capture_output=True)
    assert fine.returncode == 0, fine.stderr
    assert sum(1 for _ in (out / "patients.csv").open()) == 2_501


def test_full_disk_on_postgresql_tablespace(db: str, tmp_path: Path) -> None:
    """PostgreSQL: the patient table on a 1 MB tmpfs tablespace (needs root and a local server)."""
    if db.startswith("sqlite"):
        pytest.skip("PostgreSQL tablespace")
    import pwd
    import uuid

    from sqlalchemy.engine import make_url

    host = make_url(db).host or "localhost"
    if os.geteuid() != 0 or host not in ("127.0.0.1", "localhost", "::1"):
        pytest.skip("needs root (to mount a tmpfs) and a PostgreSQL server on this machine")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres OS user to own the tablespace folder")
    import tempfile

    # beside /tmp, not under pytest's folder: the server's OS user must reach it
    mnt = Path(tempfile.mkdtemp(prefix="decidua-tablespace-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        mnt.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    name = f"decidua_small_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db, isolation_level="AUTOCOMMIT")
    try:
        os.chown(mnt, owner.pw_uid, owner.pw_gid)
        with admin.connect() as c:
            c.execute(text(f"CREATE TABLESPACE {name} LOCATION '{mnt}'"))
            c.execute(text(f"ALTER TABLE patient SET TABLESPACE {name}"))
        f = _patients(tmp_path / "p.csv", 20_000)
        done = subprocess.run(
            [sys.executable, "-c", CLI, "--db", db, "import", "patients", str(f)],
            env=_env(tmp_path), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "full" in done.stderr and "nothing was written" in done.stderr
        assert _count(db) == 0 and _count(db, m.ImportRun) == 0
    finally:
        dispose_engines()
        with admin.connect() as c:
            c.execute(text("ALTER TABLE patient SET TABLESPACE pg_default"))
            c.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
        admin.dispose()
        subprocess.run(["umount", str(mnt)], capture_output=True)
        mnt.rmdir()
