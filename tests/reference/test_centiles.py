"""Reference centiles by cycle day.

Real data: EndoTime's training set (257 biopsies, 9 qPCR batches). Pooled
leave-one-batch-out: each batch's centiles come from a reference fitted on the other
eight; the share below the 10th / 50th / 90th centile must be within 5 points of
nominal for every timing gene (the issue's acceptance).
"""

from __future__ import annotations

import numpy as np
import pytest

from decidua.errors import ModelError
from decidua.reference.centiles import DayCentiles, RangeReference, ReferenceInfo
from decidua.reference.defaults import (
    TIMING_GENES,
    endotime_training_data,
    timing_gene_references,
    unk_reference,
)

INFO = ReferenceInfo("X", "test", "test", "test")


@pytest.mark.parametrize("gene", TIMING_GENES)
def test_leave_one_batch_out_calibration_on_endotime(gene):
    d = endotime_training_data()
    cs = []
    for b in sorted(d["BATCH"].unique()):
        train, test = d[d["BATCH"] != b], d[d["BATCH"] == b]
        ref = DayCentiles(INFO).fit(train["LH"], train[gene])
        cs.extend(ref.centile(test["LH"].to_numpy(float), test[gene].to_numpy(float)))
    cs = np.asarray(cs)
    assert len(cs) == 257
    for q in (0.10, 0.50, 0.90):
        assert abs((cs < q).mean() - q) <= 0.05, (gene, q, (cs < q).mean())


def test_centiles_follow_a_known_distribution():
    """Synthetic truth: log-normal values whose median falls with day; centile = CDF."""
    from scipy import stats

    rng = np.random.default_rng(3)
    day = rng.integers(5, 13, 4000).astype(float)
    mu, sd = 1.0 - 0.1 * day, 0.3 + 0.02 * day
    value = np.exp(rng.normal(mu, sd))
    ref = DayCentiles(INFO, "log").fit(day, value)
    for dd in (6.0, 9.0, 11.0):
        m, s = 1.0 - 0.1 * dd, 0.3 + 0.02 * dd
        for p in (0.1, 0.5, 0.9):
            v = float(np.exp(m + s * stats.norm.ppf(p)))
            assert ref.centile([dd], [v])[0] == pytest.approx(p, abs=0.04)


def test_round_trip_and_version(tmp_path):
    d = endotime_training_data()
    ref = DayCentiles(INFO).fit(d["LH"], d["IGFBP1"])
    back = DayCentiles.load(ref.save(tmp_path / "r.json"))
    x = np.linspace(0, 20, 9)
    assert np.array_equal(back.centile(np.full(9, 8.0), x), ref.centile(np.full(9, 8.0), x))
    assert back.version == ref.version
    other = DayCentiles(INFO).fit(d["LH"][:200], d["IGFBP1"][:200])
    assert other.version != ref.version


def test_refuses_too_little_data_and_unfitted_use():
    with pytest.raises(ModelError, match="at least 30"):
        DayCentiles(INFO).fit([7] * 10, range(10))
    with pytest.raises(ModelError, match="not fitted"):
        DayCentiles(INFO).centile([7], [1])


def test_monotone_in_value_and_bounded():
    ref = timing_gene_references()["IGFBP1"]
    c = ref.centile(np.full(50, 8.0), np.linspace(-5, 25, 50))
    assert (np.diff(c) >= 0).all() and (c > 0).all() and (c < 1).all()


def test_shipped_references_are_labelled():
    for ref in timing_gene_references().values():
        assert ref.info.time_basis == "lh_day"
        assert "clinic population" in ref.info.population and "not healthy" in ref.info.population
    u = unk_reference()
    assert isinstance(u, RangeReference)
    assert (u.low, u.high, u.day_min, u.day_max) == (2.2, 13.9, 7, 9)
    assert u.classify(8, 14.0) == "high" and u.classify(8, 2.0) == "low"
    assert u.classify(10, 5.0).startswith("day outside")


def test_value_at_is_the_known_quantile_and_inverts_centile():
    """Synthetic truth: value ~ Normal(10 - 0.8 day, (0.5 + 0.1 day)^2); with 20,000 values
    the fitted 10th / 50th / 90th centile lines lie on the true quantiles (z = ±1.2816),
    and centile(day, value_at(day, q)) returns q on every scale."""
    from decidua.errors import InputError

    rng = np.random.default_rng(3)
    day = rng.uniform(4, 12, 20_000)
    sd = np.sqrt(0.25 + 0.1 * day)  # a variance linear in day, as the model assumes
    ref = DayCentiles(ReferenceInfo("X", "test", "synthetic", "none")).fit(
        day, 10 - 0.8 * day + rng.normal(0, 1, day.size) * sd)
    days = np.array([5.0, 8.0, 11.0])
    for q, z in ((0.1, -1.2816), (0.5, 0.0), (0.9, 1.2816)):
        true = 10 - 0.8 * days + z * np.sqrt(0.25 + 0.1 * days)
        assert ref.value_at(days, q) == pytest.approx(true, abs=0.05)
    for transform, values in (("log", rng.lognormal(1, 0.5, 400)),
                              ("logit", rng.uniform(2, 40, 400))):
        r = DayCentiles(ReferenceInfo("Y", "t", "s", "none"), transform).fit(
            rng.uniform(4, 12, 400), values)
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            assert r.centile(days, r.value_at(days, q)) == pytest.approx(q, abs=1e-9)
    with pytest.raises(InputError, match="centile"):
        ref.value_at(8.0, 1.0)
