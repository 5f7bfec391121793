"""SA-β-gal % positive: exact binomial interval against independent references.

References: scipy's ``binomtest(...).proportion_ci(method="exact")`` (an
independent implementation), and textbook Clopper-Pearson values (e.g. 0/10
-> upper 30.85 %, 95 %; the closed forms for 0/n and n/n).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from decidua.assays.senescence import sabgal_fields, sabgal_percent
from decidua.assays.senescence.sabgal import clopper_pearson
from decidua.errors import InputError


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 5000), frac=st.floats(0, 1), level=st.sampled_from([0.9, 0.95, 0.99]))
def test_matches_scipy_exact(n, frac, level):  # type: ignore[no-untyped-def]
    x = round(frac * n)
    lo, hi = clopper_pearson(x, n, level)
    ci = binomtest(x, n).proportion_ci(confidence_level=level, method="exact")
    assert lo == pytest.approx(ci.low, abs=1e-10)
    assert hi == pytest.approx(ci.high, abs=1e-10)
    assert lo <= x / n <= hi


def test_textbook_values():
    r = sabgal_percent(0, 10)
    assert r.positive_pct.estimate == 0 and r.positive_pct.low == 0
    assert r.positive_pct.high == pytest.approx(30.85, abs=0.005)
    r = sabgal_percent(10, 10)
    assert r.positive_pct.high == 100 and r.positive_pct.low == pytest.approx(69.15, abs=0.005)
    # closed forms at the edges: 0/n -> high = 1 - (a/2)^(1/n); n/n -> low = (a/2)^(1/n)
    for n in (5, 57, 3000):
        assert sabgal_percent(0, n).positive_pct.high == pytest.approx(100 * (1 - 0.025 ** (1 / n)))
        assert sabgal_percent(n, n).positive_pct.low == pytest.approx(100 * 0.025 ** (1 / n))
    r = sabgal_percent(37, 412)
    assert r.positive_pct.estimate == pytest.approx(100 * 37 / 412)
    assert r.positive_pct.method.startswith("exact binomial")


def test_fields_pooled_and_spread():
    r = sabgal_fields([10, 20, 0], [100, 100, 50], fields=["f1", "f2", "f3"])
    assert (r.positive, r.total, r.n_fields) == (30, 250, 3)
    assert r.positive_pct.estimate == pytest.approx(12.0)
    assert r.field_pct == (10.0, 20.0, 0.0)
    assert r.field_sd_pct == pytest.approx(10.0)
    assert r.to_dict()["positive_pct"]["estimate"] == pytest.approx(12.0)


@pytest.mark.parametrize(
    "pos,tot,msg",
    [(-1, 10, "negative"), (11, 10, "exceed"), (2.5, 10, "whole number"), (0, 0, "no cells")],
)
def test_bad_counts(pos, tot, msg):  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=msg):
        sabgal_percent(pos, tot)


def test_bad_field_is_named():
    with pytest.raises(InputError, match="f2: positive cells exceed the total"):
        sabgal_fields([1, 12], [10, 10], fields=["f1", "f2"])
    with pytest.raises(InputError, match="field 1: total must not be negative"):
        sabgal_fields([0], [-3])
