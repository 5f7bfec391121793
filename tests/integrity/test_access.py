"""Authorisation, generated from the role table (issue #11, item 10).

Every command x every role x active / deactivated / unknown user, on real
SQLite and PostgreSQL databases: through :func:`decidua.services.access.authorize`
for the whole matrix, and through the CLI for every refusal (exit 1, the
database unchanged). A hand-written table of the issue's own cases checks the
role table itself, independently of how it is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.cli import COMMANDS, app, load_command
from decidua.services import access
from decidua.store import models as m
from decidua.store.session import session_scope

runner = CliRunner()
ROLES = sorted(access.ALL_ROLES)

# command -> (argv after the command, parsed params that matter) variants
SAMPLES: dict[str, list[tuple[list[str], dict]]] = {
    "db upgrade": [([], {})],
    "db downgrade": [(["base"], {"revision": "base"})],
    "db current": [([], {})],
    "db backup": [(["b.sqlite"], {})],
    "db restore": [(["b.sqlite"], {})],
    "demo": [(["--database", "{db}"], {"database": "{db}"})],
    "import": [
        (["patients", "f.csv"], {"kind": "patients"}),
        (["biopsies", "f.csv"], {"kind": "biopsies"}),
        (["cfu", "f.csv"], {"kind": "cfu"}),
        (["qpcr", "f.csv"], {"kind": "qpcr"}),
        (["elisa", "f.csv"], {"kind": "elisa"}),
    ],
    "patients list": [([], {})],
    "patient show": [(["X-1"], {})],
    "patient monitor": [(["X-1"], {})],
    "biopsy show": [(["B-1"], {})],
    "biopsy analyse": [(["B-1"], {})],
    "decidualization biopsy": [(["B-1"], {"save": False}), (["B-1", "--save"], {"save": True})],
    "reference fit": [(["cfu_pct"], {})],
    "users add": [
        (["zz", "--role", "researcher"], {"role": "researcher"}),
        (["zz", "--role", "admin"], {"role": "admin"}),
    ],
    "users list": [([], {})],
    "users deactivate": [(["zz"], {})],
    "users set-password": [(["zz"], {})],
    "serve": [([], {})],
    "risk patient": [(["X-1"], {"save": False}), (["X-1", "--save"], {"save": True})],
    "risk history": [(["X-1"], {})],
    "pathway patient": [(["X-1"], {})],
    "report patient": [(["X-1", "-o", "r.pdf"], {"pseudonymise": False}),
                       (["X-1", "-o", "r.pdf", "--pseudonymise"], {"pseudonymise": True})],
    "report biopsy": [(["B-1", "-o", "r.pdf"], {})],
    "report cohort": [(["-o", "c.html"], {})],
    "trial analyse": [(["cfu"], {})],
    "biopsy sign": [(["B-1"], {})],
    "export": [
        (["-o", "out"], {"include_non_consented": False}),
        (["-o", "out", "--include-non-consented"], {"include_non_consented": True}),
    ],
}


def _leaves(cmd, path: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    sub = getattr(cmd, "commands", None)
    if sub:
        return [leaf for n, c in sub.items() for leaf in _leaves(c, [*path, n])]
    return [" ".join(path)]


CLI_COMMANDS = sorted(leaf for n in COMMANDS for leaf in _leaves(load_command(n), [n]))


def test_every_cli_command_is_in_the_role_table() -> None:
    missing = [c for c in CLI_COMMANDS if access.rule_for(c) is None]
    assert missing == []
    # commands that touch a database are sampled below (file-only ones need no user)
    db_commands = [c for c in CLI_COMMANDS if access.needs_database(c)]
    assert sorted(set(db_commands) - set(SAMPLES)) == []


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        # the issue's own words, written out independently of the table
        ("risk predict", {}, {"none", *ROLES}),
        ("timing place", {}, {"none", *ROLES}),
        ("cfu count", {}, {"none", *ROLES}),
        ("methylation summarize", {}, {"none", *ROLES}),
        ("qpcr quantify", {}, {"none", *ROLES}),
        ("elisa fit", {}, {"none", *ROLES}),
        ("db downgrade", {}, {"admin"}),
        ("db backup", {}, {"admin"}),
        ("trial analyse", {}, {"admin", "researcher"}),
        ("users add", {"role": "admin"}, {"admin"}),
        ("users deactivate", {}, {"admin"}),
        ("export", {"include_non_consented": True}, {"admin"}),
        ("export", {"include_non_consented": False}, {"admin", "researcher"}),
        ("import", {"kind": "patients"}, {"admin", "clinician"}),
        ("import", {"kind": "cfu"}, {"admin", "scientist"}),
        ("import", {"kind": "qpcr"}, {"admin", "scientist"}),
        ("import", {"kind": "elisa"}, {"admin", "scientist"}),
        ("unk count", {}, {"none", *ROLES}),
        ("decidualization course", {}, {"none", *ROLES}),
        ("decidualization biopsy", {"save": False}, set(ROLES)),
        ("decidualization biopsy", {"save": True}, {"admin", "scientist"}),
        ("risk patient", {"save": True}, {"admin", "clinician"}),
        ("risk history", {}, set(ROLES)),
        ("patients list", {}, set(ROLES)),
        ("report patient", {"pseudonymise": False}, {"admin", "clinician"}),
        ("report patient", {"pseudonymise": True}, {"admin", "clinician", "researcher"}),
        ("report biopsy", {}, {"admin", "clinician", "scientist"}),
        ("biopsy sign", {}, {"admin", "scientist"}),
        ("report cohort", {}, {"admin", "researcher"}),
        ("some future command", {}, {"admin"}),
    ],
)
def test_role_table_says_what_the_issue_says(command: str, params: dict, expected: set) -> None:
    got = {r for r in ROLES if access.allowed(r, command, params)}
    if access.allowed(None, command, params):
        got.add("none")
    assert got == expected


@pytest.fixture
def users(db: str) -> str:
    with session_scope(db) as s:
        for role in ROLES:
            s.add(m.User(username=f"a-{role}", role=role, active=True))
            s.add(m.User(username=f"d-{role}", role=role, active=False))
    return db


def _cases() -> list[tuple[str, list[str], dict]]:
    return [(c, argv, params) for c, variants in SAMPLES.items() for argv, params in variants]


def _fill(values: list[str] | dict, db: str):  # type: ignore[no-untyped-def]
    if isinstance(values, dict):
        return {k: db if v == "{db}" else v for k, v in values.items()}
    return [db if v == "{db}" else v for v in values]


@pytest.mark.parametrize(("command", "argv", "params"), _cases())
def test_admin_may_run_every_command(command: str, argv: list[str], params: dict) -> None:
    # "admin: everything": generated over every sampled command and parameter variant
    assert access.allowed("admin", command, _fill(params, "sqlite://"))


def test_every_rule_lists_admin() -> None:
    assert [r.command for r in access.RULES if r.roles is not None and "admin" not in r.roles] == []


@pytest.mark.parametrize(("command", "argv", "params"), _cases())
def test_authorization_matrix(users: str, command: str, argv: list[str], params: dict) -> None:
    params = _fill(params, users)
    for role in ROLES:
        expected = access.allowed(role, command, params)
        if expected:
            d = access.authorize(command, params, user=f"a-{role}", url=users)
            assert d.role == role
        else:
            with pytest.raises(access.AccessDenied, match="may not run"):
                access.authorize(command, params, user=f"a-{role}", url=users)
        with pytest.raises(access.AccessDenied, match="deactivated"):
            access.authorize(command, params, user=f"d-{role}", url=users)
    with pytest.raises(access.AccessDenied, match="not a registered user"):
        access.authorize(command, params, user="nobody", url=users)


@pytest.mark.parametrize(("command", "argv", "params"), _cases())
def test_cli_refuses_before_doing_anything(
    snap, users: str, tmp_path: Path, command: str, argv: list[str], params: dict
) -> None:
    argv = _fill(argv, users)
    before = snap(users)
    refused = [f"d-{r}" for r in ROLES] + ["nobody"]
    refused += [f"a-{r}" for r in ROLES if not access.allowed(r, command, params)]
    for name in refused:
        r = runner.invoke(
            app, ["--db", users, *command.split(), *argv], env={"DECIDUA_USER": name}
        )
        assert r.exit_code == 1, (name, r.output)
        assert "may not run" in r.output and f"`{command}`" in r.output
        assert "Traceback" not in r.output
    assert snap(users) == before


def test_bootstrap_first_admin_only_on_an_empty_user_table(empty_db: str) -> None:
    env = {"DECIDUA_USER": "first"}
    r = runner.invoke(app, ["--db", empty_db, "patients", "list"], env=env)
    assert r.exit_code == 1 and "db upgrade" in r.output
    r = runner.invoke(app, ["--db", empty_db, "db", "upgrade"], env=env)  # no user needed
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", empty_db, "users", "add", "eve", "--role", "researcher"])
    assert r.exit_code == 1 and "not a registered user" in r.output
    r = runner.invoke(app, ["--db", empty_db, "users", "add", "first", "--role", "admin"], env=env)
    assert r.exit_code == 0, r.output
    # now the table is not empty: an unknown user can no longer add an admin
    r = runner.invoke(
        app, ["--db", empty_db, "users", "add", "mallory", "--role", "admin"],
        env={"DECIDUA_USER": "mallory"},
    )  # fmt: skip
    assert r.exit_code == 1 and "not a registered user" in r.output
    r = runner.invoke(app, ["--db", empty_db, "db", "upgrade"], env={"DECIDUA_USER": "mallory"})
    assert r.exit_code == 1
    r = runner.invoke(app, ["--db", empty_db, "users", "list", "--json"], env=env)
    assert r.exit_code == 0 and '"first"' in r.output and "mallory" not in r.output


def test_file_only_commands_need_no_database(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["--db", f"sqlite:///{tmp_path}/none.sqlite", "risk", "predict", "--age", "30"],
        env={"DECIDUA_USER": "nobody"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "none.sqlite").exists()


def test_demo_registers_the_os_login_as_admin(tmp_path: Path) -> None:
    from decidua.services.users import os_login

    r = runner.invoke(app, ["demo"], env={"DECIDUA_USER": ""})
    assert r.exit_code == 0, r.output
    url = f"sqlite:///{tmp_path / 'var' / 'demo.sqlite'}"
    with session_scope(url) as s:
        user = s.query(m.User).filter_by(username=os_login()).one()
        assert user.role == "admin" and user.active
    r = runner.invoke(app, ["--db", url, "db", "current"], env={"DECIDUA_USER": ""})
    assert r.exit_code == 0, r.output
