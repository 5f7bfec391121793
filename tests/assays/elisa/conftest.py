"""Fixtures of the ELISA tests: the real data sets under tests/data/elisa (see its README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "elisa"


@pytest.fixture(scope="session")
def elisa_data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def ryegrass() -> tuple[np.ndarray, np.ndarray]:
    """drc's ``ryegrass``: (conc mM, root length cm), 24 rows."""
    df = pd.read_csv(DATA / "ryegrass.csv")
    return df["conc"].to_numpy(float), df["rootl"].to_numpy(float)
