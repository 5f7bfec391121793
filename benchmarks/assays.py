"""Benchmark: 4PL standard-curve fits of 1,000 ELISA plates, one core.

Target (issue 15): >= 200 plates/s on one core.

Work: 1,000 synthetic 96-well plates (seeded; truth drawn per plate around a
typical sandwich-ELISA curve: a ~ 0.05, d ~ 2.5-3.5, c ~ 80-300 pg/mL,
b ~ 0.9-1.5; 3 % multiplicative noise): 8 standards (0 and a 2-fold series
from 15.6 to 1,000) in duplicate and 40 samples in duplicate.

- ours, core: ``StandardCurve("4pl").fit`` on the 16 standard wells (means per
  standard, our starting values, analytic Jacobian, parameter intervals,
  standard QC) + back-calculation of all 96 wells.
- ours, full: ``analyse_plate`` (validation, fit, LLOQ/ULOQ, flags, 80
  sample wells -> 40 sample summaries; frozen result records).
- baseline (same run, same plates): the common script recipe, plain
  ``scipy.optimize.curve_fit`` of the same 4PL to the same means with naive
  starting values (min OD, slope 1, median concentration, max OD) and
  finite-difference Jacobian, then the same analytic inverse.
Both fits are compared (median relative difference of c) to show they reach
the same optimum where the baseline converges.

Times are CPU seconds of this process (``time.process_time``), the best of two
runs: on a shared machine wall-clock time counts other jobs' turns on the
core, CPU time is what one core spends on the plates. BLAS threads are set to 1.

Run: .venv/bin/python benchmarks/assays.py [N_PLATES]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import curve_fit  # noqa: E402

from decidua.assays.elisa import (  # noqa: E402
    PlateData,
    StandardCurve,
    Well,
    analyse_plate,
    models,
)

LEVELS = np.array([0, 15.625, 31.25, 62.5, 125, 250, 500, 1000.0])
ROWS = "ABCDEFGH"


def make_plates(n: int, seed: int = 15, competitive: bool = False):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    plates = []
    for k in range(n):
        low, high = rng.uniform(0.03, 0.08), rng.uniform(2.5, 3.5)
        a, d = (high, low) if competitive else (low, high)
        truth = (a, rng.uniform(0.9, 1.5), rng.uniform(80, 300), d)
        x_std = np.repeat(LEVELS, 2)
        x_smp = np.repeat(np.exp(rng.uniform(np.log(10), np.log(900), 40)), 2)
        x = np.concatenate([x_std, x_smp])
        od = models.logistic4(x, *truth) * (1 + 0.03 * rng.standard_normal(x.size))
        names = [f"{r}{c}" for c in range(1, 13) for r in ROWS]
        wells = tuple(
            Well(names[i], "standard", float(od[i]), concentration=float(x[i]))
            if i < 16 else Well(names[i], "sample", float(od[i]), sample=f"s{(i - 16) // 2}")
            for i in range(96)
        )
        plates.append((PlateData(f"P{k}", wells), x_std, od))
    return plates


def _means(x_std: np.ndarray, od: np.ndarray) -> np.ndarray:
    return od[:16].reshape(8, 2).mean(axis=1)


def run_core(plates) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    cs = np.empty(len(plates))
    t0 = time.process_time()
    for i, (_, x_std, od) in enumerate(plates):
        curve = StandardCurve("4pl").fit(x_std, od[:16])
        curve.concentration(od)
        cs[i] = curve.params["c"]
    return time.process_time() - t0, cs


def run_full(plates) -> float:  # type: ignore[no-untyped-def]
    t0 = time.process_time()
    for p, _, _ in plates:
        analyse_plate(p)
    return time.process_time() - t0


def _f4(x, a, b, c, d):  # type: ignore[no-untyped-def]
    return d + (a - d) / (1.0 + (x / c) ** b)


def run_baseline(plates) -> tuple[float, np.ndarray, int]:  # type: ignore[no-untyped-def]
    cs = np.full(len(plates), np.nan)
    failed = 0
    t0 = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (_, _, od) in enumerate(plates):
            y = _means(LEVELS, od)
            p0 = [y.min(), 1.0, float(np.median(LEVELS)), y.max()]
            try:
                p, _ = curve_fit(_f4, LEVELS, y, p0=p0, maxfev=10000)
            except RuntimeError:
                failed += 1
                continue
            models.inverse("4pl", od, p)
            cs[i] = p[2]
    return time.process_time() - t0, cs, failed


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(f"ELISA 4PL standard curves: {n:,} plates x (8 standards in duplicate + 40 samples "
          "in duplicate), one core")
    print(f"{'work':<58} {'CPU (s)':>8} {'plates/s':>9} {'vs baseline':>12}")
    rates = []
    for competitive in (False, True):
        kind = "competitive" if competitive else "sandwich"
        plates = make_plates(n, seed=15 + competitive, competitive=competitive)
        run_core(plates[:20])  # warm-up (imports, caches), not timed
        run_baseline(plates[:20])
        t_core, c_core = min((run_core(plates) for _ in range(2)), key=lambda r: r[0])
        t_full = min(run_full(plates) for _ in range(2))
        t_base, c_base, failed = min((run_baseline(plates) for _ in range(2)),
                                     key=lambda r: r[0])
        ok = np.isfinite(c_base) & (c_base > 0)
        agree = float(np.median(np.abs(c_core[ok] / c_base[ok] - 1))) if ok.any() else float("nan")
        for work, t in ((f"{kind}: baseline curve_fit, naive start, num. Jac.", t_base),
                        (f"{kind}: ours, core (StandardCurve.fit + back-calc)", t_core),
                        (f"{kind}: ours, full (analyse_plate: QC, LLOQ, samples)", t_full)):
            print(f"{work:<58} {t:>8.3f} {n / t:>9.0f} {t_base / t:>11.2f}x")
        print(f"  {kind}: baseline failed or reached c <= 0 on {int((~ok).sum())} of {n} plates "
              f"({failed} errors); median |c_ours / c_baseline - 1| = {agree:.1e} on the rest")
        rates += [n / t_core, n / t_full]
    verdict = "met" if min(rates) >= 200 else "NOT met"
    print(f"target >= 200 plates/s (CPU of one core): {verdict}; slowest of ours "
          f"{min(rates):.0f} plates/s (machine load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
