"""uNK % with its overdispersed interval.

Synthetic truth (documented generator): fields drawn from a beta-binomial with known
mean and intra-field correlation; the 95% interval must cover the true % at close to
its level, where a plain binomial interval would not.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from decidua.assays.unk import unk_percent
from decidua.errors import InputError


def _coverage(rho: float, *, binomial: bool = False, n_sim: int = 1500) -> float:
    rng = np.random.default_rng(11)
    p, m = 0.08, 10
    a = p * (1 - rho) / rho
    b = (1 - p) * (1 - rho) / rho
    hits = 0
    for _ in range(n_sim):
        n = rng.integers(80, 160, m)
        k = rng.binomial(n, rng.beta(a, b, m))
        est = unk_percent([k.sum()], [n.sum()]) if binomial else unk_percent(k, n)
        hits += est.interval.low <= 100 * p <= est.interval.high
    return hits / n_sim


def test_interval_covers_under_overdispersion():
    cov = _coverage(0.05)
    assert 0.90 <= cov <= 0.98, cov
    naive = _coverage(0.05, binomial=True)
    assert naive < 0.85, naive  # the binomial interval ignores field-to-field spread


def test_pooled_percentage_and_single_field():
    est = unk_percent([10, 20], [100, 100])
    assert est.unk_pct == pytest.approx(15.0)
    one = unk_percent([10], [200])
    assert one.rho is None and one.interval.method.startswith("binomial")
    assert one.interval.low < 5.0 < one.interval.high


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 200)), min_size=1, max_size=12))
def test_interval_bounds(fields):
    k = [min(a, n) for a, n in fields]
    n = [n for _, n in fields]
    est = unk_percent(k, n)
    iv = est.interval
    assert 0 <= iv.low <= est.unk_pct <= iv.high <= 100
    assert est.design_effect >= 1


@pytest.mark.parametrize(("k", "n", "msg"), [([-1], [10], "negative"), ([11], [10], "above"),
                                              ([0], [0], "no stromal"), ([], [], "one CD56")])
def test_bad_counts_are_refused(k, n, msg):
    with pytest.raises(InputError, match=msg):
        unk_percent(k, n)
