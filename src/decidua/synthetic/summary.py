"""The simulated population against the published figures (SYNTHETIC — not real patients).

Loss rates by maternal-age band, age-adjusted odds ratios after 1, 2, >= 3
previous consecutive losses (logistic regression and Mantel-Haenszel) and the
share of women by number of losses, each next to its published target
(Magnus et al., BMJ 2019; Quenby et al., Lancet 2021).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from decidua.literature import (
    MAGNUS_2019_ODDS_RATIOS,
    QUENBY_2021_WOMEN_BY_LOSSES,
)
from decidua.synthetic.params import (
    _KNOT_AGES,
    AGE_BANDS,
    MAGNUS_2019_LOSS_BY_AGE,
    MAGNUS_2019_OVERALL_LOSS,
    SYNTHETIC_LABEL,
    CohortParams,
)
from decidua.synthetic.population import (
    _band_index,
    _expit,
)


def _mantel_haenszel_or(exposed: np.ndarray, loss: np.ndarray, strata: np.ndarray) -> float:
    """Mantel-Haenszel odds ratio of loss, exposed vs not, across strata."""
    num = den = 0.0
    for s in np.unique(strata):
        m = strata == s
        e, y = exposed[m], loss[m]
        a = np.sum(e & y)
        b = np.sum(e & ~y)
        c = np.sum(~e & y)
        d = np.sum(~e & ~y)
        n = a + b + c + d
        if n == 0:
            continue
        num += a * d / n
        den += b * c / n
    return float(num / den) if den > 0 else float("nan")


def _logistic_odds_ratios(prev: np.ndarray, strata: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Age-adjusted odds ratios of loss after 1, 2, >=3 previous losses (vs none).

    A logistic regression of loss on categorical previous consecutive losses
    and categorical age (the strata), as in Magnus et al. 2019; fitted as a
    binomial GLM on the cell counts, which gives the same estimates as the
    per-pregnancy fit.
    """
    cells = (
        pd.DataFrame({"prev": prev, "age": strata, "loss": loss})
        .groupby(["prev", "age"])["loss"]
        .agg(["sum", "count"])
        .reset_index()
    )
    design = pd.get_dummies(cells[["prev", "age"]].astype("category"), drop_first=True, dtype=float)
    design.insert(0, "const", 1.0)
    counts = np.column_stack([cells["sum"], cells["count"] - cells["sum"]]).astype(float)
    fit = sm.GLM(counts, design, family=sm.families.Binomial()).fit()
    return np.exp(np.array([fit.params[f"prev_{k}"] for k in (1, 2, 3)]))


def summarise_population(
    population: pd.DataFrame, knots_logit: Sequence[float], params: CohortParams | None = None
) -> dict[str, Any]:
    """Loss rates of a simulated population against the published figures.

    Parameters
    ----------
    population
        :attr:`SyntheticCohort.population` (one row per pregnancy).
    knots_logit
        The calibrated age-route knots (reported, not used in the check).
    params
        Parameters of the run (reported); defaults to :class:`CohortParams`.

    Returns
    -------
    dict
        ``by_age_band`` (n, simulated rate, Magnus 2019 target), ``by_previous_
        consecutive_losses`` (n, rate, age-adjusted odds ratio vs none by
        logistic regression and by Mantel-Haenszel, target OR and CI), ``overall``, ``women_by_
        losses`` (vs Quenby 2021), and the age-route curve.

    Examples
    --------
    >>> from decidua.synthetic import generate_cohort
    >>> cohort = generate_cohort(seed=1, n_rpl=20, n_controls=5, n_population=10_000)
    >>> s = summarise_population(cohort.population, knots_logit=[-2.0] * 7)
    >>> [row["band"] for row in s["by_age_band"]][:3]
    ['<20', '20-24', '25-29']
    >>> s["by_previous_consecutive_losses"][1]["target_or"], s["n_women"]
    (1.54, 10000)
    """
    params = params or CohortParams()
    age = population["age"].to_numpy()
    loss = population["loss"].to_numpy(dtype=bool)
    band = _band_index(age)
    by_band = []
    for i, (name, _lo, _hi) in enumerate(AGE_BANDS):
        m = band == i
        by_band.append(
            {
                "band": name,
                "n_pregnancies": int(m.sum()),
                "simulated_loss_rate": round(float(loss[m].mean()), 4),
                "target_loss_rate": MAGNUS_2019_LOSS_BY_AGE[name],
            }
        )
    prev = np.minimum(population["prev_consecutive_losses"].to_numpy(), 3)
    strata = np.clip(np.floor(age), 16, 47).astype(int)
    logistic = _logistic_odds_ratios(prev, strata, loss)
    by_prev = []
    for k in range(4):
        m = prev == k
        row: dict[str, Any] = {
            "previous_consecutive_losses": ">=3" if k == 3 else str(k),
            "n_pregnancies": int(m.sum()),
            "simulated_loss_rate": round(float(loss[m].mean()), 4),
        }
        if k > 0:
            keep = (prev == 0) | m
            row["age_adjusted_or"] = round(float(logistic[k - 1]), 3)
            row["mantel_haenszel_or"] = round(
                _mantel_haenszel_or(m[keep], loss[keep], strata[keep]), 3
            )
            target, lo, hi = MAGNUS_2019_ODDS_RATIOS[k]
            row["target_or"] = target
            row["target_or_ci95"] = [lo, hi]
        by_prev.append(row)
    per_woman = population.groupby("woman")["loss"].sum()
    women_by_losses = {
        "1": round(float((per_woman == 1).mean()), 4),
        "2": round(float((per_woman == 2).mean()), 4),
        ">=3": round(float((per_woman >= 3).mean()), 4),
    }
    return {
        "label": SYNTHETIC_LABEL,
        "n_women": int(population["woman"].nunique()),
        "n_pregnancies": len(population),
        "overall_loss_rate": round(float(loss.mean()), 4),
        "overall_target_magnus_2019": MAGNUS_2019_OVERALL_LOSS,
        "by_age_band": by_band,
        "by_previous_consecutive_losses": by_prev,
        "odds_ratio_method": (
            "logistic regression of loss on previous consecutive losses (0, 1, 2, >=3) and "
            "1-year maternal age (categorical); Mantel-Haenszel OR by 1-year age also given"
        ),
        "women_by_losses": women_by_losses,
        "women_by_losses_quenby_2021": dict(QUENBY_2021_WOMEN_BY_LOSSES),
        "loss_routes": {
            r: round(float((population.loc[population["loss"], "loss_route"] == r).mean()), 4)
            for r in ("age", "decidual")
        },
        "age_route_curve": {
            "knot_ages": [float(a) for a in _KNOT_AGES],
            "probability": [round(float(p), 4) for p in _expit(np.asarray(knots_logit))],
        },
        "theta_beta_shape": [params.theta_alpha, params.theta_beta],
    }
