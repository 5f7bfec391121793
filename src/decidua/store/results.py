"""Store assay results read from one file on their biopsies: one import run, nothing
overwritten, every new row audited.

Used by the importers that compute results per biopsy before storing them (qPCR
plates, ELISA plates); the table importers (CFU, uNK, SA-β-gal field counts) go
through :mod:`decidua.io.importers`, which records its import run the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from decidua.store import models as m


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


@dataclass
class ResultsFromFile:
    """The import run of one file and what storing its results did."""

    run: m.ImportRun
    importer_version: str
    inserted: int = 0
    unchanged: int = 0
    #: ``(biopsy_id, kind, result_key) -> id`` of every result stored or found.
    ids: dict[tuple[int, str, str], int] = field(default_factory=dict)

    def store(self, session: Session, actor: str, results: list[NewResult], *,
              kind_aliases: dict[str, str] | None = None) -> None:
        """Insert the results not stored yet (same biopsy, kind and key: unchanged), in
        one statement, each audited; ids of new and existing results go to :attr:`ids`.

        ``kind_aliases`` maps a stored kind to the kind it stands for (ELISA results
        stored before migration 0008 have kind ``decidualization``).
        """
        alias = kind_aliases or {}
        keys = {(r.biopsy_id, r.kind, r.result_key) for r in results}
        t = m.AssayResult.__table__
        bids = sorted({k[0] for k in keys})
        for i in range(0, len(bids), 500):
            for rid, bid, kind, key in session.execute(
                    select(t.c.id, t.c.biopsy_id, t.c.kind, t.c.result_key)
                    .where(t.c.biopsy_id.in_(bids[i:i + 500]))):
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
        if not new:
            return
        now = m.utcnow()
        run = self.run
        rows = [{"biopsy_id": r.biopsy_id, "kind": r.kind, "result_key": r.result_key,
                 "values": r.values, "qc_status": r.qc_status, "batch": r.batch,
                 "source_file": run.file_name, "source_sha256": run.sha256,
                 "import_run_id": run.id, "importer_version": self.importer_version,
                 "analysis_version": r.analysis_version, "derived_from_id": r.derived_from_id,
                 "created_at": now} for r in new]
        ids = insert_returning_ids(session, t, rows, ("biopsy_id", "kind", "result_key"))
        audits = []
        for r, rid in zip(new, ids, strict=True):
            self.ids[(r.biopsy_id, r.kind, r.result_key)] = rid
            audits.append({"at": now, "actor": actor, "action": "create",
                           "entity": "assay_result", "entity_id": rid,
                           "entity_key": (r.entity_key
                                          or f"{r.code}:{r.kind}:{r.result_key}")[:128],
                           "before": None, "after": {"kind": r.kind, "result_key": r.result_key}})
        session.execute(insert(m.AuditEvent.__table__), audits)
        self.inserted += len(new)

    def finish(self) -> None:
        """Record the counts on the import run."""
        self.run.n_inserted, self.run.n_unchanged = self.inserted, self.unchanged


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
                    sha256: str, importer_version: str, n_rows: int) -> ResultsFromFile:
    """Start storing one file's results: its :class:`~decidua.store.models.ImportRun`
    (file name, SHA-256, importer version, who) is added and flushed (it has an id)."""
    run = m.ImportRun(kind=kind, file_name=Path(path).name[:512], sha256=sha256,
                      importer_version=importer_version, actor=actor, n_rows=n_rows)
    session.add(run)
    session.flush()
    return ResultsFromFile(run, importer_version)
