"""Report data objects: plain, frozen, JSON-ready; built from records, never from a database.

A report is two steps: *build* (this module and :mod:`decidua.reports.patient`):
plain records and stored results in, a frozen data object out, every number
already worked out and every version named; then *render*
(:mod:`decidua.reports.render`): the object through a Jinja2 template to HTML,
and through WeasyPrint to PDF. The same records and versions give the same
object, so the same text; only :attr:`Footer.generated_at` changes.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import Enum
from typing import Any

from decidua import RESEARCH_USE_LABEL

#: Version of the report layouts (bumped when the text a report shows changes).
REPORT_FORMAT_VERSION = "reports/1"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON of plain data, dataclasses, enums and dates (sorted keys).

    Examples
    --------
    >>> canonical_json({"b": dt.date(2020, 1, 2), "a": 1.5})
    '{"a":1.5,"b":"2020-01-02"}'
    """

    def default(o: Any) -> Any:
        if is_dataclass(o) and not isinstance(o, type):
            return asdict(o)
        if isinstance(o, Enum):
            return o.value
        if isinstance(o, dt.date | dt.datetime):
            return o.isoformat()
        if isinstance(o, set | frozenset | tuple):
            return sorted(o) if isinstance(o, set | frozenset) else list(o)
        raise TypeError(f"cannot serialise {type(o).__name__}")

    return json.dumps(obj, default=default, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def sha256_of(obj: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``obj``.

    Examples
    --------
    >>> sha256_of({"a": 1})[:12]
    '015abd7f5cc5'
    """
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


@dataclass(frozen=True)
class Footer:
    """What every page of a report says about where it came from.

    Attributes
    ----------
    decidua_version
        Version of the program that built the report.
    versions
        ``(what, version)`` of every model, reference, rule table and layout used.
    checksums
        ``(what, sha256)`` of the inputs: the records as passed in, and each
        stored result's source file.
    generated_at
        When the report was generated (UTC, ISO 8601): the one field that
        differs between two renderings of the same records.
    label
        "Research use only; not a diagnostic device."

    Examples
    --------
    >>> f = Footer("0.1.0", (("risk model", "m1"),), (("records", "ab" * 32),),
    ...            "2026-01-01T00:00:00Z")
    >>> f.versions_text()
    'Decidua 0.1.0; risk model m1'
    """

    decidua_version: str
    versions: tuple[tuple[str, str], ...]
    checksums: tuple[tuple[str, str], ...]
    generated_at: str
    label: str = RESEARCH_USE_LABEL

    def versions_text(self) -> str:
        """``Decidua X; what version; …`` in one line."""
        return "; ".join([f"Decidua {self.decidua_version}",
                          *(f"{k} {v}" for k, v in self.versions)])

    def checksums_text(self, digits: int = 16) -> str:
        """``what sha256:…`` in one line (first ``digits`` hex digits)."""
        return "; ".join(f"{k} sha256:{v[:digits]}" for k, v in self.checksums)

    def to_dict(self) -> dict[str, Any]:
        return {"decidua_version": self.decidua_version,
                "versions": [list(v) for v in self.versions],
                "checksums": [list(c) for c in self.checksums],
                "generated_at": self.generated_at, "label": self.label}


def footer(
    *,
    versions: Iterable[tuple[str, str | None]],
    checksums: Iterable[tuple[str, str | None]],
    generated_at: dt.datetime | str | None = None,
    decidua_version: str | None = None,
) -> Footer:
    """A :class:`Footer`: versions and checksums de-duplicated in first-seen order,
    ``None`` dropped, the layout version added, the time formatted as UTC ISO.

    Examples
    --------
    >>> f = footer(versions=[("risk model", "m1"), ("risk model", "m1"), ("x", None)],
    ...            checksums=[], generated_at="2026-01-01T00:00:00Z", decidua_version="0.1")
    >>> [v for v, _ in f.versions]
    ['risk model', 'report layout']
    """
    if decidua_version is None:
        from decidua import __version__ as decidua_version
    if generated_at is None:
        generated_at = dt.datetime.now(dt.UTC)
    if isinstance(generated_at, dt.datetime):
        generated_at = generated_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    vs = dict.fromkeys((k, v) for k, v in [*versions, ("report layout", REPORT_FORMAT_VERSION)]
                       if v)
    cs = dict.fromkeys((k, v) for k, v in checksums if v)
    return Footer(str(decidua_version), tuple(vs), tuple(cs), generated_at)


@dataclass(frozen=True)
class Row:
    """One table row: cells as text (already formatted), plus an optional note."""

    cells: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Table:
    """A titled table of text cells (what a template prints)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    empty: str = "None recorded."

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns),
                "rows": [{"cells": list(r.cells), "note": r.note} for r in self.rows]}


@dataclass(frozen=True)
class Plot:
    """A figure to draw at render time: a name in :mod:`decidua.reports.plots` and its data."""

    kind: str
    title: str
    data: Mapping[str, Any] = field(default_factory=dict)
    caption: str = ""
