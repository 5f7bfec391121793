"""The plain-language summary for the woman: short sentences, no jargon,
numbers as natural frequencies ("about 4 in 10").

Natural frequencies ("4 in 10 women") are understood better than percentages
or probabilities (Gigerenzer G, Hoffrage U. How to improve Bayesian reasoning
without instruction: frequency formats. Psychol Rev 1995;102:684-704). The
summary is scored with the Flesch reading ease
(:mod:`decidua.reports.readability`); tests hold it at 60 or more.
"""

from __future__ import annotations


def natural_frequency(p: float) -> str:
    """A probability as "about N in 10", or "about N in 100" below 15 in 100 or from 95 in 100
    (where tens would round too coarsely: 6 in 100 is not "about 1 in 10").

    Examples
    --------
    >>> natural_frequency(0.41), natural_frequency(0.06), natural_frequency(0.002)
    ('about 4 in 10', 'about 6 in 100', 'less than 1 in 100')
    >>> natural_frequency(0.97)
    'about 97 in 100'
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a probability must be in 0-1, not {p}")
    if 0.15 <= p < 0.95:
        return f"about {round(10 * p)} in 10"
    hundreds = round(100 * p)
    if hundreds < 1:
        return "less than 1 in 100"
    if hundreds > 99:
        return "more than 99 in 100"
    return f"about {hundreds} in 100"


def _bare(p: float) -> str:
    text = natural_frequency(p)
    return text.removeprefix("about ")


def _count(n: int, one: str, many: str) -> str:
    words = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return f"{words[n] if n < 10 else n} {one if n == 1 else many}"


def plain_summary(
    *,
    losses: int,
    live_births: int,
    n_biopsies: int,
    n_abnormal: int,
    n_normal: int,
    p_loss: float,
    low: float,
    high: float,
    n_missing: int,
    n_offered: int,
) -> tuple[str, ...]:
    """Sentences for the woman, from the numbers of her report.

    Examples
    --------
    >>> s = plain_summary(losses=3, live_births=0, n_biopsies=2, n_abnormal=1, n_normal=1,
    ...                   p_loss=0.41, low=0.3, high=0.53, n_missing=1, n_offered=2)
    >>> s[0]
    'You have lost three pregnancies. We are sorry for your loss.'
    >>> [x for x in s if "in 10" in x][0]
    'We think about 4 in 10 women like you would lose the next pregnancy.'
    """
    out = []
    if losses:
        out.append(f"You have lost {_count(losses, 'pregnancy', 'pregnancies')}. "
                   "We are sorry for your loss.")
    else:
        out.append("You have not lost a pregnancy.")
    if live_births:
        out.append(f"You have had {_count(live_births, 'baby', 'babies')}.")
    if n_biopsies:
        out.append(f"We took {_count(n_biopsies, 'sample', 'samples')} from the lining of "
                   "your womb.")
        if n_abnormal:
            out.append(f"In {_count(n_abnormal, 'sample', 'samples')}, the lining did not get "
                       "ready for a baby in the usual way.")
        if n_normal:
            out.append(f"In {_count(n_normal, 'sample', 'samples')}, the lining looked as "
                       "we would hope.")
    else:
        out.append("We have not yet taken a sample from the lining of your womb.")
    out.append(f"We think {natural_frequency(p_loss)} women like you would lose the next "
               "pregnancy.")
    out.append(f"This is our best guess. It could be as low as {_bare(low)}, "
               f"or as high as {_bare(high)}.")
    out.append(f"So {natural_frequency(1.0 - p_loss)} women like you would not lose "
               "the next pregnancy.")
    if n_missing:
        out.append("Some tests are not done yet. Your doctor will talk with you about them.")
    if n_offered:
        out.append("Your doctor can tell you what care we can give you.")
    out.append("This report comes from a research study. It is not a test you should act "
               "on by itself.")
    return tuple(out)
