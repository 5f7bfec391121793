"""How input problems are shown to users."""

from __future__ import annotations

import numpy as np

from decidua.errors import InputError, Problem


def test_problem_names_file_row_column_and_plain_value() -> None:
    text = str(Problem("LH day outside range", "b.csv", 3, "LH", np.int64(20)))
    assert text == "b.csv, row 3, column 'LH': LH day outside range (value 20)"
    assert "np." not in str(Problem("bad", "f.csv", 2, "x", np.float64(1.5)))
    assert str(Problem("bad", None, None, None, "abc")) == "bad (value 'abc')"


def test_long_values_are_shortened_and_all_problems_kept() -> None:
    err = InputError(
        [Problem("too long", "f.csv", 2, "a", "x" * 200), Problem("missing", "f.csv", 3, "b")]
    )
    lines = str(err).splitlines()
    assert len(err.problems) == 2
    assert any("..." in line and len(line) < 120 for line in lines)
    assert any("row 3" in line and "missing" in line for line in lines)
