"""Who may run what: the one role table of Decidua (CLI now, the web application later).

Every command is listed in :data:`RULES` with the roles allowed to run it:

- commands that read only files and write no database (``risk predict``,
  ``timing …``, ``cfu …``, ``methylation …``, ``qpcr …``, ``elisa …``) need
  no user at all (``roles=None``);
- every command that reads or writes the database needs a *registered,
  active* user of that database whose role is listed; ``admin`` may run
  everything;
- a few commands may run without a user while a database is being set up
  (``bootstrap``): ``db upgrade`` and ``db restore`` on a database without a
  schema, ``users add NAME --role admin`` while the user table is empty (the
  first admin), ``demo`` on the fresh default demo database.

Some rules depend on a command's parameters (``import cfu`` is a scientist's,
``import patients`` a clinician's; ``risk patient --save`` writes, without it
it only reads; ``export --include-non-consented`` is the admin's): the most
specific matching rule wins. A command missing from the table is refused to
everyone but an admin (fail safe), and a test checks that every CLI command is
listed.

The CLI has no passwords: the acting user is ``$DECIDUA_USER``, else
``local:<OS login>``, so on a shared machine identity comes from the OS
account (file permissions on the SQLite database, database credentials for
PostgreSQL). The roles guard against mistakes and curiosity, not against
someone who can edit the database file; the web application uses logins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from decidua.errors import DeciduaError

ADMIN, CLINICIAN, SCIENTIST, RESEARCHER = "admin", "clinician", "scientist", "researcher"
ALL_ROLES = frozenset({ADMIN, CLINICIAN, SCIENTIST, RESEARCHER})
#: Import kinds holding clinical records (a clinician's) and assay results (a scientist's).
CLINICAL_KINDS = frozenset(
    {"patients", "pregnancies", "investigations", "biopsies", "interventions"}
)
ASSAY_KINDS = frozenset({"cfu", "unk", "qpcr", "elisa", "methylation", "timing", "sabgal"})

_READ = frozenset(ALL_ROLES)


class AccessDenied(DeciduaError):
    """The acting user may not run a command (unknown, deactivated, or the wrong role)."""


#: Read commands whose CLI output names a woman as the clinic knows her (clinic id, year of
#: birth, BMI, arm, free text). A researcher may run them in the web application, which
#: shows her pseudonyms and bands; the CLI refuses them to her (:func:`researcher_refusal`)
#: and gives ``patients list`` and ``patient show`` pseudonymised
#: (:func:`decidua.services.export.research_row`, ``research_record``).
IDENTIFIED_FOR_RESEARCHERS: frozenset[str] = frozenset({
    "patient monitor", "biopsy show", "risk patient", "risk history",
    "pathway patient",
})


def researcher_refusal(command: str, role: str | None) -> str | None:
    """Why the CLI refuses ``command`` to a user of ``role`` (``None``: it does not)."""
    if role != RESEARCHER or command not in IDENTIFIED_FOR_RESEARCHERS:
        return None
    return (f"`{command}` shows identified data (clinic id, year of birth, free text), "
            "which a researcher does not see; use `decidua patients list` and `patient show "
            "PSEUDONYM` (pseudonyms and bands, no free text), `report patient ID "
            "--pseudonymise`, `export`, `report cohort`, `trial analyse`, or the web "
            "application (pseudonymised views)")


@dataclass(frozen=True)
class Rule:
    """Who may run one command (or every command of a group).

    Attributes
    ----------
    command
        Command path as typed (``"db downgrade"``); a group name (``"cfu"``)
        covers all its sub-commands that have no rule of their own.
    roles
        Roles allowed, or ``None`` when the command touches no database and
        needs no user.
    when
        Parameter conditions: the rule applies only if each named parameter
        has one of the values (``True`` for a flag that is set).
    bootstrap
        Name of a database state in which no user is needed (see
        :data:`BOOTSTRAP_STATES`), or ``None``.
    target
        Parameter naming the database the command works on, when it is not
        the ``--db`` one (``demo --database``).
    """

    command: str
    roles: frozenset[str] | None
    when: tuple[tuple[str, frozenset[Any]], ...] = ()
    bootstrap: str | None = None
    target: str | None = None
    note: str = field(default="", compare=False)

    def matches(self, command: str, params: Mapping[str, Any]) -> bool:
        if not (command == self.command or command.startswith(self.command + " ")):
            return False
        return all(params.get(name) in values for name, values in self.when)

    @property
    def specificity(self) -> tuple[int, int]:
        return (self.command.count(" ") + 1, len(self.when))


def _only(name: str, *values: Any) -> tuple[tuple[str, frozenset[Any]], ...]:
    return ((name, frozenset(values)),)


#: States of a database in which a bootstrap rule needs no user.
#: ``no_schema``: no Decidua schema yet; ``no_users``: no schema or an empty
#: user table; ``fresh_demo``: ``demo`` without ``--database`` (it recreates
#: its own file) or a target with no users.
BOOTSTRAP_STATES = ("no_schema", "no_users", "fresh_demo")

RULES: tuple[Rule, ...] = (
    # files only: no user, no database
    Rule("risk predict", None, note="inputs on the command line"),
    Rule("timing", None, note="reads and writes files"),
    Rule("cfu", None, note="images and count tables"),
    Rule("methylation", None, note="sequencing files"),
    Rule("qpcr", None, note="instrument files"),
    Rule("senescence", None, note="instrument files"),
    Rule("elisa", None, note="plate files"),
    Rule("unk", None, note="images and count tables"),
    Rule("decidualization", None, note="culture tables and reference files"),
    Rule("decidualization biopsy", _READ),
    Rule("decidualization biopsy", frozenset({ADMIN, SCIENTIST}), when=_only("save", True),
         note="stores a derived result"),
    # schema and backups
    Rule("db upgrade", frozenset({ADMIN}), bootstrap="no_schema"),
    Rule("db downgrade", frozenset({ADMIN})),
    Rule("db current", _READ),
    Rule("db backup", frozenset({ADMIN})),
    Rule("db restore", frozenset({ADMIN}), bootstrap="no_schema"),
    Rule("db", frozenset({ADMIN})),
    # users
    Rule("users add", frozenset({ADMIN}), when=_only("role", ADMIN), bootstrap="no_users",
         note="the first admin, on an empty user table"),
    Rule("users", frozenset({ADMIN})),
    # records
    Rule("import", frozenset({ADMIN})),
    Rule("import", frozenset({ADMIN, CLINICIAN}), when=(("kind", CLINICAL_KINDS),)),
    Rule("import", frozenset({ADMIN, SCIENTIST}), when=(("kind", ASSAY_KINDS),)),
    Rule("qc", frozenset({ADMIN, SCIENTIST})),
    Rule("patients list", _READ),
    Rule("patient show", _READ),
    Rule("patient monitor", _READ),
    Rule("biopsy show", _READ),
    Rule("reference fit", frozenset({ADMIN, SCIENTIST}), note="stores a clinic reference"),
    Rule("biopsy analyse", frozenset({ADMIN, CLINICIAN, SCIENTIST}),
         note="stores a new computed call"),
    Rule("risk patient", _READ),
    Rule("risk patient", frozenset({ADMIN, CLINICIAN}), when=_only("save", True)),
    Rule("risk history", _READ),
    Rule("pathway patient", frozenset({ADMIN, CLINICIAN, RESEARCHER})),
    Rule("export", frozenset({ADMIN, RESEARCHER})),
    Rule("export", frozenset({ADMIN}), when=_only("include_non_consented", True)),
    Rule("report patient", frozenset({ADMIN, CLINICIAN}), note="identified"),
    Rule("report patient", frozenset({ADMIN, CLINICIAN, RESEARCHER}),
         when=_only("pseudonymise", True)),
    Rule("report biopsy", frozenset({ADMIN, CLINICIAN, SCIENTIST})),
    Rule("report cohort", frozenset({ADMIN, RESEARCHER}), note="pseudonymised aggregates"),
    Rule("trial analyse", frozenset({ADMIN, RESEARCHER}), note="read-only cohort model"),
    Rule("biopsy sign", frozenset({ADMIN, SCIENTIST}), note="a scientist's signature"),
    Rule("demo", frozenset({ADMIN}), bootstrap="fresh_demo", target="database"),
    Rule("serve", frozenset({ADMIN}),
         note="starts the web application, which checks every request against this table"),
)  # fmt: skip


#: Commands that only read the database. Right after ``make demo`` (which writes
#: ``var/demo.sqlite``) the default database ``var/decidua.sqlite`` has no schema
#: yet; these commands then read the demo database and say so
#: (:func:`decidua.services.database.demo_in_place_of_default`). Commands that
#: write never do: a clinic's records must not land among synthetic ones.
READ_ONLY_COMMANDS: frozenset[str] = frozenset({
    "patients list", "patient show", "patient monitor", "biopsy show", "risk patient",
    "risk history", "pathway patient", "report patient", "report biopsy", "report cohort",
    "trial analyse", "db current",
})


def reads_only(command: str, params: Mapping[str, Any] | None = None) -> bool:
    """Whether the command only reads the database (``risk patient --save`` writes).

    >>> reads_only("report patient"), reads_only("import")
    (True, False)
    >>> reads_only("risk patient", {"save": True})
    False
    """
    params = params or {}
    if command not in READ_ONLY_COMMANDS:
        return False
    return not (command == "risk patient" and params.get("save"))


def rule_for(command: str, params: Mapping[str, Any] | None = None) -> Rule | None:
    """The most specific rule for a command and its parameters (``None``: not listed)."""
    params = params or {}
    found = [r for r in RULES if r.matches(command, params)]
    if not found:
        return None
    return max(found, key=lambda r: r.specificity)


def allowed(role: str | None, command: str, params: Mapping[str, Any] | None = None) -> bool:
    """Whether a user with ``role`` may run the command (``None``: no user), ignoring bootstrap.

    Pure: the web application asks this with the logged-in user's role.
    """
    rule = rule_for(command, params)
    if rule is None:
        return role == ADMIN
    if rule.roles is None:
        return True
    return role is not None and role in rule.roles


def needs_database(command: str, params: Mapping[str, Any] | None = None) -> bool:
    """Whether the command touches a database (and so needs a user)."""
    rule = rule_for(command, params)
    return rule is None or rule.roles is not None


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`authorize`: who acts, with which role, and why allowed."""

    command: str
    user: str | None
    role: str | None
    reason: str


