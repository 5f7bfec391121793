"""Shared fixtures for the timing tests: the real EndoTime cohort, fitted once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from decidua.assays.timing import (
    TimingReference,
    load_default_reference,
    load_endotime_training_data,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "timing"
#: Seed of the session's reference fit.
SEED = 1


@pytest.fixture(scope="session")
def training() -> pd.DataFrame:
    """EndoTime's 257-biopsy training cohort (real data, shipped with Decidua)."""
    return load_endotime_training_data()


@pytest.fixture(scope="session")
def reference(training: pd.DataFrame) -> TimingReference:
    """Decidua's reference fitted on the full cohort with default settings."""
    return TimingReference().fit(training, seed=SEED)


#: Batch left out for the held-out checks (the last batch of the cohort, n=33).
HELD_OUT_BATCH = "9"


@pytest.fixture(scope="session")
def fold_reference(training: pd.DataFrame) -> TimingReference:
    """Reference fitted on every batch but ``HELD_OUT_BATCH`` (default settings, ``SEED``)."""
    keep = training["BATCH"].astype(str) != HELD_OUT_BATCH
    return TimingReference().fit(training[keep], seed=SEED)


@pytest.fixture(scope="session")
def shipped() -> TimingReference:
    """The default reference shipped in ``decidua/reference/endotime/reference.json``."""
    return load_default_reference()


@pytest.fixture(scope="session")
def endotime_runs() -> dict[int, pd.DataFrame]:
    """EndoTime R outputs (one table per seed) committed in tests/data/timing."""
    runs = {}
    for path in sorted(DATA.glob("endotime_seed*_estimates.csv")):
        seed = int(path.name.split("_")[1].removeprefix("seed"))
        runs[seed] = pd.read_csv(path, dtype={"ID": str})
    if len(runs) < 2:
        pytest.fail("EndoTime fixtures missing from tests/data/timing")
    return runs
