"""Agreement with the EndoTime R package on its own training data (committed R outputs).

Fixtures (tests/data/timing/, provenance in its README):

* ``endotime_seed<S>_estimates.csv`` — full EndoTime runs (``endotime_train``
  with its defaults, capped at 8 iterations from outside), one per seed; every
  file present is used. Seeds 1 and 2 read the rows in file order, seed 3 and
  later with the rows shuffled (EndoTime's tie-breaking depends on row order).
* ``endotime_step_seed7_one_step.csv`` — one EndoTime ordering step and the
  asynchrony scores computed by the R code from fixed inputs: Decidua must
  reproduce these numbers exactly, given the same starting times.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decidua.assays.timing import (
    GENES,
    TimingReference,
    segmented_threshold,
)
from decidua.assays.timing.density import _gene_peak_times
from decidua.assays.timing.kernels import _loo_densities
from decidua.assays.timing.ordering import _assign, _with_pseudo

DATA = Path(__file__).resolve().parents[2] / "data" / "timing"
ONE_STEP = DATA / "endotime_step_seed7_one_step.csv"
ONE_STEP_META = DATA / "endotime_step_seed7_one_step_meta.txt"
#: Share of biopsies whose asynchrony call must match EndoTime's majority call over its
#: runs (a tied vote counts 1/2).  Issue 3 asked for 0.95 against a run; EndoTime's own runs
#: agree with each other on only 0.80-0.98, and the majority itself moves as runs are added:
#: a single-seed fit (seed 1) matched it on 0.946 with 3 runs, 0.879 with 5, 0.895 with 7.
#: The default seed ensemble (8 seeds) matches the 7-run majority on 0.938 and the 8-run
#: majority on 0.938 (0.945 leaving out the 4 tied biopsies); docs/timing.md.
MIN_MAJORITY_AGREEMENT = 0.92
#: Decidua must agree with EndoTime at least as well as EndoTime agrees with itself, up to
#: this much (about 2.6 of 257 biopsies).  Measured with 7 runs the two are equal to 3
#: decimals for a single-seed fit (0.895 vs 0.894 pairwise, 0.905 vs 0.905 leave-one-run-out; the
#: default seed ensemble: 0.913 and 0.937); adding one run
#: moved EndoTime's own mean pairwise agreement by 0.005-0.008.
AGREEMENT_TOLERANCE = 0.01
#: Share of biopsies on which every EndoTime run makes the same call and Decidua makes it too.
MIN_UNANIMOUS_AGREEMENT = 0.97
#: How far Decidua's mean agreement with single EndoTime runs may fall below the best any
#: fixed call could reach (calling each biopsy as the majority of the runs does).
MAX_GAP_TO_CEILING = 0.04


def _scaled_corrected(training: pd.DataFrame) -> np.ndarray:
    """EndoTime's preprocessing, written out independently of TimingReference.fit."""
    genes = list(GENES)
    inv = -training[genes].to_numpy(float)
    x = (inv - inv.min(0)) / (inv.max(0) - inv.min(0))
    batch = training["BATCH"].to_numpy()
    means = {b: x[batch == b].mean() for b in np.unique(batch)}
    top = max(means.values())
    return x + np.array([top - means[b] for b in batch])[:, None]


@pytest.fixture(scope="module")
def one_step(training: pd.DataFrame) -> pd.DataFrame:
    tab = pd.read_csv(ONE_STEP, dtype={"ID": str})
    assert list(tab["ID"]) == list(training["ID"])
    return tab


def test_one_ordering_step_matches_r_exactly(one_step: pd.DataFrame, training) -> None:  # type: ignore[no-untyped-def]
    x = _scaled_corrected(training)
    raw = _assign(one_step["initial_time"].to_numpy(), x, 80, 80)
    np.testing.assert_allclose(raw, one_step["raw_assignment"].to_numpy(), rtol=0, atol=1e-9)


def test_asynchrony_scores_and_threshold_match_r(one_step: pd.DataFrame, training) -> None:  # type: ignore[no-untyped-def]
    x = _scaled_corrected(training)
    times = one_step["new_assignment"].to_numpy()
    st, sx, pos = _with_pseudo(times, x, 80)
    med, dens = _loo_densities(st, sx, pos, 80)
    score = _gene_peak_times(med, dens).std(axis=1, ddof=1)
    np.testing.assert_allclose(score, one_step["asynchrony_score"].to_numpy(), atol=1e-9)
    meta = dict(line.split("=", 1) for line in ONE_STEP_META.read_text().split())
    threshold, psi = segmented_threshold(score)
    # R's segmented converges to the same breakpoint to within its own tolerance
    assert abs(psi - float(meta["psi"])) < 1.0
    assert threshold == pytest.approx(float(meta["threshold"]), abs=1e-9)


def _abs_hours(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a - b).abs() * 24


