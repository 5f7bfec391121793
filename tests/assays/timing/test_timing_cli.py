"""`decidua timing …` through Typer's CliRunner on the real EndoTime cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from decidua import RESEARCH_USE_LABEL
from decidua.assays.timing import TimingReference, ensemble_seeds
from decidua.cli import app

runner = CliRunner()
#: Ensemble size of the CLI fit fixture (smaller than the default to keep the test quick).
CLI_N_SEEDS = 2


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory: pytest.TempPathFactory, training: pd.DataFrame) -> Path:
    """A reference written by ``decidua timing fit`` (3 iterations and a 2-seed ensemble keep
    the test quick; the default ensemble size is checked on the library side)."""
    root = tmp_path_factory.mktemp("timing")
    cohort = root / "cohort.csv"
    training.to_csv(cohort, index=False)
    out = root / "ref"
    result = runner.invoke(
        app,
        [
            "timing",
            "fit",
            str(cohort),
            "-o",
            str(out),
            "--seed",
            "4",
            "--max-iterations",
            "3",
            "--n-seeds",
            str(CLI_N_SEEDS),
        ],
    )
    assert result.exit_code == 0, result.output
    assert RESEARCH_USE_LABEL in result.output
    return out


def test_fit_writes_the_fixed_interface(ref_dir: Path, training: pd.DataFrame) -> None:
    est = pd.read_csv(ref_dir / "estimates.csv", dtype={"ID": str})
    assert list(est.columns) == [
        "ID",
        "pseudotime",
        "estimated_lh_day",
        "estimated_hours",
        "asynchrony_score",
        "asynchronous",
    ]
    assert len(est) == len(training)
    assert est["asynchronous"].dtype == bool
    ref = json.loads((ref_dir / "reference.json").read_text())
    for key in ("model_version", "genes", "scaling", "batch_shifts", "asynchrony_threshold"):
        assert key in ref
    assert "curves" in ref
    assert ref["fit"]["iterations"] == 3
    assert ref["fit"]["stop_reason"] == "cap reached"
    # the seed ensemble, with its members recorded
    assert ref["settings"]["n_seeds"] == CLI_N_SEEDS
    assert ref["provenance"]["member_seeds"] == list(ensemble_seeds(4, CLI_N_SEEDS))
    assert ref["fit"]["member_stop_reasons"] == ["cap reached"] * CLI_N_SEEDS
    thr = ref["asynchrony_threshold"]
    assert (est["asynchronous"] == (est["asynchrony_score"] > thr)).all()
    # calibrated by default (leave one batch out, folds fitted with the same cap)
    cal = ref["calibration"]
    assert len(cal["folds"]) == 9
    assert ref["settings"]["max_iterations"] == 3
    assert 0 < cal["mass_level"] <= 1
    assert ref["settings"]["interval_mass_level"] == cal["mass_level"]
    # and the out-of-phase probability (Platt map on the same held-out batches)
    oop = cal["out_of_phase"]
    assert len(oop["coef"]) == 2 and oop["coef"][1] > 0  # more mass beyond the cut, more risk
    assert oop["cross_validated"]["n"] == len(training)
    assert 0 <= oop["cross_validated"]["ece"] <= 1
    assert len(ref["provenance"]["data_sha256"]) == 64


def test_fit_matches_the_library(ref_dir: Path, training: pd.DataFrame) -> None:
    lib = TimingReference(n_seeds=CLI_N_SEEDS).fit(training, seed=4, max_iterations=3).estimates()
    est = pd.read_csv(ref_dir / "estimates.csv", dtype={"ID": str})
    pd.testing.assert_series_equal(est["estimated_lh_day"], lib["estimated_lh_day"])


def test_fit_n_seeds_one_is_a_single_fit(training: pd.DataFrame, tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.csv"
    training.to_csv(cohort, index=False)
    out = tmp_path / "ref1"
    args = ["--seed", "4", "--max-iterations", "2", "--n-seeds", "1", "--no-calibrate"]
    result = runner.invoke(app, ["timing", "fit", str(cohort), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    ref = json.loads((out / "reference.json").read_text())
    assert ref["settings"]["n_seeds"] == 1 and ref["settings"]["member_seeds"] == [4]
    lib = TimingReference(n_seeds=1).fit(training, seed=4, max_iterations=2).estimates()
    est = pd.read_csv(out / "estimates.csv", dtype={"ID": str})
    pd.testing.assert_series_equal(est["estimated_lh_day"], lib["estimated_lh_day"])


def test_place_json(ref_dir: Path, training: pd.DataFrame, tmp_path: Path) -> None:
    new = tmp_path / "new.csv"
    training.iloc[:5].to_csv(new, index=False)
    result = runner.invoke(app, ["timing", "place", str(ref_dir), str(new), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["ID"] for r in rows] == list(training["ID"].iloc[:5])
    for r in rows:
        assert {"ID", "estimated_lh_day", "interval", "asynchrony_score", "asynchronous"} <= set(r)
        lo, hi = r["interval"]
        assert lo <= r["estimated_lh_day"] <= hi
        assert isinstance(r["asynchronous"], bool)
        assert r["out_of_phase_calibrated"] is True
        assert 0 <= r["out_of_phase_probability"] <= 1
        assert r["notice"] == RESEARCH_USE_LABEL


def test_place_table_output(ref_dir: Path, training: pd.DataFrame, tmp_path: Path) -> None:
    new = tmp_path / "new.csv"
    training.iloc[:2].to_csv(new, index=False)
    result = runner.invoke(app, ["timing", "place", str(ref_dir), str(new)])
    assert result.exit_code == 0, result.output
    assert training["ID"].iloc[0] in result.output
    assert RESEARCH_USE_LABEL in result.output


def _write(tmp_path: Path, df: pd.DataFrame) -> Path:
    p = tmp_path / "bad.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.drop(columns=["GPX3"]), ["column 'GPX3'", "missing"]),
        (lambda d: d.assign(CXCL14=["x", *d["CXCL14"].iloc[1:]]), ["row 2", "'CXCL14'", "number"]),
        (lambda d: d.assign(LH=[3, *d["LH"].iloc[1:]]), ["row 2", "'LH'", "outside"]),
    ],
)
def test_place_bad_input_exit_1(ref_dir, training, tmp_path, change, expected) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, change(training.iloc[:3].copy()))
    result = runner.invoke(app, ["timing", "place", str(ref_dir), str(path)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "Traceback" not in out
    assert "bad.csv" in out
    for text in expected:
        assert text in out


def test_place_strict_refuses_unknown_batch(ref_dir, training, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, training.iloc[:2].assign(BATCH="run-77"))
    result = runner.invoke(app, ["timing", "place", str(ref_dir), str(path), "--strict"])
    assert result.exit_code == 1
    assert "BATCH" in result.output and "strict" in result.output
    lenient = runner.invoke(app, ["timing", "place", str(ref_dir), str(path), "--json"])
    assert lenient.exit_code == 0
    assert json.loads(lenient.stdout)[0]["batch_shift"] == "unknown (no shift)"


def test_missing_files_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["timing", "fit", str(tmp_path / "nope.csv"), "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert "not found" in result.output
    result = runner.invoke(app, ["timing", "place", str(tmp_path), str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert "not found" in result.output


def test_centiles_command(ref_dir: Path, training: pd.DataFrame, tmp_path: Path) -> None:
    """Centiles of a real per-biopsy marker (IGFBP1 ΔCt) over the reference's times."""
    cohort = tmp_path / "marker.csv"
    training[["ID", "IGFBP1"]].to_csv(cohort, index=False)
    new = tmp_path / "score.csv"
    pd.DataFrame({"ID": ["a", "b"], "estimated_lh_day": [8.0, 8.0], "IGFBP1": [5.0, 18.0]}).to_csv(
        new, index=False
    )
    model = tmp_path / "centiles.json"
    args = ["timing", "centiles", str(cohort), "--marker", "IGFBP1", "--reference", str(ref_dir)]
    args += ["--score", str(new), "--save", str(model), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["notice"] == RESEARCH_USE_LABEL
    a, b = out["scores"]
    assert a["centile"] < b["centile"]
    assert model.exists()
    assert {"p5", "p10", "p50", "p90", "p95"} <= set(out["curves"][0])
    bad = runner.invoke(app, [*args[:3], "--marker", "nope", "--reference", str(ref_dir)])
    assert bad.exit_code == 1
    assert "nope" in bad.output
