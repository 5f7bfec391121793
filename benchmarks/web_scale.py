"""Benchmark: the patient list's pathway-step filter after a write, on 10,000 women.

Work: a SYNTHETIC cohort of ``N`` women (default 10,000; 0-3 pregnancies and 0-2
biopsies each, from fixed rules, no randomness) imported into a temporary SQLite
database. The filter keeps every woman's due care-pathway steps
(``decidua.web.common.steps_due``); after a pregnancy is added to one woman, only
the women whose own record changed since are computed again
(``services.patients.patients_changed_since``).

Baseline (same run, same database): computing every woman's pathway again
(``services.risk.due_steps`` over the cohort), what each write cost before.
Also printed: the filter served from its cache, and the patient page's version
statement (``services.patients.patient_version``), which must not grow with the
cohort.

Run: .venv/bin/python benchmarks/web_scale.py [N]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
REPEATS = 5


def _cohort(folder: Path, n: int) -> dict[str, list[str]]:
    pats = ["patient_id,year_of_birth,study_group"]
    preg = ["patient_id,order,outcome,outcome_date"]
    bio = ["biopsy_id,patient_id,lh_surge_date,biopsy_date,clinic_call"]
    for i in range(n):
        w = f"W-{i:05d}"
        pats.append(f"{w},{1980 + i % 15},rpl")
        for k in range(1, 1 + i % 4):
            outcome = "miscarriage" if (i + k) % 3 else "live_birth"
            preg.append(f"{w},{k},{outcome},{2010 + k}-01-15")
        for k in range(1, 1 + i % 3):
            call = "abnormal" if k % 2 else "normal"
            bio.append(f"{w}-B{k},{w},{2015 + k}-03-01,{2015 + k}-03-08,{call}")
    return {"patients": pats, "pregnancies": preg, "biopsies": bio}


def main() -> None:
    from decidua.services.database import upgrade
    from decidua.services.imports import import_file
    from decidua.services.patients import patient_version
    from decidua.services.risk import due_steps
    from decidua.store.session import dispose_engines, session_scope
    from decidua.web import common

    tmp = Path(tempfile.mkdtemp(prefix="decidua-web-scale-"))
    try:
        url = f"sqlite:///{tmp / 'cohort.sqlite'}"
        upgrade(url=url)
        for kind, lines in _cohort(tmp, N).items():
            path = tmp / f"{kind}.csv"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            with session_scope(url) as s:
                import_file(s, "bench", kind, path)
        user = {"username": "bench", "role": "clinician"}
        with session_scope(url) as s:
            common.steps_due(s, user)  # every woman, once
        base, ours, cached = [], [], []
        for k in range(REPEATS):
            path = tmp / f"write-{k}.csv"
            path.write_text(f"patient_id,order,outcome,outcome_date\nW-{k:05d},{10 + k},"
                            "miscarriage,2024-01-15\n", encoding="utf-8")  # fmt: skip
            with session_scope(url) as s:
                import_file(s, "bench", "pregnancies", path)
            with session_scope(url) as s:
                t0 = time.perf_counter()
                common.step_due(s, user, "thyroid_tsh")
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                common.step_due(s, user, "thyroid_tsh")
                cached.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                due_steps(s, "bench")
                base.append(time.perf_counter() - t0)
        with session_scope(url) as s:
            t0 = time.perf_counter()
            for _ in range(200):
                patient_version(s, "W-00005")
            version = (time.perf_counter() - t0) / 200
        best = min
        print(f"{N} synthetic women, SQLite; best of {REPEATS}\n")
        print(f"{'work':<48}{'ours ms':>10}{'baseline ms':>13}{'ratio':>8}")
        print(f"{'step filter after a write to one woman':<48}{best(ours) * 1e3:>10.1f}"
              f"{best(base) * 1e3:>13.1f}{best(base) / best(ours):>8.1f}")
        print(f"{'step filter, no write since':<48}{best(cached) * 1e3:>10.1f}"
              f"{best(base) * 1e3:>13.1f}{best(base) / best(cached):>8.1f}")
        print(f"{'patient page version statement':<48}{version * 1e3:>10.2f}{'':>13}{'':>8}")
        print("\nbaseline: every woman's pathway computed again (what each write cost before)")
    finally:
        dispose_engines()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
