"""Benchmark: import 100,000 pregnancy rows into SQLite.

Target (issue 2): < 30 s on the project's 2-core machine. Baseline, measured
in the same run: the same rows written with the standard library's sqlite3
``executemany`` (no reading, validation, comparison or audit), i.e. the
floor of what any importer can reach on this disk.

Run: .venv/bin/python benchmarks/import_pregnancies.py [N_ROWS]
"""

from __future__ import annotations

import csv
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from decidua.io.importers import import_file
from decidua.store import migrate
from decidua.store.session import dispose_engines

OUTCOMES = np.array(["live_birth", "miscarriage", "biochemical", "ectopic", "termination"])


def make_files(folder: Path, n_rows: int, seed: int = 1) -> tuple[Path, Path, list[tuple]]:
    rng = np.random.default_rng(seed)
    per = 4
    n_pat = n_rows // per
    pats = folder / "patients.csv"
    with pats.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["patient_id", "year_of_birth", "bmi", "consent_research"])
        for i in range(n_pat):
            w.writerow([f"B{i:06d}", int(rng.integers(1960, 2000)), 24.5, "true"])
    preg = folder / "pregnancies.csv"
    raw = []
    with preg.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["patient_id", "order", "outcome", "gestation_weeks", "outcome_date"])
        outcomes = rng.choice(OUTCOMES, size=n_rows, p=[0.6, 0.25, 0.1, 0.03, 0.02])
        for k in range(n_rows):
            o = outcomes[k]
            g = 39.0 if o == "live_birth" else 8.0 if o != "biochemical" else 4.5
            year = 2000 + (k % per) * 4
            row = (f"B{k // per:06d}", k % per + 1, o, g, f"{year}-03-15")
            w.writerow(row)
            raw.append(row)
    return pats, preg, raw


def baseline(raw: list[tuple], path: Path) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, pat TEXT, ord INT, outcome TEXT, g REAL, d TEXT)"
    )
    t0 = time.perf_counter()
    with con:
        con.executemany("INSERT INTO p (pat, ord, outcome, g, d) VALUES (?,?,?,?,?)", raw)
    dt = time.perf_counter() - t0
    con.close()
    return dt


def main(n_rows: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pats, preg, raw = make_files(folder, n_rows)
        url = f"sqlite:///{folder / 'bench.sqlite'}"
        migrate.upgrade(url)
        import_file(pats, "patients", url=url, actor="bench")
        t0 = time.perf_counter()
        rep = import_file(preg, "pregnancies", url=url, actor="bench")
        ours = time.perf_counter() - t0
        assert rep.inserted == n_rows
        t0 = time.perf_counter()
        again = import_file(preg, "pregnancies", url=url, actor="bench")
        reimport = time.perf_counter() - t0
        assert again.unchanged == n_rows
        dispose_engines()
        base = baseline(raw, folder / "baseline.sqlite")
    print(f"{'work':48} {'decidua s':>10} {'baseline s':>11} {'ratio':>7}")
    print(
        f"{f'import {n_rows:,} pregnancy rows (SQLite)':48} {ours:10.2f} {base:11.3f}"
        f" {ours / base:7.1f}"
    )
    print(f"{f're-import same {n_rows:,} rows (no-op)':48} {reimport:10.2f} {'':>11} {'':>7}")
    print("baseline: sqlite3 executemany of the same rows, no validation/audit (same run)")
    print(f"target: < 30 s -> {'MET' if ours < 30 else 'MISSED'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
