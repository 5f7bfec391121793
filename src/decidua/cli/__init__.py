"""Command-line interface: ``decidua …`` (a thin edge over :mod:`decidua.services`).

Exit codes: 0 success, 1 user error (a readable message, never a traceback),
2 usage error.

Start-up is cheap: importing this package loads Typer and nothing else of
weight. Sub-commands are registered from :data:`COMMANDS` and their modules
are imported only when one of their commands runs (``decidua --help`` lists
them from the table without importing any).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from decidua.errors import DeciduaError

#: Every sub-command: name -> (module, attribute, one-line help for ``decidua --help``).
#: The attribute is a Typer app (a command group) or a function (a single command).
#: Adding a command group is one line here, e.g.
#:     "qpcr": ("decidua.cli.qpcr", "app", "qPCR: relative quantification."),
#: Keep heavy imports (numpy, pandas, sqlalchemy, ...) inside the command functions.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("decidua.cli.core", "db_app", "Database schema commands."),
    "import": ("decidua.cli.core", "import_command",
               "Import one file in one transaction (all rows or none)."),
    "patients": ("decidua.cli.core", "patients_app", "List patients."),
    "patient": ("decidua.cli.core", "patient_app", "One patient's record."),
    "demo": ("decidua.cli.core", "demo_command",
             "Load the bundled SYNTHETIC demo cohort into a fresh database."),
    "export": ("decidua.cli.core", "export_command",
               "Pseudonymous research export (keyed-hash ids, no free text)."),
    "users": ("decidua.cli.core", "users_app", "User accounts and roles."),
    "timing": ("decidua.cli.timing", "app",
               "Endometrial timing: fit a reference, place biopsies, centiles."),
    "risk": ("decidua.cli.risk", "app", "Recurrence-risk commands."),
    "pathway": ("decidua.cli.risk", "pathway_app", "Care-pathway commands."),
    "cfu": ("decidua.cli.cfu", "app", "Clonogenicity (CFU) assay: colony counting, statistics."),
    "methylation": ("decidua.cli.methylation", "app",
                    "CpG and non-CpG methylation from bisulfite data."),
    "elisa": ("decidua.cli.elisa", "app", "ELISA plates: 4PL/5PL standard curves, concentrations."),
    "qpcr": ("decidua.cli.qpcr", "app", "RT-qPCR: read plates, ΔCq, ΔΔCq, efficiency, RQ."),
    "senescence": ("decidua.cli.senescence", "app", "Senescence: pro-senescent index from qPCR."),
    "decidualization": ("decidua.cli.decidualization", "app",
                        "Decidualization time courses: fold change, AUC, class vs reference."),
    "unk": ("decidua.cli.unk", "app", "uNK density from CD56 images or field counts."),
    "biopsy": ("decidua.cli.biopsy", "app", "One biopsy's stored assay results."),
    "reference": ("decidua.cli.reference", "app",
                  "Reference centiles by cycle day (fit a clinic's own)."),
    "report": ("decidua.cli.report", "app",
               "Reports: patient letters and biopsy lab reports as PDF or HTML."),
    "trial": ("decidua.cli.trial", "app",
              "Cohort trial analysis: arm effect on a stored marker."),
    "serve": ("decidua.cli.serve", "serve_command", "Run the clinic web application."),
}  # fmt: skip

_loaded: dict[str, Any] = {}


def load_command(name: str) -> Any:
    """The Click command of a :data:`COMMANDS` entry (imports its module once)."""
    cmd = _loaded.get(name)
    if cmd is None:
        import importlib

        module, attr, _ = COMMANDS[name]
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            cmd = typer.main.get_group(obj)  # a group even with one command
        else:
            single = typer.Typer(add_completion=False)
            single.command(name)(obj)
            cmd = typer.main.get_command(single)
        cmd.name = name
        _loaded[name] = cmd
    return cmd


def report_error(exc: DeciduaError) -> None:
    """Print a Decidua error for a person (no traceback; the message is plain text)."""
    from rich.text import Text

    from decidua.cli.output import err_console

    err_console.print(Text.assemble(("Error:", "bold red"), f" {exc}"), soft_wrap=True)


class DeciduaGroup(TyperGroup):
    """Root command group: lazy sub-commands from :data:`COMMANDS`, and
    :class:`DeciduaError` turned into exit code 1."""

    _listing = False

    def list_commands(self, ctx):  # type: ignore[no-untyped-def]
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx, cmd_name):  # type: ignore[no-untyped-def]
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:  # the root --help: the table's line, no import
            return TyperGroup(name=cmd_name, help=COMMANDS[cmd_name][2])
        return load_command(cmd_name)

    def format_help(self, ctx, formatter):  # type: ignore[no-untyped-def]
        self._listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                warnings.simplefilter("default")
                for quiet in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                    warnings.simplefilter("ignore", quiet)  # developers' concern, not users'
                _authorize(self, ctx)
                return super().invoke(ctx)
        except DeciduaError as exc:
            report_error(exc)
            raise typer.Exit(1) from None


def _show_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """A Python warning as one plain line on stderr (no file, line or source code)."""
    from decidua.cli.output import err_console

    err_console.print(f"Warning: {message}")


#: Output parameters checked before a command runs (and so before it reads large inputs):
#: folders must not be existing files, files must not be existing folders.
OUTPUT_DIRS = {("export", "out"), ("timing fit", "out")}
OUTPUT_FILES = {
    ("methylation summarize", "out"), ("methylation mbias", "out"),
    ("methylation compare", "out"), ("methylation score", "out"), ("timing centiles", "save"),
    ("report patient", "out"), ("report biopsy", "out"), ("report cohort", "out"),
}  # fmt: skip


def _check_outputs(command: str, params: dict[str, Any],
                   options: dict[str, str] | None = None) -> None:
    """Refuse unusable output paths; ``options`` maps a parameter to the option as the
    user types it (``out`` -> ``--output``; default ``--`` + the name)."""
    import os
    from pathlib import Path

    from decidua.errors import InputError

    for name, value in params.items():
        if not isinstance(value, Path):
            continue
        is_dir = (command, name) in OUTPUT_DIRS or name.endswith("_dir")
        is_file = (command, name) in OUTPUT_FILES
        if not (is_dir or is_file):
            continue
        option = (options or {}).get(name) or "--" + name.replace("_", "-")
        if is_dir and value.exists() and not value.is_dir():
            raise InputError("exists and is a file, not a folder", file=str(value), column=option)
        if is_file and value.is_dir():
            raise InputError("is a folder, not a file name", file=str(value), column=option)
        parent = value.absolute().parent
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{parent} is a file, not a folder", file=str(value), column=option)
        if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"folder {parent} is not writable", file=str(value), column=option)


def _resolve(group: Any, ctx: Any) -> tuple[str, dict[str, Any], dict[str, str]] | None:
    """The command path, parsed parameters and each parameter's long option name
    (``out`` -> ``--output``) about to run (``None``: help or usage error).

    Parses without side effects (Click's resilient parsing); Click itself
    reports any usage error afterwards.
    """
    args = [*ctx._protected_args, *ctx.args]
    if not args or "--help" in args:
        return None
    path: list[str] = []
    parent, cmd, rest = ctx, group, args
    while hasattr(cmd, "resolve_command"):
        try:
            name, cmd, rest = cmd.resolve_command(parent, rest)
        except Exception:  # noqa: BLE001 - an unknown command: Click reports it
            return None
        if cmd is None:
            return None
        path.append(name)
        parent = cmd.make_context(name, list(rest), parent=parent, resilient_parsing=True)
        rest = [*parent._protected_args, *parent.args]
        if hasattr(cmd, "resolve_command") and not rest:
            return None  # a group without a sub-command: Click prints its help
    options = {p.name: max(p.opts, key=len) for p in cmd.params if p.name and p.opts}
    return " ".join(path), dict(parent.params), options


#: The demo database a read-only command reads in place of a default without schema
#: (set by :func:`_authorize`, applied by the root callback).
_demo_url: str | None = None

#: The acting user's role for the command running (set by :func:`_authorize`; ``None``:
#: the command needs no user, or runs before any user exists).
_role: str | None = None


def acting_role() -> str | None:
    """The acting user's role, as :func:`decidua.services.access.authorize` found it."""
    return _role


def _authorize(group: Any, ctx: Any) -> None:
    """The one access check of the CLI (rules: :mod:`decidua.services.access`)."""
    global _demo_url, _role
    _demo_url = _role = None
    from decidua.services import access

    found = _resolve(group, ctx)
    if found is None:
        return
    command, params, options = found
    _check_outputs(command, params, options)
    if not access.needs_database(command, params):
        return
    from decidua.services.users import acting_user

    url = ctx.params.get("db")
    if url is None and access.reads_only(command, params):
        from decidua.services.database import demo_in_place_of_default

        demo = demo_in_place_of_default()
        if demo is not None:
            from decidua.settings import get_settings

            _demo_url = url = demo  # the root callback (run next) makes it the default
            sys.stderr.write(
                f"Reading the demo database {get_settings().demo_path}: the default "
                f"database {get_settings().sqlite_path} has no schema yet (`decidua db "
                "upgrade` creates it; `--db URL` chooses another).\n")
    decision = access.authorize(command, params, user=acting_user(), url=url)
    refusal = access.researcher_refusal(command, decision.role)
    if refusal is not None:
        raise access.AccessDenied(refusal)
    _role = decision.role


app = typer.Typer(
    cls=DeciduaGroup,
    help="Decidua: pre-pregnancy endometrial screening in recurrent pregnancy loss "
    "(research use only; not a diagnostic device).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from decidua import __version__

        sys.stdout.write(f"decidua {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: $DECIDUA_DATABASE_URL or var/decidua.sqlite)."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Decidua: pre-pregnancy endometrial screening in recurrent pregnancy loss.

    Research use only; not a diagnostic device.
    """
    if db is not None or _demo_url is not None or "decidua.store.session" in sys.modules:
        # (commands that use no database, such as `risk predict`, never load SQLAlchemy)
        from decidua.store.session import set_default_url

        set_default_url(db if db is not None else _demo_url)


def main() -> None:
    """Console-script entry point."""
    import atexit
    import gc

    # At exit Python's last garbage collections walk every object still
    # alive (after `methylation summarize`, numba's and LLVM's many): about
    # 0.1 s of CPU once the work is done, a tenth of that command on a 9 M-row
    # file (issue 10). Frozen objects (gc.freeze) are not walked and the OS
    # frees their memory. Other atexit handlers and the flushing of stdout and
    # stderr still run; finalizers of objects alive at exit were never
    # guaranteed (Python reference, object.__del__). Registered at exit
    # only, so a process that calls main() and goes on is unaffected.
    atexit.register(gc.freeze)
    try:
        app()
    except DeciduaError as exc:  # pragma: no cover - raised outside a command
        report_error(exc)
        sys.exit(1)
