"""The synthetic plate and trial generators: determinism and truth bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from decidua.assays.clonogenicity.synthetic import make_plate, simulate_trial
from decidua.errors import InputError


def test_same_seed_gives_identical_plate():
    a = make_plate("dish", 30, seed=3)
    b = make_plate("dish", 30, seed=3)
    assert np.array_equal(a.image, b.image)
    assert a.truth.equals(b.truth)


def test_different_seed_gives_different_plate():
    a = make_plate("dish", 30, seed=3)
    b = make_plate("dish", 30, seed=4)
    assert not np.array_equal(a.image, b.image)


def test_truth_counts_and_columns():
    p = make_plate("6-well", [0, 1, 2, 3, 4, 5], seed=1, jpeg_quality=None)
    assert p.image.shape[2] == 3 and p.image.dtype == np.uint8
    assert list(p.wells["well"][:4]) == ["A1", "A2", "A3", "B1"]
    assert p.counts() == {w: i for i, w in enumerate(p.wells["well"])}
    assert set(p.truth["kind"]) <= {"colony", "abortive"}
    assert (p.truth.loc[p.truth["kind"] == "abortive", "counted"] == False).all()  # noqa: E712
    # abortive colonies are smaller than counted ones
    ab = p.truth[p.truth["kind"] == "abortive"]["area_um2"]
    co = p.truth[p.truth["kind"] == "colony"]["area_um2"]
    assert ab.max() < co.min()


def test_dense_dish_has_touching_colonies():
    p = make_plate("dish", 300, seed=0)
    assert p.counts()["dish"] >= 290  # nearly all requested colonies fit
    assert p.truth["touching"].sum() > 30


def test_grey_plate_is_grey():
    p = make_plate("dish", 10, seed=0, grey=True)
    assert np.array_equal(p.image[..., 0], p.image[..., 1])


def test_bad_arguments():
    with pytest.raises(InputError):
        make_plate("384-well", 10)
    with pytest.raises(InputError):
        make_plate("6-well", [1, 2])


def test_trial_generator_is_seeded_and_shaped():
    a = simulate_trial(20, seed=5).data
    b = simulate_trial(20, seed=5).data
    assert a.equals(b)
    assert len(a) == 40 and set(a["arm"]) == {0, 1}
    assert (a[["baseline_colonies", "followup_colonies"]] >= 0).all().all()


def test_real_photo_features_keep_the_default_plate():
    """The options for real-photo features draw after the default draws: with
    them off the plate is bit-identical; with them on the colonies are the same."""
    base = make_plate("dish", 20, seed=6, px_per_mm=14)
    same = make_plate("dish", 20, seed=6, px_per_mm=14, stain_scale=1.0, n_writing=0, glare=0.0)
    assert (base.image == same.image).all()
    marked = make_plate("dish", 20, seed=6, px_per_mm=14, n_writing=2, glare=0.3, lid=True)
    assert marked.counts() == base.counts()
    assert (marked.truth["kind"] == "writing").sum() == 2
    assert not (marked.image == base.image).all()
    pale = make_plate("dish", 20, seed=6, px_per_mm=14, stain_scale=0.25)
    assert pale.image.mean() > base.image.mean()  # less stain
