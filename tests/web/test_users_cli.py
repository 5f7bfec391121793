"""`decidua users add --password-stdin`, `users set-password` and `decidua serve --help`."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from web_helpers import login

from decidua.cli import app as cli
from decidua.store import models as m
from decidua.store.session import session_scope
from decidua.web import create_app

runner = CliRunner()


def _hash(url: str, name: str) -> str | None:
    with session_scope(url) as s:
        return s.scalar(select(m.User.password_hash).where(m.User.username == name))


def test_users_add_never_waits_and_gives_no_web_login_without_a_password(db: str) -> None:
    r = runner.invoke(cli, ["--db", db, "users", "add", "asha", "--role", "clinician"])
    assert r.exit_code == 0, r.output
    assert "no web login until `decidua users set-password asha`" in r.output
    assert _hash(db, "asha") is None
    c = TestClient(create_app(db, secret="k"), follow_redirects=False)
    assert login(c, "asha", "").status_code == 401


def test_password_stdin_sets_an_argon2_hash_that_logs_in(db: str) -> None:
    r = runner.invoke(cli, ["--db", db, "users", "add", "bo", "--role", "admin",
                            "--password-stdin"], input="a long pass phrase\n")
    assert r.exit_code == 0, r.output
    h = _hash(db, "bo")
    assert h.startswith("$argon2id$") and "a long pass phrase" not in h
    c = TestClient(create_app(db, secret="k"), follow_redirects=False)
    assert login(c, "bo", "a long pass phrase").status_code == 303
    assert login(TestClient(c.app, follow_redirects=False), "bo", "a long pass phrasE"
                 ).status_code == 401
    with session_scope(db) as s:  # audited, without the hash
        ev = s.scalars(select(m.AuditEvent).where(m.AuditEvent.entity == "app_user")
                       .order_by(m.AuditEvent.id.desc())).first()
        assert ev.after == {"web_password": "set"} and ev.actor == "tester"


def test_set_password_from_stdin_and_short_or_empty_passwords(db: str) -> None:
    runner.invoke(cli, ["--db", db, "users", "add", "cy", "--role", "scientist"])
    r = runner.invoke(cli, ["--db", db, "users", "set-password", "cy"], input="short\n")
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    r = runner.invoke(cli, ["--db", db, "users", "add", "dd", "--role", "scientist",
                            "--password-stdin"], input="")
    assert r.exit_code == 1 and "no password" in r.output
    r = runner.invoke(cli, ["--db", db, "users", "set-password", "cy"], input="ten chars!!\n")
    assert r.exit_code == 0, r.output
    assert _hash(db, "cy").startswith("$argon2")
    r = runner.invoke(cli, ["--db", db, "users", "set-password", "nobody"], input="ten chars!!\n")
    assert r.exit_code == 1 and "no user" in r.output


def test_serve_help_says_sqlite_runs_one_worker() -> None:
    r = runner.invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "--workers" in text and "SQLite" in text and "one worker" in text


def test_serve_refuses_several_workers_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from decidua.store import migrate

    db = f"sqlite:///{tmp_path / 'one.sqlite'}"  # SQLite only: on PostgreSQL it would start
    migrate.upgrade(db)
    with session_scope(db) as s:
        s.add(m.User(username="tester", role="admin", active=True))
    r = runner.invoke(cli, ["--db", db, "serve", "--workers", "2"])
    assert r.exit_code == 1 and "SQLite runs one worker" in r.output
