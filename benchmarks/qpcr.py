"""Benchmark: a 96-well qPCR plate (16 biopsies) read, quantified, stored and placed.

Target (issue 12): import + analyse a 96-well plate of 16 biopsies in < 1 s,
in-process, start-up excluded.

The plate is a multiplex long CSV: 16 biopsies x the six timing genes = 96
wells, RPL19 in every well (so 192 Cq values), Cqs built from the ΔCt of the
first 16 EndoTime training biopsies. Rows of the table (median of ``--runs``):

- ``read + quantify``: :func:`decidua.io.qpcr.read_qpcr` and
  :func:`decidua.assays.qpcr.quantify.quantify` (ΔCq for every sample x target);
- ``import qpcr (store + place)``: :func:`decidua.services.biopsies.import_qpcr`
  into a fresh migrated SQLite database per run (migration and the patient /
  biopsy import are set-up, not timed): read, quantify, panel and map checks,
  placement of the 16 biopsies on the default timing reference, 32 results and
  their audit rows written, commit;
- baseline, same run: the same ΔCq with pandas alone (``read_csv``, group means,
  subtract the RPL19 mean), the least any tool must do.

Run: .venv/bin/python benchmarks/qpcr.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

N_BIOPSIES = 16


def write_inputs(d: Path) -> tuple[Path, Path, Path, Path]:
    from decidua.assays.timing import GENES, load_endotime_training_data

    train = load_endotime_training_data().head(N_BIOPSIES)
    plate = ["well,sample,target,cq"]
    patients = ["patient_id,year_of_birth,study_group"]
    biopsies = ["biopsy_id,patient_id,cycle_number,lh_surge_date,biopsy_date"]
    bmap = ["sample,biopsy_id"]
    n = 0
    for i, (_, t) in enumerate(train.iterrows()):
        code, pid = f"BM-{i:03d}-B1", f"BM-{i:03d}"
        patients.append(f"{pid},1988,rpl")
        lh = int(t["LH"])
        biopsies.append(f"{code},{pid},1,2024-03-01,2024-03-{1 + lh:02d}")
        bmap.append(f"S{i},{code}")
        for g in GENES:
            well = f"{'ABCDEFGH'[n // 12]}{n % 12 + 1}"
            n += 1
            plate.append(f"{well},S{i},RPL19,20.000")
            plate.append(f"{well},S{i},{g},{20.0 + float(t[g]):.3f}")
    files = []
    for name, lines in (("plate.csv", plate), ("patients.csv", patients),
                        ("biopsies.csv", biopsies), ("map.csv", bmap)):
        p = d / name
        p.write_text("\n".join(lines) + "\n")
        files.append(p)
    return tuple(files)  # type: ignore[return-value]


def fresh_db(d: Path, k: int, patients: Path, biopsies: Path) -> str:
    from decidua.io.importers import import_table
    from decidua.io.readers import read_table
    from decidua.store import migrate
    from decidua.store.session import session_scope

    url = f"sqlite:///{d / f'bench{k}.sqlite'}"
    migrate.upgrade(url)
    for kind, path in (("patients", patients), ("biopsies", biopsies)):
        with session_scope(url) as s:
            import_table(s, read_table(path), kind, actor="bench")
    return url


def baseline(plate: Path) -> None:
    import pandas as pd

    df = pd.read_csv(plate)
    means = df.groupby(["sample", "target"])["cq"].mean().unstack()
    (means.drop(columns="RPL19").sub(means["RPL19"], axis=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from decidua.assays.qpcr.quantify import quantify
    from decidua.assays.timing import load_default_reference
    from decidua.io.qpcr import read_qpcr
    from decidua.services import biopsies as svc
    from decidua.store.session import dispose_engines, session_scope

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        plate, patients, biopsies, bmap = write_inputs(d)
        urls = [fresh_db(d, k, patients, biopsies) for k in range(args.runs)]
        ref = load_default_reference()
        version = svc.default_reference_version()
        baseline(plate)  # warm pandas
        quantify(read_qpcr(plate))  # warm our imports
        t_quant, t_import, t_base = [], [], []
        for k in range(args.runs):
            t0 = time.perf_counter()
            baseline(plate)
            t_base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            quantify(read_qpcr(plate))
            t_quant.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with session_scope(urls[k]) as s:
                rep = svc.import_qpcr(s, "bench", plate, bmap, reference=ref,
                                      reference_version=version)
            t_import.append(time.perf_counter() - t0)
            assert rep.inserted == 2 * N_BIOPSIES, rep.inserted
        dispose_engines()
    base = statistics.median(t_base)
    print(f"96-well multiplex plate, {N_BIOPSIES} biopsies, median of {args.runs} runs")
    print(f"{'work':38s} {'decidua s':>10s} {'baseline s':>11s} {'ratio':>7s}")
    for name, ts in (("read + quantify", t_quant), ("import qpcr (store + place)", t_import)):
        med = statistics.median(ts)
        print(f"{name:38s} {med:10.4f} {base:11.4f} {med / base:7.1f}")
    print(f"{'baseline: pandas ΔCq only':38s} {'':10s} {base:11.4f}")
    met = "met" if statistics.median(t_import) < 1 else "NOT met"
    print(f"target: import + analyse < 1 s -> {met}")


if __name__ == "__main__":
    main()
