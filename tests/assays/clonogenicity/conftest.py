"""Shared fixtures for the CFU tests: synthetic plates with known truth.

Every plate comes from :func:`decidua.assays.clonogenicity.synthetic.make_plate`
(documented, seeded generator); the truth table is the independent reference.
"""

from __future__ import annotations

import functools

import cv2
import pytest

from decidua.assays.clonogenicity.count import count_colonies
from decidua.assays.clonogenicity.synthetic import make_plate

#: (layout, colonies per well, seed) used by the default accuracy test:
#: densities from sparse to ~300 per 35 mm dish, and every plate layout,
#: including the hardest cases of ``WIDER_GRID`` in test_cfu_count.py: the
#: sparse dish with large ragged colonies (10 colonies, seed 2, formerly
#: over-split to +20 %) and the 24-well layout at its densest (30 per well,
#: seed 2, the worst under-count), plus two densities not in the grid. A
#: subset, to keep the test directory near a minute.
ACCURACY_CASES = [
    ("dish", 10, 2),
    ("dish", 50, 0), ("dish", 150, 1),
    ("dish", 300, 1),
    ("6-well", 5, 0), ("6-well", 40, 0),
    ("12-well", 20, 0),
    ("24-well", 30, 2),
]


@functools.cache
def counted_plate(layout, n, seed):
    """The default plate (layout, n, seed) and its count, computed once per session.

    Rendering a multi-well plate takes seconds; the accuracy cases and the wider
    grid of test_cfu_count.py share six plates (same seeded, bit-identical input).
    """
    plate = make_plate(layout, n, seed=seed)
    return plate, count_colonies(plate.image, layout)


def count_cases(cases):
    """Generate and count each (layout, n, seed) plate: list of (case, plate, result)."""
    return [((layout, n, seed), *counted_plate(layout, n, seed)) for layout, n, seed in cases]


@pytest.fixture(scope="session")
def accuracy_runs():
    """Count every accuracy plate once: list of (case, plate, result)."""
    return count_cases(ACCURACY_CASES)


@pytest.fixture(scope="session")
def count_grid():
    """:func:`count_cases` (plates shared with :func:`accuracy_runs`), for tests."""
    return count_cases


@pytest.fixture(scope="session")
def dish_plate():
    """A 35 mm dish with 40 colonies (seed 7)."""
    return make_plate("dish", 40, seed=7)


@pytest.fixture(scope="session")
def dish_result(dish_plate):
    return count_colonies(dish_plate.image, "dish")


@pytest.fixture()
def dish_file(tmp_path, dish_plate):
    """The dish plate written as PNG."""
    path = tmp_path / "dish.png"
    cv2.imwrite(str(path), dish_plate.image[..., ::-1])
    return path
