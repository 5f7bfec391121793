"""Plate-level checks that every reader's output must pass (pure)."""

from __future__ import annotations

from decidua.assays.qpcr.wells import Plate, Well
from decidua.errors import InputError, Problem


def check_plate(plate: Plate) -> None:
    """Refuse a plate where one well belongs to two samples or repeats a target.

    Raises
    ------
    InputError
        One problem per offending record, naming file, row, well and field.
    """
    problems: list[Problem] = []
    first_sample: dict[str, Well] = {}
    seen: dict[tuple[str, str], Well] = {}
    for w in plate.wells:
        prev = first_sample.setdefault(w.well, w)
        if prev.sample != w.sample:
            problems.append(Problem(
                f"well {w.well} is given to two samples: {prev.sample!r} "
                f"(row {prev.row}) and {w.sample!r}",
                plate.path, w.row, "sample", w.sample))
            continue
        key = (w.well, w.target)
        if key in seen:
            problems.append(Problem(
                f"well {w.well} lists target {w.target!r} twice (first at row "
                f"{seen[key].row})", plate.path, w.row, "target", w.target))
        else:
            seen[key] = w
    if not plate.wells:
        problems.append(Problem("no wells with a target found", plate.path))
    if problems:
        raise InputError(problems)
