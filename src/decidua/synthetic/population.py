"""Stage 1 of the synthetic cohort: the general population (SYNTHETIC — not real patients).

Women are simulated pregnancy by pregnancy; each pregnancy can be lost by an
age-related route (a curve in logit space, calibrated in every run to Magnus et
al., BMJ 2019) or by a decidual route (a latent per-woman frequency ``theta`` of
defective cycles). See :mod:`decidua.synthetic.cohort` for the model. Names with
a leading underscore are private to :mod:`decidua.synthetic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from decidua.stats.calibration import logit
from decidua.synthetic.params import (
    _KNOT_AGES,
    _POP_LOSS_CODES,
    _WEEKS_PER_YEAR,
    AGE_BANDS,
    AGE_ROUTE_ANEUPLOID_FRACTION,
    BIOCHEMICAL_SHARE_OF_LOSSES,
    CALIBRATION_ITERATIONS,
    ECTOPIC_PROBABILITY,
    MAGNUS_2019_LOSS_BY_AGE,
    MAX_PREGNANCIES,
    MOLAR_PROBABILITY,
    TERMINATION_PROBABILITY,
    CohortParams,
)

#: Probabilities are clipped to [eps, 1 - eps] before the logit of the calibration.
_LOGIT_EPS = 1e-9


def _logit(p: np.ndarray | float) -> np.ndarray:
    return logit(np.asarray(p, dtype=float), eps=_LOGIT_EPS)


def _expit(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def age_route_probability(age: np.ndarray | float, knots_logit: Sequence[float]) -> np.ndarray:
    """Probability of an age-related loss at a maternal age.

    Parameters
    ----------
    age
        Maternal age(s) at conception, years.
    knots_logit
        Logit of the age-route probability at the knot ages (one per band of
        :data:`AGE_BANDS`: 17.5, 22.5, ..., 42.5, 46.5 years); linear in logit
        space between knots, constant beyond the end knots.

    Returns
    -------
    numpy.ndarray
        Probabilities in (0, 1), same shape as ``age``.

    Examples
    --------
    Age 30 lies halfway between the knots at 27.5 (logit -2) and 32.5 (logit -1):

    >>> p = age_route_probability([30.0, 50.0], [-3, -3, -2, -1, 0, 0, 1])
    >>> [round(float(x), 4) for x in p]  # expit(-1.5); constant beyond the last knot
    [0.1824, 0.7311]
    """
    return _expit(np.interp(age, _KNOT_AGES, np.asarray(knots_logit, dtype=float)))


def _band_index(age: np.ndarray) -> np.ndarray:
    edges = np.array([b[2] for b in AGE_BANDS[:-1]])
    return np.searchsorted(edges, age, side="right")


@dataclass(frozen=True)
class _Draws:
    """Pre-drawn random numbers of the population (common to all calibration runs)."""

    theta: np.ndarray
    age_first: np.ndarray
    u_kind: np.ndarray
    u_age: np.ndarray
    u_dec: np.ndarray
    u_sub: np.ndarray
    u_aneu: np.ndarray
    gest_beta: np.ndarray
    u_gest: np.ndarray
    u_cont: np.ndarray
    interval: np.ndarray


def _draw_population(rng: np.random.Generator, params: CohortParams) -> _Draws:
    # Per-pregnancy draws are laid out (pregnancy index, woman).
    n, k = params.n_population, MAX_PREGNANCIES
    theta = rng.beta(params.theta_alpha, params.theta_beta, n)
    # Age at first pregnancy: most women 16-43 (mean ~28); 12% "late starters"
    # uniform 33-45 so the oldest bands hold enough pregnancies to be checked.
    late = rng.random(n) < 0.12
    age_first = np.where(late, rng.uniform(33.0, 45.0, n), 16.0 + 27.0 * rng.beta(2.2, 3.2, n))
    return _Draws(
        theta=theta,
        age_first=age_first,
        u_kind=rng.random((k, n)),
        u_age=rng.random((k, n)),
        u_dec=rng.random((k, n)),
        u_sub=rng.random((k, n)),
        u_aneu=rng.random((k, n)),
        gest_beta=rng.beta(1.4, 5.0, (k, n)),
        u_gest=rng.random((k, n)),
        u_cont=rng.random((k, n)),
        interval=rng.exponential(1.0, (k, n)),
    )


def _gestation_weeks(outcome: np.ndarray, gest_beta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Gestation (weeks from the last menstrual period) plausible for each outcome code."""
    gw = np.full(outcome.shape, np.nan)
    lb = outcome == 0
    preterm = u < 0.06
    gw = np.where(lb & preterm, 28.0 + 9.0 * u / 0.06, gw)
    gw = np.where(lb & ~preterm, 37.0 + 5.0 * (u - 0.06) / 0.94, gw)
    gw = np.where(outcome == 1, 5.5 + 14.5 * gest_beta, gw)  # miscarriage 5.5-20
    gw = np.where(outcome == 2, 3.6 + 2.3 * u, gw)  # biochemical < 6
    gw = np.where(outcome == 3, 5.0 + 5.0 * u, gw)  # ectopic
    gw = np.where(outcome == 4, 8.0 + 6.0 * u, gw)  # molar
    gw = np.where(outcome == 5, 6.0 + 7.0 * u, gw)  # termination
    return np.round(gw, 1)


