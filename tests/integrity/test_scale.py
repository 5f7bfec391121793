"""``patients list`` issues a bounded number of queries, not one per woman (issue #11, 13).

A synthetic cohort (ids ``Q-0000``…, two pregnancies and one biopsy each) is
imported at two sizes; the SQL statements the listing sends are counted with
SQLAlchemy's ``before_cursor_execute`` event on the real engine.
"""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import event

from decidua.io.importers import import_file
from decidua.services.patients import list_patients
from decidua.store.session import get_engine, session_scope


def _cohort(db: str, folder: Path, n: int) -> None:
    p = ["patient_id,year_of_birth,study_group"] + [f"Q-{i:04d},1985,rpl" for i in range(n)]
    g = ["patient_id,order,outcome,gestation_weeks"] + [
        f"Q-{i:04d},{k},miscarriage,8" for i in range(n) for k in (1, 2)
    ]
    b = ["biopsy_id,patient_id,lh_surge_date,biopsy_date"] + [
        f"Q-{i:04d}-B,Q-{i:04d},2022-01-01,2022-01-08" for i in range(n)
    ]
    for kind, lines in (("patients", p), ("pregnancies", g), ("biopsies", b)):
        f = folder / f"{kind}.csv"
        f.write_text("\n".join(lines) + "\n")
        import_file(f, kind, url=db, actor="t")


def _queries(db: str) -> tuple[int, int]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = get_engine(db)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(db) as s:
            page = list_patients(s, "t", limit=0)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements), len(page.rows)


def test_patients_list_queries_do_not_grow_per_woman(db: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    _cohort(db, tmp_path / "a", 40)
    small, n_small = _queries(db)
    (tmp_path / "b").mkdir()
    # 1,200 more women: relations are loaded in IN-batches of 500, never per woman
    lines = ["patient_id,year_of_birth,study_group"]
    lines += [f"R-{i:04d},1990,control" for i in range(1200)]
    (tmp_path / "b" / "p.csv").write_text("\n".join(lines) + "\n")
    import_file(tmp_path / "b" / "p.csv", "patients", url=db, actor="t")
    large, n_large = _queries(db)
    assert (n_small, n_large) == (40, 1240)
    extra_batches = math.ceil(n_large / 500) - math.ceil(n_small / 500)
    assert large - small <= 5 * extra_batches, (small, large)
