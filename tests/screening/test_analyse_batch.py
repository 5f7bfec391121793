"""`biopsy analyse --all` reads, computes and writes in bulk: the same calls as one biopsy
at a time, on the demo database.

Independent path: for each biopsy, its results read as ORM objects one biopsy at a
time (the way the calls were computed before the bulk path) and evaluated; the stored
calls of the bulk run must equal them field for field (call, reasons, components, rule
version, evidence). Re-analysis adds nothing when nothing changed, and a newer rule
version adds a call per biopsy while every older one stays.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from decidua.screening import default_rules, evaluate
from decidua.services import biopsies as svc
from decidua.services.demo import fresh_database, load_demo
from decidua.store import models as m
from decidua.store.session import dispose_engines, session_scope


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = fresh_database(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}")
    with session_scope(url) as s:
        load_demo(s, "tester")
    yield url
    dispose_engines()


def test_bulk_calls_equal_one_biopsy_at_a_time(demo_url: str) -> None:
    rules = default_rules()
    with session_scope(demo_url) as s:
        refs = svc.load_references(s)
        biopsies = list(s.scalars(select(m.Biopsy).order_by(m.Biopsy.id)))
        stored = {c.biopsy_id: c for c in s.scalars(select(m.BiopsyCall).order_by(m.BiopsyCall.id))}
        assert len(biopsies) > 600 and set(stored) == {b.id for b in biopsies}
        assert s.scalar(select(func.count()).select_from(m.BiopsyCall)) == len(biopsies)
        seen = {"normal": 0, "abnormal": 0, "uncallable": 0}
        for b in biopsies:
            rows = list(
                s.scalars(
                    select(m.AssayResult)
                    .where(m.AssayResult.biopsy_id == b.id)
                    .order_by(m.AssayResult.id)
                )
            )
            # the summaries the bulk run stored are derived rows: the evidence is read from
            # the raw results only, as they stood before the run
            raw = [
                r
                for r in rows
                if r.analysis_version is None
                or not r.analysis_version.startswith("decidua.assays.")
            ]
            ev, snap = svc.biopsy_evidence(b, raw, refs)
            doc = evaluate(ev, rules).to_dict()
            c = stored[b.id]
            assert (c.call, c.reasons, c.components, c.rule_version) == (
                doc["call"],
                doc["reasons"],
                doc["components"],
                doc["rule_version"],
            ), b.code
            assert c.evidence == snap, b.code
            # every summary of the evidence is stored once, nothing is missing
            assert svc._summary_results(b, rows, snap) == [], b.code
            seen[c.call] += 1
        assert seen["normal"] > 0 and seen["abnormal"] > 0


def test_reanalysis_keeps_every_call_and_adds_only_what_changed(demo_url: str) -> None:
    with session_scope(demo_url) as s:
        n = s.scalar(select(func.count()).select_from(m.Biopsy))
        before = {c.id: (c.call, c.components) for c in s.scalars(select(m.BiopsyCall))}
        n_results = s.scalar(select(func.count()).select_from(m.AssayResult))
    with session_scope(demo_url) as s:
        again = svc.analyse_biopsies(s, "tester", all_biopsies=True)
    assert (again.inserted, again.unchanged, again.summaries) == (0, n, 0)
    some = sorted(x["biopsy"] for x in again.calls)[:5]
    with session_scope(demo_url) as s:
        one = svc.analyse_biopsies(s, "tester", some)
    assert (one.inserted, one.unchanged) == (0, 5)
    assert [x["call_id"] for x in one.calls] == [x["call_id"] for x in again.calls[:5]]
    newer = dataclasses.replace(default_rules(), version=default_rules().version + "-test")
    with session_scope(demo_url) as s:
        rerun = svc.analyse_biopsies(s, "tester", all_biopsies=True, rules=newer)
    assert (rerun.inserted, rerun.unchanged) == (n, 0)
    with session_scope(demo_url) as s:  # the newest call is the one compared against
        same = svc.analyse_biopsies(s, "tester", all_biopsies=True, rules=newer)
        part = svc.analyse_biopsies(s, "tester", some, rules=newer)
    assert (same.inserted, same.unchanged, part.unchanged) == (0, n, 5)
    with session_scope(demo_url) as s:
        after = {c.id: (c.call, c.components) for c in s.scalars(select(m.BiopsyCall))}
        assert s.scalar(select(func.count()).select_from(m.AssayResult)) == n_results
        assert {k: after[k] for k in before} == before  # nothing overwritten
        assert len(after) == len(before) + n
        newest = svc.latest_calls(s, [b.id for b in s.scalars(select(m.Biopsy))])
        assert {c.rule_version for c in newest.values()} == {newer.version}
        first = {
            c.biopsy_id: c.call
            for c in s.scalars(select(m.BiopsyCall).where(m.BiopsyCall.id.in_(list(before))))
        }
        assert {k: c.call for k, c in newest.items()} == first  # the same rule, renamed
        audited = s.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.entity == "biopsy_call")
        )
        assert audited == len(after)