def test_estimated_time_within_endotime_run_to_run_variation(
    reference: TimingReference, endotime_runs: dict[int, pd.DataFrame], training
) -> None:  # type: ignore[no-untyped-def]
    ids = list(training["ID"])
    runs = {s: r.set_index("ID").loc[ids] for s, r in endotime_runs.items()}
    ours = reference.estimates().set_index("ID").loc[ids]
    r_vs_r = pd.concat(
        [_abs_hours(runs[a]["eLH"], runs[b]["eLH"]) for a, b in itertools.combinations(runs, 2)]
    )
    us_vs_r = pd.concat([_abs_hours(ours["estimated_lh_day"], r["eLH"]) for r in runs.values()])
    # pooled over runs / pairs: Decidua is no further from EndoTime than EndoTime from itself
    assert us_vs_r.median() <= r_vs_r.median()
    assert us_vs_r.quantile(0.95) <= r_vs_r.quantile(0.95)
    # and it sits near the centre of EndoTime's runs: closer to their mean than 1 day
    # for 95% of biopsies
    centre = pd.concat([r["eLH"] for r in runs.values()], axis=1).mean(axis=1)
    assert _abs_hours(ours["estimated_lh_day"], centre).quantile(0.95) <= 24


def _our_calls_and_r_calls(
    reference: TimingReference, endotime_runs: dict[int, pd.DataFrame], training: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Decidua's asynchrony calls (n,) and EndoTime's (runs, n), in training-data order."""
    ids = list(training["ID"])
    ours = reference.estimates().set_index("ID").loc[ids, "asynchronous"].to_numpy(bool)
    calls = np.array(
        [r.set_index("ID").loc[ids, "asynchronous"].to_numpy(bool) for r in endotime_runs.values()]
    )
    return ours, calls


def test_asynchrony_disagreements_sit_where_endotime_runs_split(
    reference: TimingReference, endotime_runs: dict[int, pd.DataFrame], training
) -> None:  # type: ignore[no-untyped-def]
    """Where every EndoTime run makes the same call, Decidua makes it too.

    And the split biopsies bound what any method can reach: a fixed call agrees
    with a random EndoTime run on at most mean(max(p, 1 - p)) of biopsies (p: the
    share of runs flagging the biopsy), which is below the issue's 95%.
    """
    ours, calls = _our_calls_and_r_calls(reference, endotime_runs, training)
    k = len(calls)
    votes = calls.sum(axis=0)
    unanimous = (votes == 0) | (votes == k)
    assert (ours[unanimous] == calls[0][unanimous]).mean() >= MIN_UNANIMOUS_AGREEMENT
    share = votes / k
    ceiling = np.maximum(share, 1 - share).mean()
    per_run = np.mean([(ours == c).mean() for c in calls])
    assert ceiling < 0.95
    assert per_run >= ceiling - MAX_GAP_TO_CEILING


def _agreement_with_majority(call: np.ndarray, runs: np.ndarray) -> float:
    """Share of biopsies where ``call`` matches the runs' majority (a tie counts 1/2)."""
    votes = runs.sum(axis=0)
    tie = votes * 2 == len(runs)
    return float(np.where(tie, 0.5, call == (votes * 2 > len(runs))).mean())


def test_asynchrony_calls_are_as_close_to_endotime_consensus_as_an_endotime_run(
    reference: TimingReference, endotime_runs: dict[int, pd.DataFrame], training
) -> None:  # type: ignore[no-untyped-def]
    """Leave one EndoTime run out: compare it and Decidua with the other runs' majority.

    Decidua must match the consensus of the other runs at least as well as the left-out
    EndoTime run does (averaged over which run is left out), up to AGREEMENT_TOLERANCE.
    """
    ours, calls = _our_calls_and_r_calls(reference, endotime_runs, training)
    assert len(calls) >= 3
    endotime, decidua = [], []
    for j in range(len(calls)):
        others = np.delete(calls, j, axis=0)
        endotime.append(_agreement_with_majority(calls[j], others))
        decidua.append(_agreement_with_majority(ours, others))
    assert np.mean(decidua) >= np.mean(endotime) - AGREEMENT_TOLERANCE


def test_asynchrony_calls_agree_with_endotime(
    reference: TimingReference, endotime_runs: dict[int, pd.DataFrame], training
) -> None:  # type: ignore[no-untyped-def]
    """Calls agree with EndoTime as well as its runs agree with each other (to 0.01).

    Measured with 7 runs (docs/timing.md): EndoTime run pairs agree on 0.80-0.97 of
    biopsies (mean 0.894; runs on the file's row order differ most from shuffled ones);
    Decidua (seed 1, default seed ensemble) agrees with the runs on 0.887-0.934 (mean
    0.913) and with their majority call on 0.938 (single-seed fit: 0.829-0.949, mean
    0.895; majority 0.895). The issue's 95% per-run target is not met by EndoTime
    itself: no fixed call can exceed 0.931 against a random run.
    """
    ours, calls = _our_calls_and_r_calls(reference, endotime_runs, training)
    k = len(calls)
    pairs = itertools.combinations(range(k), 2)
    r_vs_r = np.mean([(calls[a] == calls[b]).mean() for a, b in pairs])
    us_vs_r = np.mean([(ours == c).mean() for c in calls])
    assert us_vs_r >= r_vs_r - AGREEMENT_TOLERANCE
    assert _agreement_with_majority(ours, calls) >= MIN_MAJORITY_AGREEMENT
