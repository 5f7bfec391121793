"""One write path for imported assay results (decidua.store.results), issue #10.

The table importers (CFU, uNK, SA-β-gal counts) store through the same
:class:`~decidua.store.results.ResultsFromFile` as the qPCR and ELISA importers: the
import run counts what the file did, each new result's audit event names its import
run and the row as the file wrote it, and a result found already stored while
writing rolls the whole import back naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from decidua.errors import InputError
from decidua.io import importers
from decidua.io.importers import import_file
from decidua.store import models as m
from decidua.store.session import session_scope

PARENTS = ("patients", "biopsies")


def _load_parents(db: str, examples: Path) -> None:
    for kind in PARENTS:
        import_file(examples / f"{kind}.csv", kind, url=db, actor="t")


def _rows(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").strip().splitlines()) - 1


def test_cfu_import_run_counts_and_audit(db: str, examples: Path, tmp_path: Path) -> None:
    _load_parents(db, examples)
    with session_scope(db) as s:  # the record tables' runs count the same way
        runs = s.scalars(select(m.ImportRun).order_by(m.ImportRun.id)).all()
        assert [(r.kind, r.n_inserted) for r in runs] == [
            (k, _rows(examples / f"{k}.csv")) for k in PARENTS]
    n = _rows(examples / "cfu.csv")
    rep = import_file(examples / "cfu.csv", "cfu", url=db, actor="alice")
    assert rep.inserted == n > 0
    with session_scope(db) as s:
        run = s.get(m.ImportRun, rep.import_run_id)
        assert (run.kind, run.n_rows, run.n_inserted, run.n_updated, run.n_unchanged) == (
            "cfu", n, n, 0, 0)
        results = s.scalars(select(m.AssayResult).where(m.AssayResult.kind == "cfu")
                            .order_by(m.AssayResult.id)).all()
        assert len(results) == n
        assert {r.import_run_id for r in results} == {run.id}
        assert {r.source_sha256 for r in results} == {rep.sha256}
        # the importer version is on the import run, not repeated on the results
        assert {r.importer_version for r in results} == {None}
        events = s.scalars(select(m.AuditEvent).where(
            m.AuditEvent.entity == "assay_result", m.AuditEvent.action == "create")
            .order_by(m.AuditEvent.id)).all()
        assert [e.entity_id for e in events] == [r.id for r in results]
        assert {e.import_run_id for e in events} == {run.id}
        first = events[0]
        assert first.actor == "alice"
        assert first.entity_key == "biopsy_id=EX-001-B1;plate=P1;well=A1"
        assert first.after["biopsy_id"] == "EX-001-B1"
        assert first.after["colonies"] == 4 and first.after["cells_seeded"] == 500
        assert first.after["import_run_id"] == run.id

    # a changed count, imported with --update: the run counts one update, the rest unchanged
    lines = (examples / "cfu.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",500,4,", ",500,5,")
    changed = tmp_path / "cfu.csv"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep2 = import_file(changed, "cfu", url=db, actor="alice", update_existing=True)
    with session_scope(db) as s:
        run2 = s.get(m.ImportRun, rep2.import_run_id)
        assert (run2.n_inserted, run2.n_updated, run2.n_unchanged) == (0, 1, n - 1)


def test_result_stored_meanwhile_rolls_back(db: str, examples: Path, snap,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _load_parents(db, examples)
    import_file(examples / "unk.csv", "unk", url=db, actor="t")
    before = snap(db)
    # as if another writer had stored the rows after they were compared
    monkeypatch.setattr(importers, "_existing", lambda *a, **k: {})
    with pytest.raises(InputError) as err:
        import_file(examples / "unk.csv", "unk", url=db, actor="t")
    assert err.value.problems[0].file.endswith("unk.csv")
    assert "nothing was written" in str(err.value)
    assert snap(db) == before