def _simulate_population(draws: _Draws, knots_logit: np.ndarray) -> dict[str, np.ndarray]:
    """Run the population forward with a given age-route curve.

    Returns (n_women, MAX_PREGNANCIES) arrays; ``exists`` marks real pregnancies.
    Only women still trying are computed at each step.
    """
    k, n = draws.u_kind.shape
    exists = np.zeros((n, k), dtype=bool)
    conc_age = np.full((n, k), np.nan)
    end_age = np.full((n, k), np.nan)
    outcome = np.full((n, k), -1, dtype=np.int8)
    route = np.zeros((n, k), dtype=np.int8)
    aneuploid = np.zeros((n, k), dtype=bool)
    prev_run = np.zeros((n, k), dtype=np.int16)
    gest = np.full((n, k), np.nan)

    age = draws.age_first.copy()
    run = np.zeros(n, dtype=np.int16)
    n_live = np.zeros(n, dtype=np.int16)
    idx = np.arange(n)
    for j in range(k):
        if idx.size == 0:
            break
        a = age[idx]
        exists[idx, j] = True
        conc_age[idx, j] = a
        prev_run[idx, j] = run[idx]
        u = draws.u_kind[j, idx]
        ectopic = u < ECTOPIC_PROBABILITY
        molar = (u >= ECTOPIC_PROBABILITY) & (u < ECTOPIC_PROBABILITY + MOLAR_PROBABILITY)
        other = ectopic | molar
        age_loss = draws.u_age[j, idx] < age_route_probability(a, knots_logit)
        dec_loss = draws.u_dec[j, idx] < draws.theta[idx]
        loss = ~other & (age_loss | dec_loss)
        u_sub = draws.u_sub[j, idx]
        biochemical = loss & (u_sub < BIOCHEMICAL_SHARE_OF_LOSSES)
        termination = ~other & ~loss & (u_sub < TERMINATION_PROBABILITY)
        code = np.zeros(idx.size, dtype=np.int8)
        code[loss] = 1
        code[biochemical] = 2
        code[ectopic] = 3
        code[molar] = 4
        code[termination] = 5
        r = np.zeros(idx.size, dtype=np.int8)
        r[loss & dec_loss] = _POP_LOSS_CODES["decidual"]
        r[loss & age_loss] = _POP_LOSS_CODES["age"]  # the age route wins when both occur
        gw = _gestation_weeks(code, draws.gest_beta[j, idx], draws.u_gest[j, idx])
        end = a + (gw - 2.0) / _WEEKS_PER_YEAR
        outcome[idx, j] = code
        route[idx, j] = r
        aneuploid[idx, j] = loss & age_loss & (draws.u_aneu[j, idx] < AGE_ROUTE_ANEUPLOID_FRACTION)
        gest[idx, j] = gw
        end_age[idx, j] = end

        live = code == 0
        run[idx] = np.where(loss, run[idx] + 1, np.where(live, 0, run[idx]))
        n_live[idx] += live
        # Does she conceive again, and when? (synthetic assumptions)
        nl = n_live[idx]
        p_after_live = np.select([nl <= 1, nl == 2], [0.70, 0.35], 0.12)
        p_cont = np.where(live, p_after_live, np.where(loss, 0.85, 0.80))
        p_cont = np.where(end > 45.0, p_cont * 0.4, p_cont)
        e = draws.interval[j, idx]
        gap = np.where(live, 0.9 + 1.6 * e, np.where(loss, 0.15 + 0.55 * e, 0.25 + 0.6 * e))
        nxt = end + gap
        age[idx] = nxt
        idx = idx[(draws.u_cont[j, idx] < p_cont) & (nxt < 48.0)]
    return {
        "exists": exists,
        "conc_age": conc_age,
        "end_age": end_age,
        "outcome": outcome,
        "route": route,
        "aneuploid": aneuploid,
        "prev_run": prev_run,
        "gest": gest,
    }


def _band_rates(sim: dict[str, np.ndarray]) -> np.ndarray:
    """Simulated loss rate per age band."""
    ex = sim["exists"]
    loss = np.isin(sim["outcome"][ex], (1, 2))
    band = _band_index(sim["conc_age"][ex])
    cnt = np.bincount(band, minlength=len(AGE_BANDS)).astype(float)
    return np.bincount(band, weights=loss, minlength=len(AGE_BANDS)) / np.maximum(cnt, 1)


def _calibrate(draws: _Draws) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fixed-point calibration of the age-route knots to the Magnus age curve.

    Starts from the age route that would give the target if the decidual
    route added a constant, then moves each knot (in logit space) by its
    band's deviation from the target, re-simulating on the same draws. With
    5 iterations every band is within ~0.001 of its target.
    """
    target = np.array([MAGNUS_2019_LOSS_BY_AGE[b[0]] for b in AGE_BANDS])
    mean_theta = float(np.mean(draws.theta))
    knots = _logit(1.0 - (1.0 - target) / (1.0 - 1.5 * mean_theta))
    sim = _simulate_population(draws, knots)
    for _ in range(CALIBRATION_ITERATIONS):
        rate = _band_rates(sim)
        knots = knots + (_logit(target) - _logit(rate))
        sim = _simulate_population(draws, knots)
    return knots, sim


def _population_frame(sim: dict[str, np.ndarray], theta: np.ndarray) -> pd.DataFrame:
    ex = sim["exists"]
    woman, order = np.nonzero(ex)
    route_names = np.array(list(_POP_LOSS_CODES))
    return pd.DataFrame(
        {
            "woman": woman,
            "order": order + 1,
            "age": np.round(sim["conc_age"][ex], 3),
            "prev_consecutive_losses": sim["prev_run"][ex].astype(int),
            "loss": np.isin(sim["outcome"][ex], (1, 2)),
            "loss_route": route_names[sim["route"][ex]],
            "theta": theta[woman],
        }
    )
