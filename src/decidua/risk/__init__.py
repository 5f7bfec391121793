"""Recurrence-risk engine: probability of losing the next pregnancy, with a credible interval.

Two routes to a loss (age-related embryonic loss and a woman's latent frequency of cycles
with a defective decidual reaction), calibrated to Magnus et al., BMJ 2019, and updated by
obstetric history and serial pre-pregnancy biopsy calls. See ``docs/risk-model.md``.

Research use only; not a diagnostic device.

Examples
--------
>>> from decidua.risk import predict
>>> r = predict(34, 3, biopsies=["abnormal"])
>>> 0 < r.interval[0] <= r.p_loss <= r.interval[1] < 1
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from decidua.domain import DecidualCall, Outcome, PatientRecord, PregnancyRecord
from decidua.risk.livebirth import LiveBirthOutlook, live_birth_outlook
from decidua.risk.model import (
    INTERVAL_MEANING,
    BiopsyOutlook,
    CohortRisk,
    Components,
    Evidence,
    RiskEstimate,
    RiskModel,
    RiskParams,
    default_model,
    shipped_draws,
    shipped_params,
)


def predict(
    age: float,
    history: Sequence[Outcome | str | PregnancyRecord] | int,
    biopsies: Iterable[DecidualCall | str | Any] = (),
    *,
    model: RiskModel | None = None,
    history_age: float | None = None,
) -> RiskEstimate:
    """Probability that a woman's next pregnancy ends in a loss.

    Parameters
    ----------
    age
        Maternal age in years (12-60).
    history
        Number of previous consecutive losses (int >= 0), or her previous pregnancies as
        :class:`~decidua.domain.Outcome` values / outcome strings /
        :class:`~decidua.domain.PregnancyRecord` (the latter's karyotype is used).
    biopsies
        Calls on pre-pregnancy biopsies from different cycles:
        :class:`~decidua.domain.DecidualCall`, ``"normal"`` / ``"abnormal"``, or
        :class:`~decidua.domain.BiopsyRecord` (uses ``clinic_call``; skips biopsies without
        a call or on treatment).
    model
        Model to use; default the shipped calibrated model.
    history_age
        Age (years) at which the previous pregnancies are scored; default ``age - 2``.
        :func:`predict_record` passes her mean real age at their outcome dates.

    Returns
    -------
    RiskEstimate
        ``p_loss``, 95% ``interval`` (with parameter uncertainty) and its meaning,
        ``components`` (embryonic vs non-embryonic share), ``model_version``.

    Raises
    ------
    decidua.errors.InputError
        Age outside 12-60, negative counts, unknown outcome or biopsy call.

    Examples
    --------
    >>> young, old = predict(25, 2), predict(40, 2)
    >>> old.p_loss > 2 * young.p_loss          # age still matters after two losses
    True
    >>> sorted(young.to_dict()["components"])
    ['embryonic', 'endometrial', 'non_embryonic']
    """
    return (model or default_model()).predict(age, history, biopsies, history_age=history_age)


def predict_many(
    age: Sequence[float] | np.ndarray,
    n_losses: Sequence[int] | np.ndarray | int = 0,
    n_live_births: Sequence[int] | np.ndarray | int = 0,
    n_biopsy_abnormal: Sequence[int] | np.ndarray | int = 0,
    n_biopsy_normal: Sequence[int] | np.ndarray | int = 0,
    *,
    model: RiskModel | None = None,
    **kwargs: Any,
) -> CohortRisk:
    """Vectorised cohort scorer (see :meth:`RiskModel.predict_many`).

    Examples
    --------
    >>> r = predict_many([30.0, 30.0], [0, 3], interval=None)   # fast point estimates
    >>> bool(r.p_loss[1] > r.p_loss[0])
    True
    """
    return (model or default_model()).predict_many(
        age, n_losses, n_live_births, n_biopsy_abnormal, n_biopsy_normal, **kwargs
    )


def predict_record(
    record: PatientRecord,
    on: Any = None,
    *,
    model: RiskModel | None = None,
) -> RiskEstimate:
    """Risk for a stored woman: age on ``on`` (default today), all pregnancies, biopsies.

    Previous pregnancies are scored at her real age then: the mean of her ages at the
    outcome dates of her losses and live births (``age - 2`` when none is dated).

    Parameters
    ----------
    record
        The woman's record.
    on
        Date of the assessment (``datetime.date``); default today.
    model
        Model to use; default the shipped calibrated model.

    Examples
    --------
    >>> import datetime as dt
    >>> from decidua.domain import Outcome, PatientRecord, PregnancyRecord
    >>> rec = PatientRecord("P1", 1990, pregnancies=(
    ...     PregnancyRecord(1, Outcome.MISCARRIAGE), PregnancyRecord(2, Outcome.ECTOPIC)))
    >>> predict_record(rec, dt.date(2026, 7, 1)).evidence.n_losses_total  # ectopic: no loss
    1
    """
    import datetime as dt

    from decidua.domain import LOSS_OUTCOMES

    day = on if on is not None else dt.date.today()
    pregnancies = sorted(record.pregnancies, key=lambda p: p.order)
    age = record.age_on(day)
    # Score previous pregnancies at her real ages then (mean age at the dated outcomes of
    # the pregnancies that carry evidence); age - 2 when none is dated.
    dated = [record.age_on(p.outcome_date) for p in pregnancies
             if p.outcome_date is not None and p.outcome_date <= day
             and (p.outcome in LOSS_OUTCOMES or p.outcome is Outcome.LIVE_BIRTH)]
    h = min(max(float(np.mean(dated)), 12.0), age) if dated else None
    return (model or default_model()).predict(age, list(pregnancies), record.biopsies,
                                              history_age=h)


__all__ = [
    "INTERVAL_MEANING",
    "BiopsyOutlook",
    "LiveBirthOutlook",
    "CohortRisk",
    "Components",
    "Evidence",
    "RiskEstimate",
    "RiskModel",
    "RiskParams",
    "default_model",
    "live_birth_outlook",
    "predict",
    "predict_many",
    "predict_record",
    "shipped_draws",
    "shipped_params",
]
