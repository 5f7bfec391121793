"""Benchmark: endometrial timing fit (257 biopsies) vs EndoTime in R, and placement latency.

Targets (issue 3): fit >= 50x faster than EndoTime at the same number of
iterations; placing one new biopsy on a saved reference < 10 ms.

Baseline, measured in the same run when available: the EndoTime R package
(github.com/AE-Mitchell/EndoTime, commit 8abb0ad) on the same CSV with the
same iteration cap. EndoTime has no iteration cap (on this cohort it never
meets its stop rule), so it is run through an R driver kept outside this
repository, named by the environment variable ``ENDOTIME_DRIVER``. The driver
is called as ``Rscript $ENDOTIME_DRIVER <csv> <seed> <max_iterations> <out_prefix>``
and must write ``<out_prefix>_meta.txt`` containing a line ``elapsed_s=<seconds>``
(time spent inside ``endotime_train``). Without ``Rscript`` or the driver the
baseline is skipped with a message. tests/data/timing/README.md describes the
driver used for the committed fixtures.

Run: .venv/bin/python benchmarks/timing.py [--iterations N] [--r-iterations N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from decidua.assays.timing import (
    TimingReference,
    load_default_reference,
    load_endotime_training_data,
)


def _time_fit(df, iterations: int, seed: int = 1, n_seeds: int | None = None) -> float:  # type: ignore[no-untyped-def]
    """Seconds for one fit (default settings, i.e. the seed ensemble, unless ``n_seeds``)."""
    ref = TimingReference() if n_seeds is None else TimingReference(n_seeds=n_seeds)
    t0 = time.perf_counter()
    ref.fit(df, seed=seed, max_iterations=iterations)
    return time.perf_counter() - t0


def _time_r(csv: Path, iterations: int, seed: int = 1) -> tuple[float | None, str]:
    rscript = shutil.which("Rscript")
    driver = os.environ.get("ENDOTIME_DRIVER")
    if rscript is None:
        return None, "Rscript not found: R baseline skipped"
    if not driver or not Path(driver).exists():
        return None, "ENDOTIME_DRIVER not set (see module docstring): R baseline skipped"
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "bench")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [rscript, driver, str(csv), str(seed), str(iterations), prefix],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            return None, f"R baseline failed: {proc.stderr.strip()[-300:]}"
        meta = Path(prefix + "_meta.txt")
        for line in meta.read_text().splitlines() if meta.exists() else []:
            if line.startswith("elapsed_s="):
                return float(line.split("=", 1)[1]), "EndoTime (R), time inside endotime_train"
        return wall, "EndoTime (R), wall time of Rscript"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8, help="iteration cap for both fits")
    parser.add_argument(
        "--r-iterations",
        type=int,
        default=None,
        help="iteration cap for R and the matched Decidua fit (default: --iterations)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    r_iter = args.r_iterations or args.iterations

    df = load_endotime_training_data()
    _time_fit(df, 1)  # compile / warm the numba kernels (cached on disk after the first run)
    fits = [_time_fit(df, args.iterations, seed=s) for s in range(1, args.repeats + 1)]
    fit_default = [_time_fit(df, TimingReference().max_iterations, seed=1)]
    fit_single = _time_fit(df, TimingReference().max_iterations, seed=1, n_seeds=1)
    matched = fits if r_iter == args.iterations else [_time_fit(df, r_iter)]

    ref = TimingReference().fit(df, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = ref.save(Path(tmp))
        loaded = TimingReference.load(path)
        one = df.iloc[[17]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(20):
                loaded.place(one)
            lat = []
            for i in range(300):
                row = df.iloc[[i % len(df)]]
                t0 = time.perf_counter()
                loaded.place(row)
                lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loaded_again = TimingReference.load(path)
        load_s = time.perf_counter() - t0
        del loaded_again

    t0 = time.perf_counter()
    ref.calibrate(df)
    calib_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    shipped = load_default_reference()
    load_default_s = time.perf_counter() - t0
    lat_default = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(300):
            row = df.iloc[[i % len(df)]]
            t0 = time.perf_counter()
            shipped.place(row)
            lat_default.append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "training_data.csv"
        df.to_csv(csv, index=False)
        r_time, r_note = _time_r(csv, r_iter)

    rows = [
        (
            f"fit 257 biopsies, {args.iterations} iterations (median of {len(fits)})",
            float(np.median(fits)),
            None,
        ),
        (
            f"fit 257 biopsies, default stop rule ({ref.result.iterations} it.)",  # type: ignore[union-attr]
            fit_default[0],
            None,
        ),
        ("fit 257 biopsies, default stop rule, single seed (n_seeds=1)", fit_single, None),
        (f"fit 257 biopsies, {r_iter} iterations vs EndoTime", float(np.median(matched)), r_time),
        ("calibrate interval + out-of-phase (9 refits, 1 per batch)", calib_s, None),
        ("load reference.json", load_s, None),
        ("load the shipped default reference", load_default_s, None),
        (
            "place 1 biopsy on the default reference (median of 300)",
            float(np.median(lat_default)),
            None,
        ),
        ("place 1 biopsy on the default reference (best of 300)", min(lat_default), None),
        ("place 1 biopsy (median of 300)", float(np.median(lat)), None),
        ("place 1 biopsy (95th percentile)", float(np.quantile(lat, 0.95)), None),
    ]
    print(f"{'work':58s} {'decidua':>12s} {'baseline':>12s} {'ratio':>8s}")
    for name, ours, base in rows:
        b = f"{base:10.2f} s" if base is not None else f"{'-':>12s}"
        ratio = f"{base / ours:7.0f}x" if base is not None else f"{'-':>8s}"
        o = f"{ours * 1000:9.2f} ms" if ours < 1 else f"{ours:10.2f} s"
        print(f"{name:58s} {o:>12s} {b:>12s} {ratio:>8s}")
    print(f"baseline: {r_note}")
    print("targets: fit >= 50x faster than EndoTime; placement < 10 ms")


if __name__ == "__main__":
    main()
