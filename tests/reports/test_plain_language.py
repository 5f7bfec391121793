"""Readability and natural frequencies of the plain-language summary.

Flesch reading ease is checked against hand counts (sentences, words and syllables
counted by a person, written next to each case) and the published formula
(Flesch 1948): 206.835 - 1.015 * words/sentences - 84.6 * syllables/words.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decidua.reports.plain import natural_frequency, plain_summary
from decidua.reports.readability import (
    TARGET_READING_EASE,
    flesch_reading_ease,
    syllables,
    text_counts,
)


@pytest.mark.parametrize(("word", "n"), [
    ("womb", 1), ("baby", 2), ("pregnancy", 3), ("lining", 2), ("little", 2), ("make", 1),
    ("ready", 2), ("usual", 2), ("investigation", 5), ("the", 1), ("doctor", 2)])
def test_syllables_match_hand_counts(word: str, n: int) -> None:
    assert syllables(word) == n


@pytest.mark.parametrize(("text", "counts"), [
    # 2 sentences; You(1) have(1) lost(1) two(1) babies(2) . We(1) are(1) sorry(2)
    ("You have lost two babies. We are sorry.", (2, 8, 10)),
    # 1 sentence; The(1) doctor(2) will(1) call(1) you(1) in(1) 3(1) weeks(1)
    ("The doctor will call you in 3 weeks.", (1, 8, 9)),
    # a decimal point does not end a sentence
    ("It is 4.5 in 10 now.", (1, 6, 6)),
])
def test_counts_and_formula_match_hand_counts(text: str, counts: tuple[int, int, int]) -> None:
    assert text_counts(text) == counts
    s, w, y = counts
    assert flesch_reading_ease(text) == pytest.approx(206.835 - 1.015 * w / s - 84.6 * y / w)


def test_hard_text_scores_low_and_no_words_is_an_error() -> None:
    hard = ("Immunomodulatory interventions demonstrated insufficient evidence of "
            "efficacy regarding recurrent pregnancy loss in randomised investigations.")
    assert flesch_reading_ease(hard) < 0
    with pytest.raises(ValueError):
        flesch_reading_ease("  ")


@pytest.mark.parametrize(("p", "text"), [
    (0.0, "less than 1 in 100"), (0.004, "less than 1 in 100"), (0.06, "about 6 in 100"),
    (0.149, "about 15 in 100"), (0.15, "about 2 in 10"), (0.41, "about 4 in 10"),
    (0.949, "about 9 in 10"), (0.95, "about 95 in 100"), (0.999, "more than 99 in 100")])
def test_natural_frequencies(p: float, text: str) -> None:
    assert natural_frequency(p) == text


@given(st.floats(0, 1))
def test_natural_frequency_is_within_half_a_unit(p: float) -> None:
    text = natural_frequency(p)
    m = re.fullmatch(r"about (\d+) in (10|100)", text)
    if m:
        n, d = int(m[1]), int(m[2])
        assert abs(n / d - p) <= 0.5 / d + 1e-12
    else:
        assert text in ("less than 1 in 100", "more than 99 in 100")


@settings(max_examples=200, deadline=None)
@given(losses=st.integers(0, 9), births=st.integers(0, 4), nb=st.integers(0, 5),
       ab=st.integers(0, 5), p=st.floats(0, 1), w=st.floats(0, 0.5),
       missing=st.integers(0, 3), offered=st.integers(0, 3))
def test_every_summary_reads_at_plain_english_level(losses, births, nb, ab, p, w, missing,
                                                    offered) -> None:  # type: ignore[no-untyped-def]
    ab = min(ab, nb)
    s = " ".join(plain_summary(losses=losses, live_births=births, n_biopsies=nb,
                               n_abnormal=ab, n_normal=nb - ab, p_loss=p,
                               low=max(0.0, p - w), high=min(1.0, p + w),
                               n_missing=missing, n_offered=offered))
    assert flesch_reading_ease(s) >= TARGET_READING_EASE, s
