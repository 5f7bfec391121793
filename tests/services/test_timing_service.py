"""decidua.services.timing on the real EndoTime cohort (small fits keep it quick)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decidua import RESEARCH_USE_LABEL
from decidua.assays.timing import TimingReference, load_endotime_training_data
from decidua.errors import InputError
from decidua.services import timing as service


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("timing_service") / "cohort.csv"
    load_endotime_training_data().to_csv(path, index=False)
    return path


def test_fit_reference_writes_the_files_and_equals_the_library(cohort: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []
    outcome = service.fit_reference(
        cohort,
        tmp_path / "ref",
        seed=3,
        n_seeds=1,
        max_iterations=2,
        calibrate=False,
        on_ordering=lambda done, total, window, distance: seen.append((done, total)),
    )
    assert seen == [(1, 2), (2, 2)]
    est = pd.read_csv(outcome.estimates_path, dtype={"ID": str})
    assert tuple(est.columns) == service.ESTIMATE_COLUMNS
    data = pd.read_csv(cohort, dtype={"ID": str, "BATCH": str})
    lib = TimingReference(n_seeds=1).fit(data, seed=3, max_iterations=2).estimates()
    np.testing.assert_array_equal(est["estimated_lh_day"], lib["estimated_lh_day"])
    doc = outcome.to_dict()
    assert doc["notice"] == RESEARCH_USE_LABEL and doc["interval_calibrated"] is False
    saved = json.loads(outcome.reference_path.read_text())
    assert saved["provenance"]["data"] == str(cohort)
    assert len(saved["provenance"]["data_sha256"]) == 64


def test_fit_reference_warns_when_it_cannot_calibrate(cohort: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    one_batch = tmp_path / "one_batch.csv"
    pd.read_csv(cohort).assign(BATCH="1").to_csv(one_batch, index=False)
    outcome = service.fit_reference(
        one_batch, tmp_path / "ref", n_seeds=1, max_iterations=1, calibrate=True
    )
    assert outcome.reference.calibration is None
    assert len(outcome.warnings) == 1 and "needs >= 3" in outcome.warnings[0]


def test_place_biopsies_on_the_shipped_reference(cohort: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    new = tmp_path / "new.csv"
    pd.read_csv(cohort).iloc[:3].assign(BATCH="run-x").to_csv(new, index=False)
    placement, rows = service.place_biopsies("default", new)
    assert [r["ID"] for r in rows] == list(placement.ids)
    assert all(r["notice"] == RESEARCH_USE_LABEL for r in rows)
    assert len(placement.warnings) == 1  # a small unknown batch, reported, not raised
    with pytest.raises(InputError, match="strict"):
        service.place_biopsies("default", new, strict=True)


def test_numeric_column_reports_every_bad_cell() -> None:
    table = pd.DataFrame({"unk_pct": ["1.5", "x", None, "2"]})
    with pytest.raises(InputError) as info:
        service.numeric_column(table, "unk_pct", "marker", "m.csv")
    rows = [p.row for p in info.value.problems]
    assert rows == [3, 4]
    assert all(p.file == "m.csv" and p.column == "unk_pct" for p in info.value.problems)
    np.testing.assert_array_equal(
        service.numeric_column(table.iloc[[0, 3]], "unk_pct", "marker", "m.csv"), [1.5, 2.0]
    )


def test_cycle_times_by_id_from_the_shipped_reference() -> None:
    ref = service.load_reference("default")
    est = ref.estimates()
    table = pd.DataFrame({"ID": list(est["ID"].iloc[:2]) + ["nope", "nope2"]})
    with pytest.raises(InputError) as info:
        service.cycle_times(table, "estimated_lh_day", "default", "u.csv")
    assert [p.value for p in info.value.problems] == ["nope", "nope2"]
    t = service.cycle_times(table.iloc[:2], "estimated_lh_day", "default", "u.csv")
    np.testing.assert_array_equal(t, est["estimated_lh_day"].iloc[:2])
