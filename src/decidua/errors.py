"""Decidua's error hierarchy.

Library code raises these; the CLI turns them into a readable message and
exit code 1, the web app into a 4xx problem detail. A traceback reaching a
user is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class DeciduaError(Exception):
    """Base class of every error Decidua raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input value.

    Attributes
    ----------
    reason
        Why the value was refused, in words a user understands.
    file
        The input file (or ``None`` for values not read from a file).
    row
        Row number as a spreadsheet shows it (the header is row 1), or ``None``.
    column
        Column / field name, or ``None`` when the whole row or file is wrong.
    value
        The offending value as read (shortened for display).
    """

    reason: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: Any = None

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        loc = ", ".join(where)
        shown = ""
        if self.value is not None:
            value = self.value
            # numpy scalars print as np.int64(20) under numpy 2: show the plain value
            if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
                value = value.item()
            text = repr(value)
            if len(text) > 60:
                text = text[:57] + "..."
            shown = f" (value {text})"
        return f"{loc}: {self.reason}{shown}" if loc else f"{self.reason}{shown}"


class InputError(DeciduaError, ValueError):
    """Bad input: carries every :class:`Problem` found, not just the first.

    Parameters
    ----------
    problems
        One or more problems, or a single reason string.
    file, row, column, value
        Location used when ``problems`` is a single reason string.
    """

    def __init__(
        self,
        problems: str | Problem | Iterable[Problem],
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        if isinstance(problems, str):
            items: list[Problem] = [Problem(problems, file, row, column, value)]
        elif isinstance(problems, Problem):
            items = [problems]
        else:
            items = list(problems)
        if not items:
            raise ValueError("InputError needs at least one problem")
        self.problems: Sequence[Problem] = tuple(items)
        super().__init__(self.summary())

    @property
    def file(self) -> str | None:
        return self.problems[0].file

    @property
    def row(self) -> int | None:
        return self.problems[0].row

    @property
    def column(self) -> str | None:
        return self.problems[0].column

    @property
    def value(self) -> Any:
        return self.problems[0].value

    @property
    def reason(self) -> str:
        return self.problems[0].reason

    def summary(self, limit: int = 50) -> str:
        """Return a multi-line message listing up to ``limit`` problems."""
        lines = [str(p) for p in self.problems[:limit]]
        extra = len(self.problems) - limit
        if extra > 0:
            lines.append(f"... and {extra} more problem(s)")
        if len(self.problems) == 1:
            return lines[0]
        return f"{len(self.problems)} problems:\n" + "\n".join(lines)


class ModelError(DeciduaError):
    """A model cannot be fitted or applied (e.g. too little data, no convergence)."""


class NotFoundError(DeciduaError, LookupError):
    """A requested record (patient, biopsy, reference file …) does not exist."""


__all__ = ["DeciduaError", "InputError", "ModelError", "NotFoundError", "Problem"]
