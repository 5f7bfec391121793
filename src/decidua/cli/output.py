"""How the CLI prints: data as plain text, JSON alone on stdout.

- ``console`` (stdout) and ``err_console`` (stderr) never interpret Rich
  markup or highlight, so a value such as ``[/]`` in an id or a file name is
  printed as it is (style is added only with :class:`rich.text.Text`).
- With ``--json`` a command prints exactly one JSON document with
  :func:`echo_json`; progress and warnings go to ``err_console``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_consoles: dict[str, Console] = {}


def _console(name: str) -> Console:
    # Rich writes to the sys.stdout / sys.stderr of the moment (test runners swap them).
    c = _consoles.get(name)
    if c is None:
        from rich.console import Console

        c = Console(
            stderr=name == "err", markup=False, highlight=False, emoji=False, soft_wrap=True
        )
        _consoles[name] = c
    return c


class _LazyConsole:
    """A Rich console created when first printed to (keeps ``import decidua.cli`` light)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(_console(self._name), attr)

    @property
    def rich(self) -> Console:
        """The Rich console itself (for ``Progress(console=...)``)."""
        return _console(self._name)


#: Standard output: results.
console: Any = _LazyConsole("out")
#: Standard error: progress, warnings, errors.
err_console: Any = _LazyConsole("err")


def dry_run_prefix(dry_run: bool) -> str:
    """What an import's summary line begins with on a dry run."""
    return "DRY RUN (nothing written) — " if dry_run else ""


def echo_json(payload: Any, *, default: Any = None) -> None:
    """Print one JSON document on stdout (no markup, no colour, one line)."""
    sys.stdout.write(json.dumps(payload, default=default) + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], *, caption: str | None = None) -> Table:
    """A Rich table whose cells are plain text."""
    from rich.table import Table

    t = Table(title=title, caption=caption)
    for col in columns:
        t.add_column(col)
    return t
