"""Store assay results read from one file on their biopsies: one import run, nothing
overwritten, every new row audited.

The one write path of imported assay results: the plate importers that compute
results per biopsy (qPCR, ELISA) and the table importers of
:mod:`decidua.io.importers` (CFU, uNK and SA-β-gal counts) all open their import run
with :func:`open_import_run` and insert through :meth:`ResultsFromFile.store`, inside
the caller's transaction (an error rolls everything back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from decidua.store import models as m

#: Results inserted per statement (and between two progress calls).
CHUNK = 5000


@dataclass
class NewResult:
    """An assay result to store on a biopsy (``code`` names it in the audit trail)."""

    code: str
    biopsy_id: int
    kind: str
    result_key: str
    values: dict[str, Any]
    qc_status: str
    batch: str | None = None
    analysis_version: str | None = None
    derived_from_id: int | None = None
    #: Audit entity key (default ``<code>:<kind>:<result_key>``).
    entity_key: str | None = None
    #: The audit event's ``after`` (default ``{"kind": ..., "result_key": ...}``).
    audit_after: dict[str, Any] | None = None


@dataclass
class ResultsFromFile:
    """The import run of one file and what storing its results did."""

    run: m.ImportRun
    #: Written on every stored result; ``None`` where the version is on the import
    #: run only (the table importers' results, as they have always been stored).
    importer_version: str | None
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: ``(biopsy_id, kind, result_key) -> id`` of every result stored or found.
    ids: dict[tuple[int, str, str], int] = field(default_factory=dict)

    def store(self, session: Session, actor: str, results: list[NewResult], *,
              kind_aliases: dict[str, str] | None = None,
              progress: Callable[[int], None] | None = None) -> None:
        """Insert the results not stored yet (same biopsy, kind and key: unchanged), in
        statements of :data:`CHUNK` rows, each audited with the import run; ids of new and
        existing results go to :attr:`ids`.

        ``kind_aliases`` maps a stored kind to the kind it stands for (ELISA results
        stored before migration 0008 have kind ``decidualization``). ``progress`` is
        called with the number of results inserted so far after each statement.
        """
        alias = kind_aliases or {}
        keys = {(r.biopsy_id, r.kind, r.result_key) for r in results}
        kinds = {k[1] for k in keys}
        stored_kinds = sorted(kinds | {a for a, k in alias.items() if k in kinds})
        t = m.AssayResult.__table__
        bids = sorted({k[0] for k in keys})
        for i in range(0, len(bids), 500):
            for rid, bid, kind, key in session.execute(
                    select(t.c.id, t.c.biopsy_id, t.c.kind, t.c.result_key)
                    .where(t.c.biopsy_id.in_(bids[i:i + 500]), t.c.kind.in_(stored_kinds))):
                k = (bid, alias.get(kind, kind), key)
                if k in keys:
                    self.ids.setdefault(k, rid)
        new, seen = [], set()
        for r in results:
            k = (r.biopsy_id, r.kind, r.result_key)
            if k in self.ids or k in seen:
                self.unchanged += 1
                continue
            seen.add(k)
            new.append(r)
        for i in range(0, len(new), CHUNK):
            self._insert(session, actor, new[i:i + CHUNK])
            if progress:
                progress(self.inserted)

    def _insert(self, session: Session, actor: str, new: list[NewResult]) -> None:
        now = m.utcnow()
        run = self.run
        rows = [{"biopsy_id": r.biopsy_id, "kind": r.kind, "result_key": r.result_key,
                 "values": r.values, "qc_status": r.qc_status, "batch": r.batch,
                 "source_file": run.file_name, "source_sha256": run.sha256,
                 "import_run_id": run.id, "importer_version": self.importer_version,
                 "analysis_version": r.analysis_version, "derived_from_id": r.derived_from_id,
                 "created_at": now} for r in new]
        t = m.AssayResult.__table__
        ids = insert_returning_ids(session, t, rows, ("biopsy_id", "kind", "result_key"))
        audits = []
        for r, rid in zip(new, ids, strict=True):
            self.ids[(r.biopsy_id, r.kind, r.result_key)] = rid
            audits.append({"at": now, "actor": actor, "action": "create",
                           "entity": "assay_result", "entity_id": rid,
                           "entity_key": (r.entity_key
                                          or f"{r.code}:{r.kind}:{r.result_key}")[:128],
                           "before": None,
                           "after": (r.audit_after if r.audit_after is not None
                                     else {"kind": r.kind, "result_key": r.result_key}),
                           "import_run_id": run.id})
        session.execute(insert(m.AuditEvent.__table__), audits)
        self.inserted += len(new)

    def finish(self) -> None:
        """Record the counts on the import run."""
        run = self.run
        run.n_inserted, run.n_updated, run.n_unchanged = (
            self.inserted, self.updated, self.unchanged)


def insert_returning_ids(session: Session, table: Any, rows: list[dict[str, Any]],
                         key: tuple[str, ...]) -> list[int]:
    """Insert ``rows`` in as few statements as the database allows; their new ids, in
    the order of ``rows``.

    The ids are matched to the rows by ``key`` (columns unique among ``rows``) returned
    beside them, not by the order of the returned rows: asking SQLAlchemy for that order
    (``sort_by_parameter_order``) makes it insert one row per statement on SQLite.
    """
    if not rows:
        return []
    got = session.execute(insert(table).returning(table.c.id, *(table.c[k] for k in key)),
                          rows).all()
    by_key = {tuple(r[1:]): r[0] for r in got}
    if len(by_key) != len(rows):
        raise ValueError(f"{table.name}: the key {key} is not unique among the rows")
    return [by_key[tuple(r[k] for k in key)] for r in rows]


def open_import_run(session: Session, actor: str, *, kind: str, path: str | Path,
                    sha256: str, importer_version: str, n_rows: int,
                    stamp_results: bool = True) -> ResultsFromFile:
    """Start storing one file's results: its :class:`~decidua.store.models.ImportRun`
    (file name, SHA-256, importer version, who) is added and flushed (it has an id).

    ``stamp_results=False``: the results do not repeat the importer version (it is on
    their import run), as the table importers have always stored them.
    """
    run = m.ImportRun(kind=kind, file_name=Path(path).name[:512], sha256=sha256,
                      importer_version=importer_version, actor=actor, n_rows=n_rows)
    session.add(run)
    session.flush()
    return ResultsFromFile(run, importer_version if stamp_results else None)
