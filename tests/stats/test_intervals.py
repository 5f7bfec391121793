import math

import pytest

from decidua.stats import Interval


def test_round_trip_and_contains():
    iv = Interval(0.3, 0.2, 0.4, 0.9, "test")
    assert Interval.from_dict(iv.to_dict()) == iv
    assert iv.contains(0.2) and iv.contains(0.4) and not iv.contains(0.41)
    assert math.isclose(iv.width, 0.2)
    assert iv.summary() == {"estimate": 0.3, "low": 0.2, "high": 0.4, "level": 0.9}


@pytest.mark.parametrize("level", [0.0, 1.0, -0.1, 1.5])
def test_bad_level_refused(level):
    with pytest.raises(ValueError, match="level"):
        Interval(0.3, 0.2, 0.4, level)


def test_reversed_limits_refused():
    with pytest.raises(ValueError, match="above"):
        Interval(0.3, 0.5, 0.4)
