"""The default reference shipped with Decidua and the calibration of placement intervals.

The shipped file (``decidua/reference/endotime/reference.json``) is refitted with
``python -m decidua.assays.timing --write-default-reference``. These tests make
sure it never drifts from the code silently: the session reference (default
settings, seed 1) must equal it, and its stored leave-one-batch-out results must
be what the code produces for the held-out batch fitted in this session.
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from decidua import RESEARCH_USE_LABEL
from decidua.assays.timing import (
    CALIBRATION_STEP,
    DEFAULT_N_SEEDS,
    DEFAULT_REFERENCE_COMMAND,
    DEFAULT_REFERENCE_SEED,
    INTERVAL_LEVEL,
    MODEL_VERSION,
    TimingReference,
    default_reference_path,
    ensemble_seeds,
    platt_apply,
    platt_fit,
    reliability,
    training_data_sha256,
)
from decidua.assays.timing.calibration import (
    _conformal_mass,
    _held_out_scores,
    _out_of_phase_calibration,
)
from decidua.cli import app
from decidua.cli.timing import main
from decidua.errors import ModelError

#: Seed of the session reference and held-out batch of the session fold (as conftest.py).
SEED = 1
HELD_OUT_BATCH = "9"

#: Absolute tolerance when comparing the shipped reference with a fresh fit.  On the
#: machine that wrote it the two are bit-identical (JSON floats round-trip exactly);
#: the tolerance only absorbs last-bit differences of another numpy/numba build
#: (summation order in compiled loops).  A tie broken differently would move a
#: biopsy by a whole bin (>= 0.02 day) and fail it: then regenerate the file.
ATOL = 1e-9
#: Allowed distance of cross-validated coverage from the nominal level.  With 257
#: biopsies in 9 correlated batches the binomial SE alone is ~0.015-0.019 at 90-95%.
COVERAGE_TOLERANCE = 0.03
#: Bound on the expected calibration error (10 equal-width bins) of the out-of-phase
#: probability on held-out batches (Platt map fitted on the other 8 batches).  Measured
#: 0.025 (raw mass: 0.051); with 13 events in 257 biopsies a bin of a few biopsies
#: moves the ECE by ~0.01, so the bound leaves that much room.
MAX_OUT_OF_PHASE_ECE = 0.04

runner = CliRunner()


def _numbers(d: dict, *keys: str) -> np.ndarray:
    out = d
    for k in keys:
        out = out[k]
    if isinstance(out, dict):
        return np.concatenate([np.asarray(v, float).ravel() for v in out.values()])
    return np.asarray(out, float)


def test_shipped_reference_equals_a_fresh_fit(
    shipped: TimingReference, reference: TimingReference
) -> None:
    assert SEED == DEFAULT_REFERENCE_SEED  # the session fit uses the documented seed
    a, b = shipped.to_dict(), reference.to_dict()
    assert a["model_version"] == b["model_version"] == MODEL_VERSION
    assert a["genes"] == b["genes"]
    assert a["cohort"]["ID"] == b["cohort"]["ID"]
    assert a["cohort"]["BATCH"] == b["cohort"]["BATCH"]
    assert a["fit"]["stop_reason"] == b["fit"]["stop_reason"]
    assert a["fit"]["iterations"] == b["fit"]["iterations"]
    for s in (
        "gene_window",
        "aggregate_window",
        "max_iterations",
        "patience",
        "final",
        "seed",
        "n_seeds",
        "member_seeds",
    ):
        assert a["settings"][s] == b["settings"][s], s
    assert a["fit"]["member_stop_reasons"] == b["fit"]["member_stop_reasons"]
    assert a["fit"]["member_iterations"] == b["fit"]["member_iterations"]
    assert a["batch_shifts"] == pytest.approx(b["batch_shifts"], abs=ATOL)
    for keys in (
        ("cohort", "pseudotime"),
        ("cohort", "estimated_lh_day"),
        ("cohort", "asynchrony_score"),
        ("fit", "distances"),
        ("time_map",),
        ("curves", "mean"),
        ("curves", "sd"),
        ("asynchrony_curves", "mean"),
        ("scaling", "min"),
        ("scaling", "max"),
    ):
        np.testing.assert_allclose(_numbers(a, *keys), _numbers(b, *keys), rtol=0, atol=ATOL)
    assert a["asynchrony_threshold"] == pytest.approx(b["asynchrony_threshold"], abs=ATOL)
    assert a["out_of_phase_days"] == pytest.approx(b["out_of_phase_days"], abs=ATOL)


def test_shipped_reference_provenance(shipped: TimingReference) -> None:
    prov = shipped.provenance
    assert prov["data_sha256"] == training_data_sha256()
    assert prov["seed"] == DEFAULT_REFERENCE_SEED
    # the seed ensemble: its size and the members' seeds are recorded
    assert prov["n_seeds"] == DEFAULT_N_SEEDS > 1
    assert prov["member_seeds"] == list(ensemble_seeds(DEFAULT_REFERENCE_SEED, DEFAULT_N_SEEDS))
    assert prov["model_version"] == MODEL_VERSION
    assert prov["decidua_version"]
    assert prov["command"] == DEFAULT_REFERENCE_COMMAND
    raw = json.loads(default_reference_path().read_text())
    assert raw["provenance"] == prov
    assert raw["calibration"]["seed"] == DEFAULT_REFERENCE_SEED


def test_training_biopsies_placed_on_shipped_reference(shipped: TimingReference, training) -> None:
    placed = shipped.place(training).to_frame()
    est = shipped.estimates()
    assert list(placed["ID"]) == list(est["ID"])
    diff_h = (placed["estimated_lh_day"] - est["estimated_lh_day"]).abs() * 24
    # measured (seed ensemble of 8, the default): median 2.2 h, 95th percentile 26.7 h; a
    # single-seed reference gave 1.2 h and 20.0 h (one ordering bin ~ 0.7 h). A placement is
    # one density peak on the final curves while the fitted time averages 8 orderings, so the
    # two agree less closely (docs/timing.md, *Seed ensemble*).
    assert diff_h.median() < 3
    assert diff_h.quantile(0.95) < 30
    assert (placed["asynchronous"] == est["asynchronous"]).mean() >= 0.95
    assert (placed["interval_low"] <= placed["estimated_lh_day"]).all()
    assert (placed["estimated_lh_day"] <= placed["interval_high"]).all()


def test_stored_fold_results_match_a_fresh_fold(
    shipped: TimingReference, fold_reference: TimingReference, training
) -> None:
    """The shipped leave-one-batch-out scores are what the code gives for batch 9."""
    cal = shipped.calibration
    assert cal is not None
    assert sorted(cal["folds"]) == sorted(training["BATCH"].astype(str).unique())
    held_out = cal["held_out"]
    idx = np.flatnonzero(np.asarray(held_out["BATCH"]) == HELD_OUT_BATCH)
    assert len(idx) == 33
    full = shipped.result.estimated_lh_day[idx]  # type: ignore[union-attr]
    grid = np.round(np.arange(1, 101) * CALIBRATION_STEP, 10)
    rows = training.iloc[idx]
    est, score, parts_new = _held_out_scores(fold_reference, rows, full, grid)
    np.testing.assert_allclose(est, np.asarray(held_out["estimated_lh_day"])[idx], atol=ATOL)
    np.testing.assert_array_equal(score, np.asarray(held_out["score"])[idx])
    _, score_u, _ = _held_out_scores(fold_reference, rows, full, grid, unknown_batch=True)
    np.testing.assert_array_equal(score_u, np.asarray(held_out["score_unknown_batch"])[idx])
    # the held-out raw out-of-phase masses (fold reference, full reference's cut)
    btime, post = parts_new[0]
    lh = shipped.result.lh_day[idx]  # type: ignore[union-attr]
    raw = fold_reference._out_of_phase(btime, post, lh, cut=shipped.state.out_of_phase_days)
    np.testing.assert_allclose(raw, np.asarray(held_out["out_of_phase_raw"])[idx], atol=ATOL)
    # place() at the calibrated mass covers exactly the biopsies whose score allows it
    ref8 = copy.copy(fold_reference)
    ref8.calibration = cal
    placed = ref8.place(rows)
    inside = (placed.interval_low <= full) & (full <= placed.interval_high)
    np.testing.assert_array_equal(inside, score <= cal["mass_level"] + 1e-12)
    assert placed.interval_calibrated


@pytest.mark.parametrize("case", ["new batch", "unknown batch"])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_calibrated_coverage_on_held_out_folds(
    shipped: TimingReference, case: str, level: float
) -> None:
    """Calibrate on 8 folds' scores, count the 9th fold's coverage; pool over folds."""
    cal = shipped.calibration
    assert cal is not None
    key = "score" if case == "new batch" else "score_unknown_batch"
    score = np.asarray(cal["held_out"][key])
    batch = np.asarray(cal["held_out"]["BATCH"])
    covered = np.zeros(len(score), dtype=bool)
    for b in cal["folds"]:
        f = batch == b
        covered[f] = score[f] <= _conformal_mass(score[~f], level) + 1e-12
    assert abs(covered.mean() - level) <= COVERAGE_TOLERANCE
    # before calibration the nominal mass over-covers (the gap this calibration closes)
    assert (score <= level + 1e-12).mean() > level + COVERAGE_TOLERANCE / 2
    summary = cal["summary"][case][f"{level:g}"]
    assert summary["coverage_cross_validated"] == pytest.approx(covered.mean())
    assert summary["mass_level"] == _conformal_mass(score, level)
    assert summary["width_cross_validated_median_days"] < summary["width_uncalibrated_median_days"]
    assert cal["mass_levels"][case][f"{level:g}"] == summary["mass_level"]


def test_out_of_phase_probability_is_calibrated_on_held_out_batches(
    shipped: TimingReference,
) -> None:
    """Fit the Platt map on 8 batches' held-out masses, score the 9th; pool over batches.

    Target: the full-cohort fit's out-of-phase call (|eLH - LH| beyond the cohort's
    95th percentile), recomputed here from the stored cohort.
    """
    cal = shipped.calibration
    assert cal is not None
    res = shipped.result
    assert res is not None
    held = cal["held_out"]
    raw = np.asarray(held["out_of_phase_raw"], float)
    event = np.asarray(held["out_of_phase_event"], bool)
    cut = shipped.state.out_of_phase_days
    np.testing.assert_array_equal(event, np.abs(res.estimated_lh_day - res.lh_day) > cut)
    assert 5 <= event.sum() <= 0.1 * len(event)  # the 95th-percentile cut: about 5% events
    batch = np.asarray(held["BATCH"])
    cv = np.empty(len(raw))
    for b in cal["folds"]:
        f = batch == b
        cv[f] = platt_apply(raw[f], platt_fit(raw[~f], event[~f]))
    before, after = reliability(raw, event), reliability(cv, event)
    assert after["ece"] < MAX_OUT_OF_PHASE_ECE
    assert after["ece"] < before["ece"]
    assert after["brier"] < before["brier"]
    stored = cal["out_of_phase"]
    assert stored["cross_validated"]["ece"] == pytest.approx(after["ece"], abs=1e-12)
    assert stored["raw"]["brier"] == pytest.approx(before["brier"], abs=1e-12)
    assert stored["coef"] == pytest.approx(list(platt_fit(raw, event)), abs=1e-9)
    # placement applies the stored map to the raw density mass
    assert shipped.out_of_phase_map == tuple(stored["coef"])


def test_platt_scaling_recovers_a_known_map() -> None:
    """Synthetic truth: events drawn with P = sigmoid(-1 + 2 logit p)."""
    rng = np.random.default_rng(11)
    p = rng.uniform(0.01, 0.99, 20000)
    true = 1 / (1 + np.exp(-(-1.0 + 2.0 * np.log(p / (1 - p)))))
    y = rng.random(len(p)) < true
    a, b = platt_fit(p, y)
    assert a == pytest.approx(-1.0, abs=0.1)
    assert b == pytest.approx(2.0, abs=0.1)
    assert reliability(platt_apply(p, (a, b)), y)["ece"] < 0.02
    assert reliability(p, y)["ece"] > 0.05  # the raw p is miscalibrated by construction
    assert np.isnan(platt_apply(np.array([np.nan]), (a, b)))[0]
    with pytest.raises(ModelError):
        platt_fit(p, np.zeros(len(p), bool))


def test_out_of_phase_map_is_skipped_without_events_outside_a_fold() -> None:
    """All events in one batch: the other folds cannot fit a map, so none is stored."""
    raw = np.linspace(0, 1, 30)
    fold_of = np.repeat(np.arange(3), 10)
    event = fold_of == 2
    assert _out_of_phase_calibration(raw, event, fold_of, 3) is None
    event = (fold_of == 2) & (raw > 0.9) | (fold_of == 0) & (raw > 0.25)
    cal = _out_of_phase_calibration(raw, event, fold_of, 3)
    assert cal is not None and cal["coef"][1] > 0  # more mass, more risk


def test_calibrated_interval_is_inside_the_uncalibrated_one(
    shipped: TimingReference, training
) -> None:
    rows = training.iloc[::7]
    calibrated = shipped.place(rows)
    raw = copy.copy(shipped)
    raw.calibration = None
    uncalibrated = raw.place(rows)
    assert calibrated.interval_calibrated and not uncalibrated.interval_calibrated
    assert calibrated.out_of_phase_calibrated and not uncalibrated.out_of_phase_calibrated
    np.testing.assert_allclose(
        calibrated.out_of_phase_probability,
        platt_apply(uncalibrated.out_of_phase_probability, shipped.out_of_phase_map),
    )
    np.testing.assert_array_equal(calibrated.estimated_lh_day, uncalibrated.estimated_lh_day)
    assert np.all(calibrated.interval_low >= uncalibrated.interval_low - 1e-12)
    assert np.all(calibrated.interval_high <= uncalibrated.interval_high + 1e-12)
    w_cal = np.median(calibrated.interval_high - calibrated.interval_low)
    w_raw = np.median(uncalibrated.interval_high - uncalibrated.interval_low)
    assert w_cal < 0.7 * w_raw
    assert shipped.interval_mass_level < INTERVAL_LEVEL
    # a lone biopsy of an unknown batch uses its own (larger) calibrated mass
    assert shipped.interval_mass_level_unknown_batch > shipped.interval_mass_level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lone = shipped.place(rows.iloc[[0]].assign(BATCH="run-x"))
    assert lone.interval_high[0] - lone.interval_low[0] > (
        calibrated.interval_high[0] - calibrated.interval_low[0]
    )


def test_calibration_round_trips_and_needs_batches(shipped: TimingReference, training, tmp_path):  # type: ignore[no-untyped-def]
    loaded = TimingReference.load(shipped.save(tmp_path))
    assert loaded.calibration == shipped.calibration
    pd.testing.assert_frame_equal(
        loaded.place(training.iloc[:9]).to_frame(), shipped.place(training.iloc[:9]).to_frame()
    )
    # a version-1 file (no calibration, no provenance) still loads, uncalibrated
    old = shipped.to_dict()
    old["model_version"] = "decidua.timing.reference/1"
    del old["calibration"], old["provenance"]
    v1 = TimingReference.from_dict(old)
    assert v1.calibration is None and v1.interval_mass_level == INTERVAL_LEVEL
    assert not v1.place(training.iloc[:2]).interval_calibrated
    # a version-2 file (interval calibration only) gives the raw out-of-phase mass
    v2 = shipped.to_dict()
    v2["model_version"] = "decidua.timing.reference/2"
    del v2["calibration"]["out_of_phase"]
    old2 = TimingReference.from_dict(v2)
    assert old2.out_of_phase_map is None
    placed2 = old2.place(training.iloc[:3])
    assert placed2.interval_calibrated and not placed2.out_of_phase_calibrated
    one_batch = training.assign(BATCH="1")
    ref = TimingReference().fit(one_batch, seed=0, max_iterations=1)
    with pytest.raises(ModelError, match="3 batches"):
        ref.calibrate(one_batch)
    with pytest.raises(ModelError, match="fitted on"):
        ref.calibrate(one_batch.iloc[::-1])


def test_cli_place_on_the_default_reference(shipped: TimingReference, training, tmp_path) -> None:  # type: ignore[no-untyped-def]
    new = tmp_path / "new.csv"
    training.iloc[:4].to_csv(new, index=False)
    result = runner.invoke(app, ["timing", "place", "default", str(new), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    lib = shipped.place(training.iloc[:4]).to_dict()["biopsies"]
    assert [r["estimated_lh_day"] for r in rows] == [r["estimated_lh_day"] for r in lib]
    for r in rows:
        assert {"ID", "estimated_lh_day", "interval", "asynchrony_score", "asynchronous"} <= set(r)
        assert r["interval_calibrated"] is True
        assert r["out_of_phase_calibrated"] is True
        assert r["notice"] == RESEARCH_USE_LABEL
    table = runner.invoke(app, ["timing", "place", "default", str(new)])
    assert table.exit_code == 0
    assert RESEARCH_USE_LABEL in table.output


def test_module_entry_point_without_action_prints_help(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "--write-default-reference" in capsys.readouterr().out