def _db_state(url: str | None) -> tuple[bool, int]:
    """``(has_schema, n_users)`` of a database (read only)."""
    from sqlalchemy import func, inspect, select

    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(url) as s:
        names = set(inspect(s.connection()).get_table_names())
        if "alembic_version" not in names or m.User.__tablename__ not in names:
            return False, 0
        return True, int(s.scalar(select(func.count()).select_from(m.User)) or 0)


def _lookup(url: str | None, username: str) -> tuple[str, bool] | None:
    from sqlalchemy import select

    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(url) as s:
        row = s.execute(
            select(m.User.role, m.User.active).where(m.User.username == username)
        ).first()
    return None if row is None else (row[0], bool(row[1]))


def authorize(
    command: str,
    params: Mapping[str, Any] | None = None,
    *,
    user: str,
    url: str | None = None,
) -> Decision:
    """Check that ``user`` may run ``command`` on the database at ``url``.

    Parameters
    ----------
    command
        Command path (``"import"``, ``"db downgrade"``).
    params
        The command's parsed parameters (for parameter-dependent rules).
    user
        The acting user name.
    url
        The ``--db`` database (``None``: the default one).

    Raises
    ------
    AccessDenied
        Unknown or deactivated user, or a role the rule does not list.
    decidua.store.session.StoreError
        The database cannot be read (unreachable, locked, no schema).
    """
    params = params or {}
    rule = rule_for(command, params)
    if rule is not None and rule.roles is None:
        return Decision(command, None, None, "touches no database")
    if rule is not None and rule.target is not None:
        target = params.get(rule.target)
        if target is None and rule.bootstrap == "fresh_demo":
            return Decision(command, None, None, "recreates its own demo database")
        url = target
    has_schema, n_users = _db_state(url)
    if rule is not None and rule.bootstrap is not None:
        if rule.bootstrap == "no_schema" and not has_schema:
            return Decision(command, None, None, "database without a schema")
        if rule.bootstrap in ("no_users", "fresh_demo") and n_users == 0:
            return Decision(command, None, None, "database without users")
    if not has_schema:
        from decidua.services.database import schema_missing_message
        from decidua.store.session import StoreError

        raise StoreError(schema_missing_message(url))
    found = _lookup(url, user)
    shown = f"`{command}`"
    if found is None:
        hint = (
            "create the first admin with `decidua users add NAME --role admin`"
            if n_users == 0
            else "an admin adds users with `decidua users add NAME --role ROLE`"
        )
        raise AccessDenied(
            f"{user!r} is not a registered user of this database, so may not run {shown}; {hint}"
            " (the acting user is $DECIDUA_USER, else local:<OS login>)"
        )
    role, active = found
    if not active:
        raise AccessDenied(f"user {user!r} is deactivated and may not run {shown}")
    if not allowed(role, command, params):
        roles = "admin" if rule is None or rule.roles is None else ", ".join(sorted(rule.roles))
        raise AccessDenied(f"user {user!r} ({role}) may not run {shown}; allowed: {roles}")
    return Decision(command, user, role, f"role {role}")
