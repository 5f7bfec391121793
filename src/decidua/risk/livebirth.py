"""Chance of a baby: live birth in the next pregnancy and within 1, 2 and 5 years.

What women ask is not only "how likely is another loss" but "how likely am I to have a
baby, and when". This module combines the recurrence-risk model (each further loss raises
the risk of the one after) with time to pregnancy in UK recurrent-miscarriage clinics:

* **Time to pregnancy** (Koki et al. 2025, 1,201 couples, NHS miscarriage clinics): 53.4%
  conceived within 12 months and a further 22.8% in the second year
  (:data:`decidua.literature.KOKI_2025_CONCEIVED_12M`). We fit a two-group model to these
  two figures: a share ``1 - s`` of women conceive with a constant monthly probability
  ``f``, the rest do not conceive within the horizon (subfertility; Koki et al. describe
  such a group). 12 and 24 months give ``(1 - f)^12 = 0.762 / 0.534 - 1`` and
  ``1 - s = 0.534 / (1 - (1 - f)^12)``: ``f = 0.068`` per month, ``s = 0.068``.
* **Each pregnancy** ends in a live birth with probability ``1 - p_loss`` from
  :mod:`decidua.risk.model`, scored with the losses so far (each further loss is added to
  her history) at her age when she conceives. Stillbirth, ectopic and molar pregnancies are
  not modelled separately (together about 1-2% of pregnancies); ``p_loss`` is the
  miscarriage risk.
* **Timing** (our assumptions, named below): a live birth comes 9 months after conception;
  after a loss she tries again 3 months after that conception.

The cumulative chance is the probability of at least one live birth within 1, 2, 5 years
of today. Checked (not fitted) against Lund et al., Obstet Gynecol 2012: 66.7% (63.7-69.7)
of 987 women referred to a Danish RPL clinic had a live birth within 5 years; see
``docs/calibration/calibration.md``.

Intervals: ``next_pregnancy_interval`` is ``1 -`` the 95% interval of ``p_loss`` (the
woman's own chance, with parameter uncertainty). ``cumulative_interval`` spans the 2.5% and
97.5% values over the model's fixed parameter draws, each paired with a draw of the two
time-to-pregnancy figures from their binomial uncertainty (n = 1,201; fixed seed): it holds
parameter uncertainty; the cumulative chance itself already averages over what the record
cannot tell about her.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from decidua import RESEARCH_USE_LABEL
from decidua.domain import DecidualCall, Outcome, PregnancyRecord
from decidua.literature import KOKI_2025_CONCEIVED_12M, KOKI_2025_CONCEIVED_SECOND_YEAR
from decidua.risk.model import (
    MAX_AGE,
    Evidence,
    RiskModel,
    default_model,
    encode_biopsies_by_source,
    encode_history,
    validate_age,
)

#: Months from conception to a live birth (our assumption: term birth).
MONTHS_TO_BIRTH = 9
#: Months from the conception of a pregnancy that is lost until she tries again (our
#: assumption: loss at about 8-10 weeks and about one cycle before trying again).
MONTHS_AFTER_LOSS = 3
#: Horizons reported (years).
HORIZONS_YEARS = (1, 2, 5)
#: Couples behind the time-to-pregnancy figures (Koki et al. 2025).
KOKI_2025_COUPLES = 1201
#: Seed of the fixed time-to-pregnancy draws paired with the model's parameter draws.
TTP_DRAW_SEED = 2025


def time_to_pregnancy_params(conceived_12m: float = KOKI_2025_CONCEIVED_12M,
                             conceived_24m: float = (KOKI_2025_CONCEIVED_12M
                                                     + KOKI_2025_CONCEIVED_SECOND_YEAR)
                             ) -> tuple[float, float]:
    """Monthly conception probability ``f`` and share never conceiving ``s``.

    Fitted exactly to the shares conceived by 12 and by 24 months (two-group model).

    Examples
    --------
    >>> f, s = time_to_pregnancy_params()
    >>> round(f, 3), round(s, 3)
    (0.068, 0.068)
    """
    ratio = conceived_24m / conceived_12m - 1.0
    if not 0.0 < ratio < 1.0:
        raise ValueError("conceived_24m must lie between conceived_12m and 2 x conceived_12m")
    f = 1.0 - ratio ** (1.0 / 12.0)
    s = 1.0 - conceived_12m / (1.0 - ratio)
    return f, min(max(s, 0.0), 1.0)


@dataclass(frozen=True)
class LiveBirthOutlook:
    """Chance of a live birth: next pregnancy and within 1, 2, 5 years (0-1).

    Attributes
    ----------
    next_pregnancy, next_pregnancy_interval
        Chance that the next pregnancy ends in a live birth, with its 95% interval.
    cumulative, cumulative_interval
        Chance of at least one live birth within each horizon (years), with 95% intervals
        from the parameter draws.
    months_to_birth, months_after_loss, monthly_conception, never_conceive
        The assumptions used.

    Examples
    --------
    >>> o = live_birth_outlook(33, 2)
    >>> sorted(o.to_dict()["cumulative"])
    ['1', '2', '5']
    """

    next_pregnancy: float
    next_pregnancy_interval: tuple[float, float]
    cumulative: dict[int, float]
    cumulative_interval: dict[int, tuple[float, float]]
    monthly_conception: float
    never_conceive: float
    n_parameter_draws: int
    model_version: str
    months_to_birth: int = MONTHS_TO_BIRTH
    months_after_loss: int = MONTHS_AFTER_LOSS
    label: str = RESEARCH_USE_LABEL

    def to_dict(self) -> dict[str, Any]:
        return {
            "next_pregnancy": self.next_pregnancy,
            "next_pregnancy_interval": list(self.next_pregnancy_interval),
            "cumulative": {str(k): v for k, v in self.cumulative.items()},
            "cumulative_interval": {str(k): list(v) for k, v in self.cumulative_interval.items()},
            "monthly_conception": self.monthly_conception,
            "never_conceive": self.never_conceive,
            "months_to_birth": self.months_to_birth,
            "months_after_loss": self.months_after_loss,
            "n_parameter_draws": self.n_parameter_draws,
            "model_version": self.model_version,
            "label": self.label,
        }


def _cumulative(model: RiskModel, age: float, ev: Evidence, f: float, s: float,
                horizons: Sequence[int]) -> dict[int, float]:
    months = 12 * max(horizons)
    max_extra = months // MONTHS_AFTER_LOSS + 1
    years = months // 12 + 1
    ages = np.minimum(age + np.arange(years), MAX_AGE)
    jj, yy = np.meshgrid(np.arange(max_extra + 1), np.arange(years), indexing="ij")
    # Evidence after j further losses (a last run of live births becomes earlier evidence).
    evs = [ev.after_losses(int(j)) for j in jj.ravel()]

    def col(name: str) -> np.ndarray:
        return np.array([getattr(e, name) for e in evs], dtype=np.int64)

    r = model.predict_many(
        ages[yy.ravel()], col("n_loss"), col("n_live_births"),
        ev.n_biopsy_abnormal - ev.n_biopsy_abnormal_clinic,
        ev.n_biopsy_normal - ev.n_biopsy_normal_clinic,
        col("n_loss_karyotype_abnormal"), col("n_loss_karyotype_normal"),
        n_losses_earlier=col("n_loss_earlier"),
        n_live_births_earlier=col("n_live_births_earlier"),
        n_loss_karyotype_normal_earlier=col("n_loss_karyotype_normal_earlier"),
        n_biopsy_abnormal_clinic=ev.n_biopsy_abnormal_clinic,
        n_biopsy_normal_clinic=ev.n_biopsy_normal_clinic,
        n_losses_second_trimester=col("n_loss_second_trimester_untested"),
        n_losses_second_trimester_earlier=col("n_loss_second_trimester_untested_earlier"),
        n_losses_after_heart_activity=col("n_loss_after_heart_untested"),
        n_losses_after_heart_activity_earlier=col("n_loss_after_heart_untested_earlier"),
        interval=None)
    p = r.p_loss.reshape(max_extra + 1, years)
    trying = np.zeros((months + MONTHS_AFTER_LOSS + 1, max_extra + 2))
    trying[0, 0] = 1.0
    births = np.zeros(months + MONTHS_TO_BIRTH + 1)
    for t in range(months):
        y = t // 12
        mass = trying[t]
        conceive = mass * f
        trying[t + 1] += mass - conceive
        live = conceive[: max_extra + 1] * (1 - p[:, y])
        births[t + MONTHS_TO_BIRTH] += live.sum()
        lost = conceive[: max_extra + 1] * p[:, y]
        trying[t + MONTHS_AFTER_LOSS, 1: max_extra + 2] += lost
    cum = np.cumsum(births)
    return {h: float((1 - s) * cum[12 * h]) for h in horizons}


def live_birth_outlook(
    age: float,
    history: Sequence[Outcome | str | PregnancyRecord] | int = 0,
    biopsies: Iterable[DecidualCall | str | Any] = (),
    *,
    model: RiskModel | None = None,
    horizons: Sequence[int] = HORIZONS_YEARS,
) -> LiveBirthOutlook:
    """Chance of a live birth in the next pregnancy and within 1, 2 and 5 years.

    Parameters
    ----------
    age
        Maternal age today (years, 12-60).
    history, biopsies
        As for :func:`decidua.risk.predict`.
    model
        Recurrence-risk model; default the shipped model (with its parameter draws).
    horizons
        Years for the cumulative chance.

    Returns
    -------
    LiveBirthOutlook

    Examples
    --------
    >>> out = live_birth_outlook(33, 3)
    >>> out.cumulative[1] < out.cumulative[2] < out.cumulative[5]
    True
    """
    m = model if model is not None else default_model()
    a = validate_age(age)
    ev = encode_history(history)
    n_abn, n_norm, n_abn_k, n_norm_k = encode_biopsies_by_source(biopsies)
    ev = replace(ev, n_biopsy_abnormal=n_abn + n_abn_k, n_biopsy_normal=n_norm + n_norm_k,
                 n_biopsy_abnormal_clinic=n_abn_k, n_biopsy_normal_clinic=n_norm_k)
    est = m.predict(a, history, biopsies)
    f, s = time_to_pregnancy_params()
    cum = _cumulative(m, a, ev, f, s, horizons)
    draws = m._draw_model_list()
    rng = np.random.default_rng(TTP_DRAW_SEED)
    n = KOKI_2025_COUPLES
    values = {h: [v] for h, v in cum.items()}
    for d in draws:
        c12 = rng.binomial(n, KOKI_2025_CONCEIVED_12M) / n
        c24 = c12 + rng.binomial(n, KOKI_2025_CONCEIVED_SECOND_YEAR) / n
        fd, sd = time_to_pregnancy_params(c12, c24)
        for h, v in _cumulative(d, a, ev, fd, sd, horizons).items():
            values[h].append(v)
    ci = {}
    for h, vals in values.items():
        lo, hi = np.percentile(vals, [2.5, 97.5])
        ci[h] = (float(min(lo, cum[h])), float(max(hi, cum[h])))
    lo, hi = est.interval
    return LiveBirthOutlook(
        next_pregnancy=1.0 - est.p_loss,
        next_pregnancy_interval=(1.0 - hi, 1.0 - lo),
        cumulative=cum,
        cumulative_interval=ci,
        monthly_conception=f,
        never_conceive=s,
        n_parameter_draws=len(draws),
        model_version=m.model_version,
    )
