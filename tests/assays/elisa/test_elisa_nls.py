"""The optimiser on NIST StRD Rat43 (higher difficulty), its own model, both certified starts.

Data and certified values: NIST Statistical Reference Datasets, Nonlinear
Regression, "Rat43" (Ratkowsky 1983); see tests/data/elisa/README.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from decidua.assays.elisa.nls import fit_nls

CERTIFIED = np.array([6.9964151270e02, 5.2771253025e00, 7.5962938329e-01, 1.2792483859e00])
CERTIFIED_SD = np.array([1.6302297817e01, 2.0828735829e00, 1.9566123451e-01, 6.8761936385e-01])
CERTIFIED_RSS = 8.7864049080e03
CERTIFIED_RESID_SD = 2.8262414662e01
STARTS = {"start 1": [100.0, 10.0, 1.0, 1.0], "start 2": [700.0, 5.0, 0.75, 1.3]}


def rat43(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p[0] / (1.0 + np.exp(p[1] - p[2] * x)) ** (1.0 / p[3])


def rat43_jac(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    e = np.exp(p[1] - p[2] * x)
    den = 1.0 + e
    q = den ** (-1.0 / p[3])
    k = p[0] / p[3] * q / den * e
    return np.column_stack((q, -k, k * x, p[0] * q * np.log(den) / p[3] ** 2))


@pytest.fixture(scope="module")
def data(elisa_data):  # type: ignore[no-untyped-def]
    df = pd.read_csv(elisa_data / "nist_rat43.csv")
    return df["x"].to_numpy(float), df["y"].to_numpy(float)


@pytest.mark.parametrize("start", list(STARTS))
@pytest.mark.parametrize("analytic", [True, False], ids=["analytic-jac", "finite-diff"])
def test_rat43_certified_values(data, start, analytic):  # type: ignore[no-untyped-def]
    x, y = data
    res = fit_nls(rat43, rat43_jac if analytic else None, x, y, np.array(STARTS[start]))
    np.testing.assert_allclose(res.params, CERTIFIED, rtol=1e-5)
    np.testing.assert_allclose(res.rss, CERTIFIED_RSS, rtol=1e-5)
    np.testing.assert_allclose(res.residual_se, CERTIFIED_RESID_SD, rtol=1e-5)
    np.testing.assert_allclose(res.se, CERTIFIED_SD, rtol=1e-4)
    assert res.df == 11


def test_weights_scale_rss(data):  # type: ignore[no-untyped-def]
    """Uniform weights w multiply the RSS by w and leave the estimates unchanged."""
    x, y = data
    res = fit_nls(rat43, rat43_jac, x, y, CERTIFIED * 1.01, np.full(x.size, 4.0))
    np.testing.assert_allclose(res.params, CERTIFIED, rtol=1e-6)
    np.testing.assert_allclose(res.rss, 4 * CERTIFIED_RSS, rtol=1e-6)
