"""Readability of plain-language text: the Flesch reading-ease score.

Flesch reading ease (Flesch R. A new readability yardstick. J Appl Psychol
1948;32(3):221-233)::

    FRE = 206.835 - 1.015 * (words / sentences) - 84.6 * (syllables / words)

Higher is easier: 60-70 is "plain English" (understood by 13-15 year olds),
90-100 very easy. The published formula leaves counting to the reader; ours
(our implementation choices, documented here and in ``docs/reports.md``):

- a *sentence* ends at ``.``, ``!`` or ``?`` followed by a space or the end
  (a decimal point inside a number does not end one);
- a *word* is a run of letters (with inner apostrophes or hyphens) or a
  number; ``4 in 10`` is three words;
- *syllables* of a word are its groups of consecutive vowels (``a e i o u y``),
  less one for a silent final ``e`` (not after ``l``: "little" keeps it), at
  least one per word; a number counts as one syllable per digit group
  ("10" -> one), which under-counts long numbers slightly: the summary uses
  small ones.

Examples
--------
>>> round(flesch_reading_ease("The cat sat on the mat."), 1)
116.1
>>> syllables("lining"), syllables("little"), syllables("make")
(2, 2, 1)
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*|\d+(?:[.,]\d+)*")
_VOWELS = re.compile(r"[aeiouy]+")

#: Reading-ease score the plain-language summary must reach (plain English).
TARGET_READING_EASE = 60.0


def syllables(word: str) -> int:
    """Syllables of one word by vowel groups (see the module notes).

    Examples
    --------
    >>> syllables("pregnancy"), syllables("womb"), syllables("10")
    (3, 1, 1)
    """
    if word[:1].isdigit():
        return 1
    w = word.lower().replace("’", "'")
    n = len(_VOWELS.findall(w))
    if w.endswith("e") and not w.endswith("le") and n > 1:
        n -= 1
    return max(n, 1)


def text_counts(text: str) -> tuple[int, int, int]:
    """``(sentences, words, syllables)`` of a text.

    Examples
    --------
    >>> text_counts("You had 3 losses. We are sorry.")
    (2, 7, 9)
    """
    words = _WORD.findall(text)
    sentences = len(_SENTENCE_END.findall(text.strip())) or (1 if words else 0)
    return sentences, len(words), sum(syllables(w) for w in words)


def flesch_reading_ease(text: str) -> float:
    """Flesch reading-ease score of a text (higher is easier).

    Raises
    ------
    ValueError
        If the text has no words.

    Examples
    --------
    >>> round(flesch_reading_ease("Of 10 women like you, about 4 would lose the next baby."), 1)
    88.9
    """
    n_sent, n_words, n_syll = text_counts(text)
    if n_words == 0:
        raise ValueError("no words to score")
    return 206.835 - 1.015 * (n_words / n_sent) - 84.6 * (n_syll / n_words)
