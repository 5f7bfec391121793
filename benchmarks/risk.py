"""Benchmark: score 100,000 women with the recurrence-risk model.

Targets: a cohort of 100,000 women scores in < 1 s (point estimates; issue 4, kept by
issue 13); intervals with parameter uncertainty (the fixed set of shipped parameter draws)
are timed separately, on a smaller cohort, against the same per-woman loop.

Work: two synthetic cohorts of 100,000 women (seeded): "clinic" (ages 20-45, 0-5 losses,
0-2 live births, 0-3 biopsies of each call, uniformly; since model 2026.12-3 each loss is a
second-trimester loss with probability 0.1 and otherwise after fetal heart activity with
probability 0.3, so the gestation counts multiply the evidence patterns) and "population"
(most women with no loss and no biopsy). Ours: ``decidua.risk.predict_many`` (vectorised,
one posterior per distinct evidence pattern). Baseline, measured in the same run: the naive
per-woman loop (``decidua.risk.predict`` called once per woman), timed on the first 2,000
women and scaled linearly to 100,000 (the full loop would take minutes). The two agree to
machine precision on the women both score (checked below).

Run: .venv/bin/python benchmarks/risk.py [N_WOMEN] [N_INTERVAL_WOMEN] [BASELINE_SAMPLE]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from decidua.domain import Outcome, PregnancyRecord
from decidua.risk import default_model, predict, predict_many

BASELINE_SAMPLE = 2000
INTERVAL_BASELINE_SAMPLE = 100


def cohort(kind: str, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "clinic":
        out = {
            "age": rng.uniform(20, 45, n),
            "n_losses": rng.integers(0, 6, n),
            "n_live_births": rng.integers(0, 3, n),
            "n_biopsy_abnormal": rng.integers(0, 4, n),
            "n_biopsy_normal": rng.integers(0, 4, n),
        }
        late = rng.binomial(out["n_losses"], 0.1)
        out["n_losses_second_trimester"] = late
        out["n_losses_after_heart_activity"] = rng.binomial(out["n_losses"] - late, 0.3)
        return out
    losses = rng.choice([0, 1, 2, 3, 4], size=n, p=[0.85, 0.1, 0.03, 0.015, 0.005])
    biopsied = losses >= 2
    return {
        "age": rng.uniform(18, 46, n),
        "n_losses": losses,
        "n_live_births": rng.integers(0, 3, n),
        "n_biopsy_abnormal": np.where(biopsied, rng.integers(0, 3, n), 0),
        "n_biopsy_normal": np.where(biopsied, rng.integers(0, 3, n), 0),
    }


def split(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Counts for ``predict_many`` of the history "live births, then losses" (model
    2026.12-2: live births before the last run of losses are earlier evidence)."""
    earlier = c["n_losses"] > 0
    return {"n_live_births": np.where(earlier, 0, c["n_live_births"]),
            "n_live_births_earlier": np.where(earlier, c["n_live_births"], 0)}


