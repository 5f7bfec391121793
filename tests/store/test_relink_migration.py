"""Migration 0010 restores the ``derived_from_id`` links that 0008's table rebuild
erased on SQLite, reading each link back from what the derived row stores; rows it
cannot tell unambiguously stay as they are (SQLite always; PostgreSQL when configured).
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from decidua.store import migrate
from decidua.store.session import get_engine

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)

#: (id, biopsy, kind, key, values, link as stored before 0008)
ROWS = [
    (1, 1, "qpcr", "plate=aaaa", {"markers": {}}, None),
    (2, 1, "timing", "timing:default sha256:0123456789ab:plate=aaaa", {"callable": True}, 1),
    (3, 1, "cfu", "w1", {"well": "A1", "colonies": 9, "cells_seeded": 500}, None),
    (4, 1, "cfu", "w2", {"well": "A2", "colonies": 7, "cells_seeded": 500}, None),
    (5, 1, "cfu", "cfu_pct:rows=x", {"cfu_pct": 1.6, "result_ids": [3, 4]}, 4),
    (6, 1, "senescence", "index:qpcr=1", {"index": 0.4, "qpcr_result_id": 1}, 1),
    (7, 1, "decidualization", "course:y", {"from_results": [3, 1]}, 1),
    (8, 2, "qpcr", "plate=bbbb", {"markers": {}}, None),
    # never linked, or not to be guessed: stay NULL
    (9, 2, "timing", "timing:default sha256:0123456789ab:plate=zzzz", {}, None),
    (10, 2, "cfu", "cfu_pct:rows=z", {"result_ids": [3]}, None),  # id 3 is another biopsy's
    (11, 2, "decidualization", "elisa:plate", {"assay": "elisa"}, None),
]


def _populate_at_0009(url: str) -> None:
    migrate.upgrade(url, revision="0009")
    with get_engine(url).begin() as c:
        for pid in (1, 2):
            c.execute(text(
                "INSERT INTO patient (id, pseudonym, year_of_birth, study_group, "
                "consent_research, consent_biobank, consent_contact, created_at) VALUES "
                "(:id, :p, 1987, 'rpl', :t, :t, :t, :now)"),
                {"id": pid, "p": f"RL-{pid}", "t": True, "now": NOW})
            c.execute(text(
                "INSERT INTO biopsy (id, code, patient_id, cycle_number, lh_surge_date, "
                "biopsy_date, on_treatment) VALUES (:id, :code, :pid, 1, :s, :b, :f)"),
                {"id": pid, "code": f"RL-{pid}-B1", "pid": pid, "s": dt.date(2024, 5, 1),
                 "b": dt.date(2024, 5, 9), "f": False})
        for rid, bid, kind, key, values, _link in ROWS:
            c.execute(text(
                'INSERT INTO assay_result (id, biopsy_id, kind, result_key, "values", '
                "qc_status, created_at, derived_from_id) "
                "VALUES (:id, :bid, :kind, :key, :v, 'pass', :now, NULL)"),
                {"id": rid, "bid": bid, "kind": kind, "key": key, "v": json.dumps(values),
                 "now": NOW})


def _links(url: str) -> dict[int, int | None]:
    with get_engine(url).connect() as c:
        return dict(c.execute(text("SELECT id, derived_from_id FROM assay_result")).all())


def test_upgrade_relinks_what_the_rows_say_and_leaves_the_rest(empty_db: str) -> None:
    _populate_at_0009(empty_db)  # the links as 0008 left them on SQLite: all NULL
    assert set(_links(empty_db).values()) == {None}
    migrate.upgrade(empty_db, revision="0010")
    assert _links(empty_db) == {rid: link for rid, *_, link in ROWS}


def test_existing_links_are_kept_and_downgrade_keeps_them(empty_db: str) -> None:
    _populate_at_0009(empty_db)
    with get_engine(empty_db).begin() as c:  # a link already set is never rewritten
        c.execute(text("UPDATE assay_result SET derived_from_id = 3 WHERE id = 7"))
    migrate.upgrade(empty_db, revision="0010")
    links = _links(empty_db)
    assert links[7] == 3 and links[2] == 1
    migrate.downgrade(empty_db, revision="0009")
    assert _links(empty_db) == links


def test_two_matching_qpcr_results_leave_a_timing_row_unlinked(empty_db: str) -> None:
    _populate_at_0009(empty_db)
    with get_engine(empty_db).begin() as c:
        c.execute(text(
            'INSERT INTO assay_result (id, biopsy_id, kind, result_key, "values", qc_status, '
            "created_at) VALUES (12, 1, 'qpcr', '0123456789ab:plate=aaaa', '{}', "
            "'pass', :now)"), {"now": NOW})
    migrate.upgrade(empty_db, revision="0010")
    assert _links(empty_db)[2] is None  # plate=aaaa and ...:plate=aaaa both end its key
