"""Benchmark: `decidua biopsy analyse --all` over 1,000 biopsies, in-process.

Target (issue 12): < 5 s, start-up excluded.

Set-up (not timed): a fresh migrated SQLite database with 1,000 biopsies of 1,000
women, each with the results the call reads - a qPCR result (ΔCq of the six timing
genes + PRL and DIO2, values from the EndoTime training rows), a timing placement, 2
CFU count wells and 10 uNK fields (Tuckerman protocol) - written in bulk, plus a
clinic CFU reference fitted with `reference fit` (so every component is evaluated).
Rows (median of ``--runs``, each on its own copy of the database):

- ``analyse --all (first: 1,000 calls + 2,000 summaries stored)``: load references,
  read every result, build evidence, centiles, the rule, write calls, summaries and
  their audit rows, commit;
- ``analyse --all (again: nothing new)``: the same, every call unchanged;
- baseline, same run: one SELECT of every assay result of those biopsies as ORM
  objects (the least any implementation reading them must do).

Run: .venv/bin/python benchmarks/screening.py [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import tempfile
import time
from pathlib import Path

N = 1000


def build(url: str) -> None:
    from decidua.reference.defaults import endotime_training_data
    from decidua.services.references import fit_reference
    from decidua.store import migrate
    from decidua.store import models as m
    from decidua.store.session import session_scope

    migrate.upgrade(url)
    train = endotime_training_data()
    genes = ["IL2RB", "IGFBP1", "CXCL14", "DPP4", "GPX3", "SLC15A2"]
    with session_scope(url) as s:
        s.add_all([m.Patient(id=i + 1, pseudonym=f"BM-{i:04d}", year_of_birth=1988)
                   for i in range(N)])
        s.flush()
        bios = []
        for i in range(N):
            t = train.iloc[i % len(train)]
            surge = dt.date(2024, 1, 1) + dt.timedelta(i % 300)
            bios.append(m.Biopsy(id=i + 1, code=f"BM-{i:04d}-B1", patient_id=i + 1,
                                 cycle_number=1, lh_surge_date=surge,
                                 biopsy_date=surge + dt.timedelta(int(t["LH"]))))
        s.add_all(bios)
        s.flush()
        rows = []
        for i in range(N):
            t = train.iloc[i % len(train)]
            markers = {g: {"delta_cq": float(t[g]), "cq_mean": 20 + float(t[g]), "cq_sd": 0.1,
                           "n_replicates": 2, "n_undetermined": 0, "flags": []} for g in genes}
            markers["PRL"] = {"delta_cq": 8.0 + (i % 7) * 0.3, "flags": []}
            markers["DIO2"] = {"delta_cq": 9.0 - (i % 5) * 0.4, "flags": []}
            q = m.AssayResult(biopsy_id=i + 1, kind="qpcr", result_key="plate=bench",
                              values={"markers": markers}, qc_status="pass", batch="b")
            lh = float(t["LH"])
            est = lh + ((i % 9) - 4) * 0.6
            rows += [q, m.AssayResult(
                biopsy_id=i + 1, kind="timing", result_key="timing:bench", qc_status="pass",
                values={"estimated_lh_day": est, "interval": [est - 1.3, est + 1.3],
                        "asynchronous": i % 17 == 0, "callable": True},
                analysis_version="default bench")]
            rows += [m.AssayResult(biopsy_id=i + 1, kind="cfu", result_key=f"w{w}",
                                   qc_status="pass", values={"plate": "P", "well": f"A{w}",
                                                             "cells_seeded": 500,
                                                             "colonies": 3 + (i + w) % 15})
                     for w in (1, 2)]
            rows += [m.AssayResult(biopsy_id=i + 1, kind="unk", result_key=f"f{f}",
                                   qc_status="pass", values={
                                       "field": f, "cd56_positive": 4 + (i * f) % 14,
                                       "stromal_cells": 100, "magnification": "x400",
                                       "protocol": "tuckerman2007"})
                     for f in range(1, 11)]
        s.add_all(rows)
    with session_scope(url) as s:
        fit_reference(s, "bench", "cfu_pct")


def baseline(url: str) -> int:
    from sqlalchemy import select

    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(url) as s:
        return len(list(s.scalars(select(m.AssayResult))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from decidua.services import biopsies as svc
    from decidua.store.session import dispose_engines, session_scope

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        master = d / "master.sqlite"
        build(f"sqlite:///{master}")
        dispose_engines()
        t_first, t_again, t_base = [], [], []
        for k in range(args.runs):
            copy = d / f"run{k}.sqlite"
            shutil.copy(master, copy)
            url = f"sqlite:///{copy}"
            baseline(url)  # warm the engine and ORM
            t0 = time.perf_counter()
            n = baseline(url)
            t_base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with session_scope(url) as s:
                rep = svc.analyse_biopsies(s, "bench", all_biopsies=True)
            t_first.append(time.perf_counter() - t0)
            assert rep.inserted == N, rep.inserted
            t0 = time.perf_counter()
            with session_scope(url) as s:
                rep2 = svc.analyse_biopsies(s, "bench", all_biopsies=True)
            t_again.append(time.perf_counter() - t0)
            assert rep2.inserted == 0 and rep2.unchanged == N
            calls = rep.to_dict()["calls"]
            dispose_engines()
    base = statistics.median(t_base)
    print(f"biopsy analyse --all, {N} biopsies ({n} stored results), median of {args.runs}")
    print(f"calls: {calls}")
    print(f"{'work':52s} {'decidua s':>10s} {'baseline s':>11s} {'ratio':>7s}")
    for name, ts in (("analyse --all (first: calls + summaries stored)", t_first),
                     ("analyse --all (again: nothing new)", t_again)):
        med = statistics.median(ts)
        print(f"{name:52s} {med:10.3f} {base:11.3f} {med / base:7.1f}")
    print(f"{'baseline: SELECT every assay result (ORM)':52s} {'':10s} {base:11.3f}")
    met = "met" if statistics.median(t_first) < 5 else "NOT met"
    print(f"target: analyse --all over {N} biopsies < 5 s -> {met}")


if __name__ == "__main__":
    main()