def kinds(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gestation counts of the losses (all in the last run), when the cohort has them."""
    return {k: c[k] for k in ("n_losses_second_trimester", "n_losses_after_heart_activity")
            if k in c}


def history_of(c: dict[str, np.ndarray], i: int) -> list:
    """Woman ``i``'s pregnancies as records: live births, then second-trimester losses
    (16 weeks), losses after fetal heart activity (9 weeks), other losses (8 weeks)."""
    nb, nl = int(c["n_live_births"][i]), int(c["n_losses"][i])
    late = int(c.get("n_losses_second_trimester", np.zeros(i + 1, int))[i])
    heart = int(c.get("n_losses_after_heart_activity", np.zeros(i + 1, int))[i])
    specs = ([(Outcome.LIVE_BIRTH, 39.0, None)] * nb + [(Outcome.MISCARRIAGE, 16.0, True)] * late
             + [(Outcome.MISCARRIAGE, 9.0, True)] * heart
             + [(Outcome.MISCARRIAGE, 8.0, None)] * (nl - late - heart))
    return [PregnancyRecord(j, o, g, fetal_heart_activity=f)
            for j, (o, g, f) in enumerate(specs, 1)]


def baseline(c: dict[str, np.ndarray], m: int) -> tuple[float, np.ndarray]:
    out = np.empty(m)
    t0 = time.perf_counter()
    for i in range(m):
        history = history_of(c, i)
        calls = (["abnormal"] * int(c["n_biopsy_abnormal"][i])
                 + ["normal"] * int(c["n_biopsy_normal"][i]))
        out[i] = predict(float(c["age"][i]), history, calls).p_loss
    return time.perf_counter() - t0, out


def baseline_intervals(c: dict[str, np.ndarray], m: int) -> tuple[float, np.ndarray]:
    out = np.empty((m, 2))
    t0 = time.perf_counter()
    for i in range(m):
        history = history_of(c, i)
        calls = (["abnormal"] * int(c["n_biopsy_abnormal"][i])
                 + ["normal"] * int(c["n_biopsy_normal"][i]))
        out[i] = predict(float(c["age"][i]), history, calls).interval
    return time.perf_counter() - t0, out


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_int = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    base_n = int(sys.argv[3]) if len(sys.argv) > 3 else BASELINE_SAMPLE
    default_model().predict_many([30.0], 1)  # load parameters and draws once (not timed)
    rows = []
    for seed, kind in enumerate(("clinic", "population"), start=1):
        c = cohort(kind, n, seed)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            sp = split(c)
            res = predict_many(c["age"], c["n_losses"], sp["n_live_births"],
                               c["n_biopsy_abnormal"], c["n_biopsy_normal"], interval=None,
                               n_live_births_earlier=sp["n_live_births_earlier"], **kinds(c))
            best = min(best, time.perf_counter() - t0)
        m = min(base_n, n)
        t_base, p_base = baseline(c, m)
        assert np.allclose(p_base, res.p_loss[:m], rtol=1e-12, atol=0), "mismatch"
        t_base_full = t_base * n / m
        rows.append((f"{kind} cohort, {n:,} women", best, t_base_full,
                     f"per-woman loop ({m:,} timed, x{n / m:g})"))
    int_rows = []
    n_draws = len(default_model().draws)
    for seed, kind in enumerate(("clinic", "population"), start=1):
        c = {k: v[:n_int] for k, v in cohort(kind, n_int, seed).items()}
        t0 = time.perf_counter()
        sp = split(c)
        res = predict_many(c["age"], c["n_losses"], sp["n_live_births"],
                           c["n_biopsy_abnormal"], c["n_biopsy_normal"], interval="full",
                           n_live_births_earlier=sp["n_live_births_earlier"], **kinds(c))
        t_ours = time.perf_counter() - t0
        m = min(INTERVAL_BASELINE_SAMPLE, n_int, base_n)
        t_base, iv = baseline_intervals(c, m)
        assert np.allclose(iv[:, 0], res.lower[:m], atol=1e-9), "interval mismatch"
        int_rows.append((f"{kind}, {n_int:,} women, intervals", t_ours, t_base * n_int / m,
                         f"per-woman loop ({m:,} timed, x{n_int / m:g}); {n_draws} draws"))
    print("Recurrence-risk scoring (research use only; not a diagnostic device)")
    print(f"{'work':<34} {'ours (s)':>9} {'baseline (s)':>13} {'ratio':>8}  baseline")
    for work, ours, base, how in rows:
        print(f"{work:<34} {ours:>9.3f} {base:>13.1f} {base / ours:>8.0f}x  {how}")
    ok = all(r[1] < 1.0 for r in rows)
    print(f"target < 1 s per 100,000 women (point estimates): {'met' if ok else 'NOT met'}")
    for work, ours, base, how in int_rows:
        print(f"{work:<34} {ours:>9.3f} {base:>13.1f} {base / ours:>8.0f}x  {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
