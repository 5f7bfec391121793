"""Derived clinical facts computed from plain records."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from decidua.domain import (
    Outcome,
    PatientRecord,
    PregnancyRecord,
    age_at,
    lh_day,
)


def _woman(*outcomes: Outcome, dates: list[dt.date] | None = None) -> PatientRecord:
    return PatientRecord(
        "W",
        1990,
        pregnancies=tuple(
            PregnancyRecord(i + 1, o, outcome_date=(dates[i] if dates else None))
            for i, o in enumerate(outcomes)
        ),
    )


def test_consecutive_losses_count_back_to_last_live_birth() -> None:
    w = _woman(Outcome.MISCARRIAGE, Outcome.LIVE_BIRTH, Outcome.MISCARRIAGE, Outcome.BIOCHEMICAL)
    assert w.n_losses == 3
    assert w.consecutive_losses() == 2
    assert w.n_live_births == 1


def test_ectopic_and_termination_neither_count_nor_break_the_run() -> None:
    w = _woman(Outcome.MISCARRIAGE, Outcome.ECTOPIC, Outcome.TERMINATION, Outcome.MISCARRIAGE)
    assert w.consecutive_losses() == 2
    assert w.n_losses == 2


def test_consecutive_losses_before_a_date() -> None:
    d = [dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(2022, 1, 1)]
    w = _woman(Outcome.MISCARRIAGE, Outcome.MISCARRIAGE, Outcome.MISCARRIAGE, dates=d)
    assert w.consecutive_losses() == 3
    assert w.consecutive_losses(before=dt.date(2021, 6, 1)) == 2
    assert w.consecutive_losses(before=dt.date(2019, 6, 1)) == 0


@given(st.lists(st.sampled_from(list(Outcome)), max_size=12))
def test_consecutive_never_exceeds_total_losses(outcomes: list[Outcome]) -> None:
    w = _woman(*outcomes)
    assert 0 <= w.consecutive_losses() <= w.n_losses <= len(outcomes)


def test_lh_day_and_age() -> None:
    assert lh_day(dt.date(2024, 2, 27), dt.date(2024, 3, 5)) == 7  # leap year
    assert abs(age_at(1990, dt.date(2024, 7, 1)) - 34.0) < 0.01
