"""Seeded synthetic demo cohort of an implantation clinic (SYNTHETIC — not real patients).

The generator works in two stages.

1. **Population.** A general population of women is simulated pregnancy by
   pregnancy (age at first pregnancy, outcome, gestation, interval to the next
   pregnancy, whether she tries again). Each pregnancy can be lost by two
   independent routes, following the two-route model of the review cited in
   BRIEF §2 (PMC9325922, 2022):

   * an **age-related** (mostly aneuploid, oocyte-origin) route with
     probability ``a(age)``, a smooth curve in logit space; and
   * a **decidual** route: each woman has a latent frequency ``theta`` of
     menstrual cycles with a defective (stalled / blunted) decidual reaction,
     ``theta ~ Beta(alpha, beta)``; a conception in such a cycle is lost. This
     is the structure suggested by Muter et al., Sci Adv 2025 ("Stalling of
     the endometrial decidual reaction determines the recurrence risk of
     miscarriage"): the frequency of defective cycles tracks the
     age-independent recurrence risk.

   ``P(loss | age, theta) = 1 - (1 - a(age)) * (1 - theta)``. Because high-theta
   women lose more pregnancies, the number of previous consecutive losses
   carries information about ``theta``: this gives the stepwise rise of risk
   with each loss. ``alpha`` and ``beta`` were tuned by hand (see
   :data:`THETA_ALPHA`) so that the age-adjusted odds ratios after 1, 2 and >=3
   previous consecutive losses come close to Magnus et al. (BMJ 2019); the
   age-route curve ``a(age)`` is then calibrated inside every run (a short,
   deterministic fixed-point iteration on the same random draws) so that the
   simulated loss rate per maternal-age band reproduces Magnus et al.'s
   figures. The calibrated curve is reported in
   ``SyntheticCohort.population_summary``.

2. **Clinic.** From that population the women an implantation clinic sees are
   sampled: women referred after >= 2 losses (ESHRE 2022 definition of RPL;
   ``study_group = "rpl"``) and controls with no or one loss. Their history is
   cut at the referral; each gets investigations, 1-3 endometrial biopsies in
   different cycles (LH+5 to LH+12), some get interventions (a sitagliptin vs
   placebo trial arm, endometrial scratch, progesterone, aspirin + heparin),
   and some a next pregnancy whose outcome is drawn from the same two-route
   model with her own ``theta``.

Everything is a pure function of the seed: a :class:`numpy.random.Generator`
per stage is spawned from one :class:`numpy.random.SeedSequence`, and all
dates are anchored to a fixed date (:data:`ANCHOR_DATE`), never to today.

Assumptions that are *not* published figures (call accuracy, prevalences of
investigation findings, recording rates, intervals) are named constants marked
"synthetic assumption"; they make a plausible demo, not evidence.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from decidua.domain import (
    INVESTIGATION_KINDS,
    ConceptionMode,
    DecidualCall,
    Interpretation,
    InterventionKind,
    KaryotypeResult,
    Outcome,
)
from decidua.errors import InputError
from decidua.literature import (
    ESHRE_2022_RPL_MIN_LOSSES,
    MAGNUS_2019_ODDS_RATIOS,
    MAGNUS_2019_OVERALL_RISK,
    MAGNUS_2019_RISK_BY_AGE,
    MIYAKIS_2006_APS_PERSISTENCE_WEEKS,
    MIYAKIS_2006_APS_TITRE_ABOVE,
    PRISM_2019_DOSE,
    PRISM_2019_END_WEEKS,
    QUENBY_2021_WOMEN_BY_LOSSES,
    TEWARY_2020_CYCLES,
    TEWARY_2020_DOSE,
    TEWARY_2020_MIN_LOSSES,
)

# --------------------------------------------------------------------------
# Identity of the generator and of the shipped demo
# --------------------------------------------------------------------------

#: Version of the generator; bump it whenever the output for a seed changes.
GENERATOR_VERSION = "1.0.0"

#: Label carried by every file the generator writes.
SYNTHETIC_LABEL = "SYNTHETIC — not real patients"

#: Seed of the demo cohort shipped in ``src/decidua/data/demo``.
DEMO_SEED = 20261126
#: Number of RPL referrals in the shipped demo cohort.
DEMO_N_RPL = 320
#: Number of controls in the shipped demo cohort.
DEMO_N_CONTROLS = 50

#: Fixed "today" of the synthetic world: every date generated is on or before it.
ANCHOR_DATE = dt.date(2025, 6, 30)

# --------------------------------------------------------------------------
# Published figures (targets of the population simulation)
# --------------------------------------------------------------------------

#: Maternal-age bands (lower bound inclusive, upper exclusive, years).
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<20", 0.0, 20.0),
    ("20-24", 20.0, 25.0),
    ("25-29", 25.0, 30.0),
    ("30-34", 30.0, 35.0),
    ("35-39", 35.0, 40.0),
    ("40-44", 40.0, 45.0),
    (">=45", 45.0, 99.0),
)

#: Risk of miscarriage per pregnancy by maternal age band: Magnus et al., BMJ
#: 2019 (:data:`decidua.literature.MAGNUS_2019_RISK_BY_AGE`), in the order of
#: :data:`AGE_BANDS`. The 20-24 value is NOT taken from the paper: it is the
#: midpoint, in logit space, of the <20 and 25-29 figures (0.125), an
#: interpolation (synthetic assumption).
MAGNUS_2019_LOSS_BY_AGE: dict[str, float] = {
    name: (0.125 if name == "20-24" else MAGNUS_2019_RISK_BY_AGE[name])
    for name, _lo, _hi in AGE_BANDS
}

#: Overall miscarriage risk per pregnancy, Magnus et al. BMJ 2019 (abstract).
MAGNUS_2019_OVERALL_LOSS = MAGNUS_2019_OVERALL_RISK

#: Antiphospholipid antibody titres above 40 GPL/MPL units (or the 99th
#: percentile) count towards antiphospholipid syndrome. Miyakis S et al.,
#: J Thromb Haemost 2006;4:295-306 (revised Sapporo / Sydney criteria); the
#: criteria require persistence on two occasions >= 12 weeks apart.
APS_ANTIBODY_POSITIVE_ABOVE = MIYAKIS_2006_APS_TITRE_ABOVE
#: Lower limit of the "equivocal" (low-titre) antibody range used here
#: (synthetic assumption: many laboratories report 20-40 as low positive).
APS_ANTIBODY_EQUIVOCAL_ABOVE = 20.0
#: Repeat antiphospholipid tests at least 12 weeks apart (Miyakis 2006).
APS_REPEAT_WEEKS = MIYAKIS_2006_APS_PERSISTENCE_WEEKS

#: TSH reference interval (mIU/L) in non-pregnant adults, a common laboratory
#: range (e.g. British Thyroid Association, UK guidelines for the use of
#: thyroid function tests, 2006: about 0.4-4.0 mIU/L).
TSH_REFERENCE_MIU_L = (0.4, 4.0)
#: Free T4 reference interval (pmol/L), same source (about 12-22 pmol/L).
FREE_T4_REFERENCE_PMOL_L = (12.0, 22.0)
#: Anti-TPO positivity cut-off (IU/mL) of a widely used immunoassay (Roche
#: Elecsys Anti-TPO, manufacturer's cut-off 34 IU/mL).
TPO_POSITIVE_ABOVE_IU_ML = 34.0
#: HbA1c: >= 48 mmol/mol diagnostic of diabetes (WHO 2011 report "Use of
#: glycated haemoglobin (HbA1c) in the diagnosis of diabetes mellitus");
#: 42-47 mmol/mol "high risk" (NICE PH38, 2012) — coded equivocal here.
HBA1C_DIABETES_MMOL_MOL = 48.0
HBA1C_HIGH_RISK_MMOL_MOL = 42.0

# --------------------------------------------------------------------------
# Synthetic assumptions (tuned parameters, not published figures)
# --------------------------------------------------------------------------

#: Shape of the per-woman frequency of defective decidual cycles,
#: ``theta ~ Beta(THETA_ALPHA, THETA_BETA)``. Tuned by hand (synthetic
#: assumption) so that the population's age-adjusted odds ratios after 1/2/>=3
#: previous consecutive losses approach Magnus 2019's 1.54/2.21/3.97; over
#: seeds 1-10 (100,000 women) they came out at 1.45-1.54, 2.25-2.40, 3.73-4.56.
THETA_ALPHA = 0.15
#: See :data:`THETA_ALPHA`.
THETA_BETA = 3.3

#: Share of age-route losses that are aneuploid (synthetic assumption; about
#: half of all miscarriages are chromosomally abnormal in tissue studies).
AGE_ROUTE_ANEUPLOID_FRACTION = 0.85
#: Share of losses that are biochemical (synthetic assumption).
BIOCHEMICAL_SHARE_OF_LOSSES = 0.2
#: Per-pregnancy probability of an ectopic / molar pregnancy (synthetic
#: assumption, roughly 1% and 0.1-0.2% in UK figures).
ECTOPIC_PROBABILITY = 0.011
MOLAR_PROBABILITY = 0.0015
#: Probability that a pregnancy not lost is terminated (synthetic assumption).
TERMINATION_PROBABILITY = 0.03

#: Clinic's call accuracy on one biopsy against the latent defective-cycle
#: state (synthetic assumption: an imperfect read-out of the decidual reaction).
CALL_SENSITIVITY = 0.85
#: See :data:`CALL_SENSITIVITY`.
CALL_SPECIFICITY = 0.90
#: SD (days) of the error of the reported LH day against the biopsy's true
#: cycle time (synthetic assumption: urinary LH kits date the surge to ~1 day).
LH_DAY_SD = 1.0
#: Reported LH+ days of clinic biopsies and their weights (synthetic
#: assumption: the Warwick clinic aims at LH+7-9; range LH+5 to LH+12).
LH_DAYS = np.arange(5, 13)
LH_DAY_WEIGHTS = np.array([0.04, 0.10, 0.22, 0.24, 0.20, 0.10, 0.06, 0.04])

#: Number of biopsies per woman (1, 2, 3) and their probabilities (synthetic
#: assumption; Muter 2025 had 316 women with >= 2 biopsies in different cycles).
N_BIOPSY_PROBS_RPL = (0.35, 0.45, 0.20)
N_BIOPSY_PROBS_CONTROL = (0.60, 0.30, 0.10)

#: Size of the simulated general population (women).
DEFAULT_POPULATION = 100_000
#: At most this many pregnancies per woman are simulated.
MAX_PREGNANCIES = 14
#: Number of calibration iterations of the age-route curve.
CALIBRATION_ITERATIONS = 5

#: Referral dates are drawn uniformly in this window (synthetic assumption).
REFERRAL_WINDOW = (dt.date(2015, 1, 5), dt.date(2023, 9, 29))

_DAYS_PER_YEAR = 365.25
_WEEKS_PER_YEAR = _DAYS_PER_YEAR / 7.0

#: Knot ages (years) of the age-route curve, one per age band.
_KNOT_AGES = np.array([17.5, 22.5, 27.5, 32.5, 37.5, 42.5, 46.5])

_POP_LOSS_CODES = {"none": 0, "age": 1, "decidual": 2}
_OUTCOME_CODES = [
    Outcome.LIVE_BIRTH,
    Outcome.MISCARRIAGE,
    Outcome.BIOCHEMICAL,
    Outcome.ECTOPIC,
    Outcome.MOLAR,
    Outcome.TERMINATION,
]

_ANEUPLOIDIES = (
    # (karyotype template with {sex}, weight) — common findings in miscarriage
    # tissue (trisomy 16 most frequent); synthetic weights.
    ("47,{sex},+16", 0.28),
    ("47,{sex},+22", 0.12),
    ("47,{sex},+21", 0.08),
    ("47,{sex},+15", 0.08),
    ("47,{sex},+13", 0.05),
    ("47,{sex},+18", 0.05),
    ("45,X", 0.12),
    ("69,XX{y}", 0.12),
    ("92,XX{y}{y}", 0.05),
    ("48,{sex},+2,+16", 0.05),
)

_ETHNICITIES = (
    ("White British", 0.55),
    ("White other", 0.08),
    ("South Asian", 0.12),
    ("Black", 0.06),
    ("East Asian", 0.03),
    ("Mixed", 0.03),
    ("Other", 0.02),
    ("", 0.11),  # not recorded
)


# --------------------------------------------------------------------------
# Public data classes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortParams:
    """Parameters of one synthetic cohort (everything needed to regenerate it).

    Attributes
    ----------
    seed
        Seed of the :class:`numpy.random.SeedSequence`; same seed, same cohort.
    n_rpl, n_controls
        Number of women referred after >= 2 losses, and of controls.
    n_population
        Size of the simulated general population the clinic samples from.
    anchor_date
        ISO date of the synthetic "today"; every date is on or before it.
    theta_alpha, theta_beta
        Beta shape of the per-woman defective-cycle frequency.
    call_sensitivity, call_specificity
        Accuracy of the clinic's normal/abnormal call per biopsy.
    lh_day_sd
        SD (days) of the reported LH day around the true cycle time.
    n_trial
        Women (>= 3 losses, >= 2 biopsies) randomised 1:1 sitagliptin/placebo.
    n_scratch
        Women given an endometrial scratch after their biopsies.
    generator_version
        :data:`GENERATOR_VERSION` at generation time.
    """

    seed: int = DEMO_SEED
    n_rpl: int = DEMO_N_RPL
    n_controls: int = DEMO_N_CONTROLS
    n_population: int = DEFAULT_POPULATION
    anchor_date: str = ANCHOR_DATE.isoformat()
    theta_alpha: float = THETA_ALPHA
    theta_beta: float = THETA_BETA
    call_sensitivity: float = CALL_SENSITIVITY
    call_specificity: float = CALL_SPECIFICITY
    lh_day_sd: float = LH_DAY_SD
    n_trial: int = 40
    n_scratch: int = 10
    generator_version: str = GENERATOR_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SyntheticCohort:
    """A generated cohort: import tables, latent truth and the population check.

    Import tables (column sets fixed, see :data:`TABLE_COLUMNS`) hold dates
    as ISO strings, flags as ``bool`` and missing values as ``NaN`` (numbers)
    or ``""`` (text); :func:`write_cohort` writes flags as ``true``/``false``.

    Attributes
    ----------
    params
        The parameters used.
    patients, pregnancies, investigations, biopsies, interventions
        The tables a clinic would import.
    truth
        Per biopsy: ``biopsy_id``, ``patient_id``, ``theta``,
        ``defective_cycle`` (bool), ``true_lh_day`` (float, real cycle time).
        Not importable: for assay generators and tests.
    patient_truth
        Per woman: latent ``theta`` and the conditions behind her results.
    pregnancy_truth
        Per pregnancy: ``loss_route`` (``none``/``age``/``decidual``) and
        ``aneuploid``.
    population
        One row per simulated population pregnancy (``woman``, ``order``,
        ``age``, ``prev_consecutive_losses``, ``loss``, ``loss_route``,
        ``theta``). Not written to disk (large).
    population_summary
        Simulated loss rates by age band and by previous consecutive losses
        against the published targets, and the calibrated age-route curve.
    """

    params: CohortParams
    patients: pd.DataFrame
    pregnancies: pd.DataFrame
    investigations: pd.DataFrame
    biopsies: pd.DataFrame
    interventions: pd.DataFrame
    truth: pd.DataFrame
    patient_truth: pd.DataFrame
    pregnancy_truth: pd.DataFrame
    population: pd.DataFrame = field(repr=False)
    population_summary: dict[str, Any] = field(repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables written to CSV, keyed by file stem."""
        return {
            "patients": self.patients,
            "pregnancies": self.pregnancies,
            "investigations": self.investigations,
            "biopsies": self.biopsies,
            "interventions": self.interventions,
            "truth": self.truth,
            "patient_truth": self.patient_truth,
            "pregnancy_truth": self.pregnancy_truth,
        }


#: Exact columns of each table (the import formats; ``truth*`` are latent).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": (
        "patient_id",
        "year_of_birth",
        "bmi",
        "ethnicity",
        "study_group",
        "consent_research",
        "consent_biobank",
        "consent_contact",
    ),
    "pregnancies": (
        "patient_id",
        "order",
        "outcome",
        "gestation_weeks",
        "conception",
        "karyotype",
        "karyotype_detail",
        "outcome_date",
    ),
    "investigations": (
        "patient_id",
        "kind",
        "date",
        "value",
        "unit",
        "interpretation",
        "text",
    ),
    "biopsies": (
        "biopsy_id",
        "patient_id",
        "cycle_number",
        "lh_surge_date",
        "biopsy_date",
        "on_treatment",
        "clinic_call",
    ),
    "interventions": ("patient_id", "kind", "start_date", "end_date", "dose", "trial_arm"),
    "truth": ("biopsy_id", "patient_id", "theta", "defective_cycle", "true_lh_day"),
    "patient_truth": (
        "patient_id",
        "study_group",
        "theta",
        "referral_date",
        "age_at_referral",
        "losses_at_referral",
        "consecutive_losses_at_referral",
        "aps",
        "tpo_positive",
        "thyroid_dysfunction",
        "uterine_anomaly",
        "parental_rearrangement",
    ),
    "pregnancy_truth": ("patient_id", "order", "loss_route", "aneuploid"),
}


# --------------------------------------------------------------------------
# Stage 1: the population
# --------------------------------------------------------------------------


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


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


# --------------------------------------------------------------------------
# Stage 2: the clinic
# --------------------------------------------------------------------------

#: Probability that an investigation is recorded, (rpl, control) — synthetic
#: assumption; gaps are deliberate so care rules meet "TSH not recorded".
RECORDING_PROBABILITY: dict[str, tuple[float, float]] = {
    "aps_panel": (0.85, 0.30),
    "anti_b2gp1": (0.70, 0.20),
    "tsh": (0.88, 0.50),
    "free_t4": (0.50, 0.30),  # given TSH recorded
    "tpo_antibodies": (0.75, 0.30),
    "hba1c": (0.60, 0.30),
    "full_blood_count": (0.70, 0.40),
    "uterine_imaging": (0.80, 0.50),
    "parental_karyotypes": (0.30, 0.02),
}

#: Prevalence of findings, (rpl, control) — synthetic assumptions of the order
#: reported in RPL clinics (APS a few %, thyroid autoimmunity ~10%, uterine
#: anomalies ~10-15%, balanced parental rearrangements ~2%).
PREVALENCE: dict[str, tuple[float, float]] = {
    "aps": (0.07, 0.01),
    "tpo_positive": (0.12, 0.09),
    "uterine_anomaly": (0.12, 0.05),
    "parental_rearrangement_female": (0.015, 0.002),
    "parental_rearrangement_male": (0.010, 0.002),
    "diabetes": (0.015, 0.01),
    "prediabetes": (0.06, 0.05),
}

_UTERINE_FINDINGS = (
    ("septate uterus", Interpretation.ABNORMAL),
    ("submucosal fibroid", Interpretation.ABNORMAL),
    ("bicornuate uterus", Interpretation.ABNORMAL),
    ("endometrial polyp", Interpretation.ABNORMAL),
    ("arcuate uterus (minor indentation)", Interpretation.EQUIVOCAL),
)
_REARRANGEMENTS = (
    "t(11;22)(q23;q11.2)",
    "rob(13;14)(q10;q10)",
    "t(2;7)(p13;q22)",
    "inv(6)(p21q23)",
)
_ASSISTED_MODES = (
    (ConceptionMode.OVULATION_INDUCTION, 0.30),
    (ConceptionMode.IUI, 0.10),
    (ConceptionMode.IVF, 0.30),
    (ConceptionMode.ICSI, 0.25),
    (ConceptionMode.ASSISTED_OTHER, 0.05),
)


def _pick(rng: np.random.Generator, options: Sequence[tuple[Any, float]]) -> Any:
    weights = np.array([w for _, w in options], dtype=float)
    i = int(rng.choice(len(options), p=weights / weights.sum()))
    return options[i][0]


def _days(d: dt.date, n: float) -> dt.date:
    return d + dt.timedelta(days=int(round(n)))


def _antibody_interpretation(value: float) -> Interpretation:
    if value > APS_ANTIBODY_POSITIVE_ABOVE:
        return Interpretation.ABNORMAL
    if value >= APS_ANTIBODY_EQUIVOCAL_ABOVE:
        return Interpretation.EQUIVOCAL
    return Interpretation.NORMAL


def _range_interpretation(value: float, low: float, high: float) -> Interpretation:
    return Interpretation.NORMAL if low <= value <= high else Interpretation.ABNORMAL


def _hba1c_interpretation(value: float) -> Interpretation:
    if value >= HBA1C_DIABETES_MMOL_MOL:
        return Interpretation.ABNORMAL
    if value >= HBA1C_HIGH_RISK_MMOL_MOL:
        return Interpretation.EQUIVOCAL
    return Interpretation.NORMAL


def _aneuploid_karyotype(rng: np.random.Generator) -> str:
    template = _pick(rng, _ANEUPLOIDIES)
    male = rng.random() < 0.5
    return template.format(sex="XY" if male else "XX", y="Y" if male else "X")


def _conception_mode(rng: np.random.Generator, age: float) -> ConceptionMode:
    """Conception mode (synthetic assumption: ~5% assisted, ~13% from age 35)."""
    u = rng.random()
    p_assisted = 0.05 + (0.08 if age >= 35 else 0.0)
    if u < 0.02:
        return ConceptionMode.UNKNOWN
    if u < 0.02 + p_assisted:
        return _pick(rng, _ASSISTED_MODES)
    return ConceptionMode.SPONTANEOUS


def _choose_points(
    rng: np.random.Generator,
    eligible: np.ndarray,
    n: int,
    exclude: np.ndarray,
    what: str,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n`` women with an eligible cut point, and her cut point.

    Without ``weight``, women are equally likely and the cut point is a random
    eligible one. With ``weight`` (women x points), the cut is her latest
    eligible point (a referral after her most recent loss) and women are drawn
    with probability proportional to ``weight`` at that point.
    """
    has = eligible.any(axis=1)
    has[exclude] = False
    candidates = np.flatnonzero(has)
    if len(candidates) < n:
        raise InputError(
            f"the simulated population holds only {len(candidates)} women eligible as "
            f"{what}, fewer than the {n} requested; increase n_population"
        )
    if weight is None:
        keys = np.where(eligible[candidates], rng.random(eligible[candidates].shape), -1.0)
        cuts = np.argmax(keys, axis=1)
        p = None
    else:
        k = eligible.shape[1]
        cuts = k - 1 - np.argmax(eligible[candidates, ::-1], axis=1)
        w = weight[candidates, cuts].astype(float)
        p = w / w.sum()
    pick = np.sort(rng.choice(len(candidates), size=n, replace=False, p=p))
    return candidates[pick], cuts[pick]


class _ClinicBuilder:
    """Accumulates the clinic's rows woman by woman (all draws from one rng)."""

    def __init__(
        self,
        rng: np.random.Generator,
        params: CohortParams,
        sim: dict[str, np.ndarray],
        theta: np.ndarray,
        knots: np.ndarray,
    ) -> None:
        self.rng = rng
        self.params = params
        self.sim = sim
        self.theta = theta
        self.knots = knots
        self.anchor = dt.date.fromisoformat(params.anchor_date)
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_COLUMNS}

    # -- one woman ---------------------------------------------------------
    def add_woman(
        self, pid: str, woman: int, cut: int, group: str, trial_arm: str | None, scratch: bool
    ) -> None:
        rng, sim = self.rng, self.sim
        g = 0 if group == "rpl" else 1
        theta = float(self.theta[woman])
        window = (REFERRAL_WINDOW[1] - REFERRAL_WINDOW[0]).days
        referral = _days(REFERRAL_WINDOW[0], rng.integers(0, window + 1))
        age_ref = float(sim["end_age"][woman, cut]) + rng.uniform(0.15, 1.2)
        birth = _days(referral, -age_ref * _DAYS_PER_YEAR)

        self.rows["patients"].append(
            {
                "patient_id": pid,
                "year_of_birth": birth.year,
                "bmi": round(float(np.clip(np.exp(rng.normal(np.log(25.0), 0.18)), 17, 45)), 1),
                "ethnicity": _pick(rng, _ETHNICITIES),
                "study_group": group,
                **self._consents(),
            }
        )

        # Obstetric history up to the referral.
        n_loss = 0
        run = 0
        for j in range(cut + 1):
            code = int(sim["outcome"][woman, j])
            outcome = _OUTCOME_CODES[code]
            conception = _days(birth, sim["conc_age"][woman, j] * _DAYS_PER_YEAR)
            gw = float(sim["gest"][woman, j])
            end = _days(conception, (gw - 2.0) * 7.0)
            is_loss = outcome in (Outcome.MISCARRIAGE, Outcome.BIOCHEMICAL)
            n_loss += is_loss
            run = run + 1 if is_loss else (0 if outcome is Outcome.LIVE_BIRTH else run)
            route = list(_POP_LOSS_CODES)[int(sim["route"][woman, j])] if is_loss else "none"
            p_test = 0.5 if n_loss >= 3 else 0.2
            self._pregnancy(
                pid,
                j + 1,
                outcome,
                gw,
                _conception_mode(rng, float(sim["conc_age"][woman, j])),
                end,
                route,
                bool(sim["aneuploid"][woman, j]),
                p_test,
            )

        latent = self._investigations(pid, g, referral)
        arm_start, arm_end, last_event = self._biopsies(pid, g, theta, referral, trial_arm)
        if trial_arm is not None:
            active = trial_arm == "sitagliptin"
            kind = InterventionKind.SITAGLIPTIN if active else InterventionKind.PLACEBO
            dose = TEWARY_2020_DOSE if active else "matching placebo daily"
            self._intervention(pid, kind, arm_start, arm_end, dose, trial_arm)
        if scratch:
            last_event = _days(last_event, rng.integers(20, 40))
            self._intervention(pid, InterventionKind.ENDOMETRIAL_SCRATCH, last_event, last_event)
        self._next_pregnancy(pid, g, cut + 2, birth, theta, last_event, n_loss, latent["aps"])

        self.rows["patient_truth"].append(
            {
                "patient_id": pid,
                "study_group": group,
                "theta": round(theta, 5),
                "referral_date": referral.isoformat(),
                "age_at_referral": round(age_ref, 2),
                "losses_at_referral": n_loss,
                "consecutive_losses_at_referral": run,
                **latent,
            }
        )

    def _consents(self) -> dict[str, bool]:
        rng = self.rng
        research = bool(rng.random() < 0.95)
        return {
            "consent_research": research,
            "consent_biobank": bool(research and rng.random() < 0.88),
            "consent_contact": bool(rng.random() < 0.70),
        }

    # -- pregnancies -------------------------------------------------------
    def _pregnancy(
        self,
        pid: str,
        order: int,
        outcome: Outcome,
        gw: float,
        mode: ConceptionMode,
        outcome_date: dt.date | None,
        route: str,
        aneuploid: bool,
        p_test: float,
    ) -> None:
        rng = self.rng
        karyotype, detail = KaryotypeResult.NOT_TESTED, ""
        if outcome is Outcome.MISCARRIAGE and outcome_date is not None and rng.random() < p_test:
            if rng.random() < 0.08:
                karyotype = KaryotypeResult.FAILED
            elif aneuploid:
                karyotype, detail = KaryotypeResult.ABNORMAL, _aneuploid_karyotype(rng)
            else:
                karyotype = KaryotypeResult.NORMAL
            interp = {
                KaryotypeResult.FAILED: Interpretation.EQUIVOCAL,
                KaryotypeResult.ABNORMAL: Interpretation.ABNORMAL,
                KaryotypeResult.NORMAL: Interpretation.NORMAL,
            }[karyotype]
            text = {
                KaryotypeResult.FAILED: f"pregnancy {order}: no result (culture failed)",
                KaryotypeResult.ABNORMAL: f"pregnancy {order}: {detail}",
                KaryotypeResult.NORMAL: f"pregnancy {order}: no imbalance detected",
            }[karyotype]
            self._investigation(pid, "pregnancy_tissue_karyotype", outcome_date, None, interp, text)
        self.rows["pregnancies"].append(
            {
                "patient_id": pid,
                "order": order,
                "outcome": outcome.value,
                "gestation_weeks": gw,
                "conception": mode.value,
                "karyotype": karyotype.value,
                "karyotype_detail": detail,
                "outcome_date": outcome_date.isoformat() if outcome_date else "",
            }
        )
        self.rows["pregnancy_truth"].append(
            {"patient_id": pid, "order": order, "loss_route": route, "aneuploid": aneuploid}
        )

    def _next_pregnancy(
        self,
        pid: str,
        g: int,
        order: int,
        birth: dt.date,
        theta: float,
        after: dt.date,
        n_loss: int,
        aps: bool,
    ) -> None:
        """A next pregnancy after the biopsies, its outcome drawn from the two-route model."""
        rng = self.rng
        if rng.random() >= (0.65, 0.50)[g]:
            return
        conception = _days(after, 14 + rng.exponential(150.0))
        if _days(conception, 21) > self.anchor:
            return  # not yet known to the clinic at the anchor date
        age = (conception - birth).days / _DAYS_PER_YEAR
        u = rng.random()
        age_loss = bool(rng.random() < float(age_route_probability(age, self.knots)))
        dec_loss = bool(rng.random() < theta)
        if u < ECTOPIC_PROBABILITY:
            code = 3
        elif u < ECTOPIC_PROBABILITY + MOLAR_PROBABILITY:
            code = 4
        elif age_loss or dec_loss:
            code = 2 if rng.random() < BIOCHEMICAL_SHARE_OF_LOSSES else 1
        else:
            code = 0
        is_loss = code in (1, 2)
        route = ("age" if age_loss else "decidual") if is_loss else "none"
        aneuploid = is_loss and age_loss and rng.random() < AGE_ROUTE_ANEUPLOID_FRACTION
        gw = float(_gestation_weeks(np.array([code]), rng.beta(1.4, 5.0, 1), rng.random(1))[0])
        outcome = _OUTCOME_CODES[code]
        end: dt.date | None = _days(conception, (gw - 2.0) * 7.0)
        if end is not None and end > self.anchor:
            outcome, end = Outcome.ONGOING, None
            gw = round((self.anchor - conception).days / 7.0 + 2.0, 1)
        self._pregnancy(
            pid, order, outcome, gw, _conception_mode(rng, age), end, route, aneuploid, 0.6
        )
        # Progesterone for bleeding in early pregnancy after a previous loss (PRISM).
        if g == 0 and n_loss >= 1 and gw >= 6.0 and rng.random() < 0.3:
            start = _days(conception, 28)
            stop = _days(conception, (PRISM_2019_END_WEEKS - 2.0) * 7.0)
            if end is not None:
                stop = min(stop, end)
            self._intervention(
                pid,
                InterventionKind.PROGESTERONE,
                start,
                stop if stop <= self.anchor else None,
                PRISM_2019_DOSE,
            )
        # Aspirin + heparin for antiphospholipid syndrome (ESHRE 2022), from the
        # positive pregnancy test (~4 weeks) if the pregnancy was still going then.
        start = _days(conception, 14)
        if aps and (end is None or end >= start):
            stop = None if end is None else _days(end, 42 if outcome is Outcome.LIVE_BIRTH else 0)
            self._intervention(
                pid,
                InterventionKind.ASPIRIN_HEPARIN,
                start,
                stop if stop is not None and stop <= self.anchor else None,
                "aspirin 75 mg daily + enoxaparin 40 mg daily",
            )

    # -- investigations ----------------------------------------------------
    def _investigation(
        self,
        pid: str,
        kind: str,
        date: dt.date,
        value: float | None,
        interpretation: Interpretation,
        text: str = "",
    ) -> None:
        info = INVESTIGATION_KINDS[kind]
        self.rows["investigations"].append(
            {
                "patient_id": pid,
                "kind": kind,
                "date": date.isoformat(),
                "value": np.nan if value is None else value,
                "unit": (info.unit or "") if value is not None else "",
                "interpretation": interpretation.value,
                "text": text,
            }
        )

    def _antibody(self, positive: bool) -> float:
        rng = self.rng
        if positive:
            return round(float(rng.uniform(41.0, 120.0)), 1)
        if rng.random() < 0.03:
            return round(float(rng.uniform(20.0, 40.0)), 1)
        return round(float(np.clip(np.exp(rng.normal(np.log(4.0), 0.6)), 0.5, 19.9)), 1)

    def _investigations(self, pid: str, g: int, referral: dt.date) -> dict[str, Any]:
        rng = self.rng

        def has(name: str) -> bool:
            return bool(rng.random() < PREVALENCE[name][g])

        def recorded(name: str) -> bool:
            return bool(rng.random() < RECORDING_PROBABILITY[name][g])

        aps, tpo = has("aps"), has("tpo_positive")
        u = rng.random()
        thyroid = "hypo" if u < (0.15 if tpo else 0.03) else ("hyper" if u > 0.99 else "none")
        anomaly = None
        if has("uterine_anomaly"):
            anomaly = _UTERINE_FINDINGS[int(rng.integers(len(_UTERINE_FINDINGS)))]
        rearr_f = has("parental_rearrangement_female")
        rearr_m = has("parental_rearrangement_male")
        glyc = "diabetes" if has("diabetes") else ("prediabetes" if has("prediabetes") else "none")
        blood = _days(referral, rng.integers(7, 45))

        # Antiphospholipid antibodies: persistent positives are repeated >= 12 weeks later.
        la_pos = acl_pos = b2_pos = False
        if aps:
            la_pos, acl_pos, b2_pos = (bool(x) for x in rng.random(3) < (0.5, 0.4, 0.35))
            la_pos = la_pos or not (acl_pos or b2_pos)
        repeat = _days(blood, APS_REPEAT_WEEKS * 7 + rng.integers(0, 21))
        if aps or recorded("aps_panel"):
            for date in (blood, repeat) if aps else (blood,):
                self._investigation(
                    pid,
                    "lupus_anticoagulant",
                    date,
                    None,
                    Interpretation.ABNORMAL if la_pos else Interpretation.NORMAL,
                    "positive (dRVVT)" if la_pos else "negative",
                )
                for kind, pos in (("anticardiolipin_igg", acl_pos), ("anticardiolipin_igm", False)):
                    v = self._antibody(pos)
                    self._investigation(pid, kind, date, v, _antibody_interpretation(v))
            if aps or recorded("anti_b2gp1"):
                for date in (blood, repeat) if aps else (blood,):
                    for kind, pos in (("anti_b2gp1_igg", b2_pos), ("anti_b2gp1_igm", False)):
                        v = self._antibody(pos)
                        self._investigation(pid, kind, date, v, _antibody_interpretation(v))

        if recorded("tsh"):
            if thyroid == "hypo":
                tsh = rng.uniform(4.2, 9.5)
            elif thyroid == "hyper":
                tsh = rng.uniform(0.02, 0.3)
            else:
                tsh = np.clip(np.exp(rng.normal(np.log(1.7), 0.4)), 0.45, 3.95)
            tsh = round(float(tsh), 2)
            self._investigation(
                pid, "tsh", blood, tsh, _range_interpretation(tsh, *TSH_REFERENCE_MIU_L)
            )
            if recorded("free_t4"):
                lo, hi = {"hypo": (10.0, 13.5), "hyper": (23.0, 35.0)}.get(thyroid, (12.5, 21.0))
                ft4 = round(float(rng.uniform(lo, hi)), 1)
                self._investigation(
                    pid,
                    "free_t4",
                    blood,
                    ft4,
                    _range_interpretation(ft4, *FREE_T4_REFERENCE_PMOL_L),
                )
        if recorded("tpo_antibodies"):
            if tpo:
                v = round(float(rng.uniform(40.0, 600.0)), 1)
            else:
                v = round(float(np.clip(np.exp(rng.normal(np.log(8.0), 0.6)), 1.0, 33.9)), 1)
            interp = (
                Interpretation.ABNORMAL if v > TPO_POSITIVE_ABOVE_IU_ML else Interpretation.NORMAL
            )
            self._investigation(pid, "tpo_antibodies", blood, v, interp)
        if recorded("hba1c"):
            lo, hi = {"diabetes": (48.0, 70.0), "prediabetes": (42.0, 47.4)}.get(glyc, (28.0, 41.4))
            v = float(round(rng.uniform(lo, hi)))
            self._investigation(pid, "hba1c", blood, v, _hba1c_interpretation(v))
        if recorded("full_blood_count"):
            anaemia = rng.random() < 0.05
            self._investigation(
                pid,
                "full_blood_count",
                blood,
                None,
                Interpretation.ABNORMAL if anaemia else Interpretation.NORMAL,
                "haemoglobin below reference (anaemia)" if anaemia else "within reference ranges",
            )
        if anomaly is not None or recorded("uterine_imaging"):
            finding, interp = anomaly or ("normal uterine cavity", Interpretation.NORMAL)
            self._investigation(
                pid,
                "uterine_imaging",
                _days(referral, rng.integers(14, 90)),
                None,
                interp,
                f"3D transvaginal ultrasound: {finding}",
            )
        if recorded("parental_karyotypes"):
            date = _days(referral, rng.integers(14, 60))
            for kind, sex, rearr in (
                ("parental_karyotype_female", "XX", rearr_f),
                ("parental_karyotype_male", "XY", rearr_m),
            ):
                text = f"46,{sex},{rng.choice(_REARRANGEMENTS)}" if rearr else f"46,{sex}"
                interp = Interpretation.ABNORMAL if rearr else Interpretation.NORMAL
                self._investigation(pid, kind, date, None, interp, text)
        return {
            "aps": aps,
            "tpo_positive": tpo,
            "thyroid_dysfunction": thyroid,
            "uterine_anomaly": anomaly[0] if anomaly else "",
            "parental_rearrangement": rearr_f or rearr_m,
        }

    # -- biopsies and interventions ---------------------------------------
    def _biopsies(
        self, pid: str, g: int, theta: float, referral: dt.date, trial_arm: str | None
    ) -> tuple[dt.date, dt.date, dt.date]:
        """1-3 biopsies in different cycles; returns (trial start, trial end, last event)."""
        rng, p = self.rng, self.params
        n = int(rng.choice(3, p=(N_BIOPSY_PROBS_RPL, N_BIOPSY_PROBS_CONTROL)[g])) + 1
        if trial_arm is not None:
            n = max(n, 2)
        cycle_start = _days(referral, rng.integers(20, 100))
        trial_start = trial_end = referral
        last = referral
        for b in range(1, n + 1):
            cycle_len = int(rng.integers(26, 33))
            lh = _days(cycle_start, rng.integers(12, 17))
            day = int(rng.choice(LH_DAYS, p=LH_DAY_WEIGHTS / LH_DAY_WEIGHTS.sum()))
            biopsy = _days(lh, day)
            true_day = round(day + float(rng.normal(0.0, p.lh_day_sd)), 2)
            defective = bool(rng.random() < theta)
            u = rng.random()
            abnormal = u < p.call_sensitivity if defective else u < 1.0 - p.call_specificity
            on_treatment = trial_arm is not None and b == 2
            bid = f"{pid}-B{b}"
            self.rows["biopsies"].append(
                {
                    "biopsy_id": bid,
                    "patient_id": pid,
                    "cycle_number": b,
                    "lh_surge_date": lh.isoformat(),
                    "biopsy_date": biopsy.isoformat(),
                    "on_treatment": on_treatment,
                    "clinic_call": (
                        DecidualCall.ABNORMAL if abnormal else DecidualCall.NORMAL
                    ).value,
                }
            )
            self.rows["truth"].append(
                {
                    "biopsy_id": bid,
                    "patient_id": pid,
                    "theta": round(theta, 5),
                    "defective_cycle": defective,
                    "true_lh_day": true_day,
                }
            )
            last = biopsy
            if trial_arm is not None and b == 1:
                # Treatment from the next menses for three cycles (Tewary 2020);
                # the second biopsy falls in the third treated cycle.
                trial_start = _days(cycle_start, cycle_len)
                trial_end = _days(trial_start, TEWARY_2020_CYCLES * 30 - 1)
                cycle_start = _days(trial_start, 56)
            elif trial_arm is not None and b == 2:
                cycle_start = _days(trial_end, rng.integers(1, 29))
            else:
                cycle_start = _days(cycle_start, cycle_len * int(rng.integers(1, 5)))
        if trial_arm is not None:
            last = max(last, trial_end)
        return trial_start, trial_end, last

    def _intervention(
        self,
        pid: str,
        kind: InterventionKind,
        start: dt.date,
        end: dt.date | None,
        dose: str = "",
        trial_arm: str | None = None,
    ) -> None:
        self.rows["interventions"].append(
            {
                "patient_id": pid,
                "kind": kind.value,
                "start_date": start.isoformat(),
                "end_date": end.isoformat() if end else "",
                "dose": dose,
                "trial_arm": trial_arm or "",
            }
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        sort_keys = {
            "patients": ["patient_id"],
            "pregnancies": ["patient_id", "order"],
            "investigations": ["patient_id", "date", "kind"],
            "biopsies": ["patient_id", "cycle_number"],
            "interventions": ["patient_id", "start_date", "kind"],
            "truth": ["patient_id", "biopsy_id"],
            "patient_truth": ["patient_id"],
            "pregnancy_truth": ["patient_id", "order"],
        }
        for name, cols in TABLE_COLUMNS.items():
            df = pd.DataFrame(self.rows[name], columns=list(cols))
            out[name] = df.sort_values(sort_keys[name], kind="stable").reset_index(drop=True)
        return out


def generate_cohort(
    seed: int = DEMO_SEED,
    n_rpl: int = DEMO_N_RPL,
    n_controls: int = DEMO_N_CONTROLS,
    *,
    n_population: int = DEFAULT_POPULATION,
    params: CohortParams | None = None,
) -> SyntheticCohort:
    """Generate a synthetic implantation-clinic cohort (SYNTHETIC — not real patients).

    Parameters
    ----------
    seed
        Seed; the same seed (and parameters) gives bit-identical tables.
    n_rpl
        Women referred after >= 2 pregnancy losses (``study_group = "rpl"``).
    n_controls
        Controls with no or one loss at referral.
    n_population
        Size of the simulated general population sampled from.
    params
        Full parameter set; when given, it overrides the other arguments.

    Returns
    -------
    SyntheticCohort
        Import tables, latent truth, the simulated population and its
        check against Magnus et al. BMJ 2019.

    Raises
    ------
    InputError
        If the population holds too few eligible women for the sample asked.

    Examples
    --------
    >>> cohort = generate_cohort(seed=1, n_rpl=40, n_controls=10, n_population=20_000)
    >>> sorted(cohort.patients["study_group"].unique())
    ['control', 'rpl']
    """
    if params is None:
        params = CohortParams(
            seed=seed, n_rpl=n_rpl, n_controls=n_controls, n_population=n_population
        )
    if params.n_rpl < 0 or params.n_controls < 0 or params.n_population < 1:
        raise InputError("n_rpl and n_controls must be >= 0 and n_population >= 1")
    pop_seq, clinic_seq = np.random.SeedSequence(params.seed).spawn(2)
    draws = _draw_population(np.random.default_rng(pop_seq), params)
    knots, sim = _calibrate(draws)
    population = _population_frame(sim, draws.theta)
    summary = summarise_population(population, knots, params)

    rng = np.random.default_rng(clinic_seq)
    exists = sim["exists"]
    is_loss = exists & np.isin(sim["outcome"], (1, 2))
    cum_loss = np.cumsum(is_loss, axis=1)
    end_age = np.nan_to_num(sim["end_age"], nan=-1.0)
    rpl_ok = is_loss & (cum_loss >= ESHRE_2022_RPL_MIN_LOSSES) & (end_age >= 20) & (end_age <= 43.5)
    ctl_ok = exists & (cum_loss <= 1) & (end_age >= 22) & (end_age <= 42)
    none = np.zeros(len(exists), dtype=bool)
    # Women with more losses are more likely to reach an implantation clinic
    # (synthetic assumption: referral odds proportional to losses beyond the first).
    rpl_w, rpl_cut = _choose_points(
        rng, rpl_ok, params.n_rpl, none, "RPL referrals", weight=cum_loss - 1
    )
    taken = none.copy()
    taken[rpl_w] = True
    ctl_w, ctl_cut = _choose_points(rng, ctl_ok, params.n_controls, taken, "controls")

    women = np.concatenate([rpl_w, ctl_w])
    cuts = np.concatenate([rpl_cut, ctl_cut])
    groups = ["rpl"] * len(rpl_w) + ["control"] * len(ctl_w)
    ids = [f"DEC-{i + 1:04d}" for i in rng.permutation(len(women))]

    # Trial (>= 3 losses at referral) and scratch allocations among RPL women.
    losses_at_cut = cum_loss[rpl_w, rpl_cut]
    trial_pool = np.flatnonzero(losses_at_cut >= TEWARY_2020_MIN_LOSSES)
    n_trial = min(params.n_trial, len(trial_pool))
    trial_idx = rng.choice(trial_pool, size=n_trial, replace=False)
    arms = np.where(rng.permutation(n_trial) < n_trial // 2, "sitagliptin", "placebo")
    trial_arm: dict[int, str] = {int(i): str(a) for i, a in zip(trial_idx, arms, strict=True)}
    rest = np.setdiff1d(np.arange(len(rpl_w)), trial_idx)
    scratch = set(rng.choice(rest, size=min(params.n_scratch, len(rest)), replace=False).tolist())

    builder = _ClinicBuilder(rng, params, sim, draws.theta, knots)
    for k, (w, cut, group) in enumerate(zip(women, cuts, groups, strict=True)):
        builder.add_woman(ids[k], int(w), int(cut), group, trial_arm.get(k), k in scratch)
    frames = builder.frames()
    return SyntheticCohort(
        params=params,
        population=population,
        population_summary=summary,
        **frames,
    )


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _csv_text(df: pd.DataFrame) -> str:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
    return out.to_csv(index=False, lineterminator="\n")


def _readme(cohort: SyntheticCohort) -> str:
    p, s = cohort.params, cohort.population_summary
    lines = [
        f"# Decidua demo cohort — {SYNTHETIC_LABEL}",
        "",
        "**SYNTHETIC — not real patients.** Every row in this directory was made up by a",
        "seeded simulation; no person's data were used. For demos and tests only.",
        "Research use only; not a diagnostic device.",
        "",
        "## Provenance",
        "",
        f"- generator: `decidua.synthetic.cohort` (version {p.generator_version})",
        f"- seed: {p.seed}; RPL referrals: {p.n_rpl}; controls: {p.n_controls}; "
        f"simulated population: {p.n_population} women",
        f"- anchor date (synthetic 'today'; no date is later): {p.anchor_date}",
        "- regenerate: `python -m decidua.synthetic.cohort --out src/decidua/data/demo`",
        "  (a test checks that these files equal a fresh generation).",
        "- licence: GPL-3.0-or-later, like the rest of Decidua.",
        "",
        "## Model",
        "",
        "A general population is simulated pregnancy by pregnancy. A pregnancy is lost by an",
        "age-related route (curve calibrated to Magnus et al., BMJ 2019) or by a decidual route:",
        "each woman has a latent frequency `theta ~ Beta"
        f"({p.theta_alpha}, {p.theta_beta})` of cycles with a defective decidual",
        "reaction (Muter et al., Sci Adv 2025). The clinic samples women referred after >= 2",
        "losses (ESHRE 2022) and controls with <= 1 loss; each has 1-3 biopsies in different",
        "cycles on LH+5..+12. The clinic's call on a biopsy reads the latent defective state",
        f"with sensitivity {p.call_sensitivity} and specificity {p.call_specificity}; the",
        f"reported LH day differs from the true cycle time by N(0, {p.lh_day_sd}) days.",
        "",
        "## Files",
        "",
        "| file | content |",
        "|---|---|",
    ]
    for name, cols in TABLE_COLUMNS.items():
        latent = " (latent truth, not imported)" if name.endswith("truth") else ""
        lines.append(f"| `{name}.csv`{latent} | {', '.join(f'`{c}`' for c in cols)} |")
    lines += [
        "| `population_summary.json` | simulated population vs published figures |",
        "",
        "Dates are ISO (YYYY-MM-DD); flags are `true`/`false`; an ongoing pregnancy has no",
        '`outcome_date`. Some investigations are missing on purpose ("TSH not recorded").',
        "",
        "## Simulated population vs published figures",
        "",
        "| age band | pregnancies | simulated loss rate | Magnus 2019 |",
        "|---|---|---|---|",
    ]
    for row in s["by_age_band"]:
        lines.append(
            f"| {row['band']} | {row['n_pregnancies']} | {row['simulated_loss_rate']:.3f} "
            f"| {row['target_loss_rate']:.3f} |"
        )
    lines += [
        "",
        "| previous consecutive losses | pregnancies | loss rate | age-adjusted OR | Magnus 2019 |",
        "|---|---|---|---|---|",
    ]
    for row in s["by_previous_consecutive_losses"]:
        target = row.get("target_or")
        lines.append(
            f"| {row['previous_consecutive_losses']} | {row['n_pregnancies']} "
            f"| {row['simulated_loss_rate']:.3f} | {row.get('age_adjusted_or', 1.0):.2f} "
            f"| {target if target else 1.0:.2f} |"
        )
    lines += ["", f"Odds ratios: {s['odds_ratio_method']}.", ""]
    return "\n".join(lines)


def write_cohort(cohort: SyntheticCohort, directory: str | Path) -> list[Path]:
    """Write a cohort's CSV files, its population summary and a provenance README.

    Parameters
    ----------
    cohort
        A cohort from :func:`generate_cohort`.
    directory
        Target directory (created if missing); existing files are overwritten.

    Returns
    -------
    list of pathlib.Path
        The files written: ``patients.csv``, ``pregnancies.csv``,
        ``investigations.csv``, ``biopsies.csv``, ``interventions.csv``,
        ``truth.csv``, ``patient_truth.csv``, ``pregnancy_truth.csv``,
        ``population_summary.json`` and ``README.md``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in cohort.tables().items():
        path = out / f"{name}.csv"
        path.write_text(_csv_text(df), encoding="utf-8")
        written.append(path)
    summary = {"params": cohort.params.to_dict(), **cohort.population_summary}
    path = out / "population_summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)
    path = out / "README.md"
    path.write_text(_readme(cohort), encoding="utf-8")
    written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m decidua.synthetic.cohort --out DIR``.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status 0.
    """
    parser = argparse.ArgumentParser(
        description=f"Write the seeded synthetic demo cohort ({SYNTHETIC_LABEL})."
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--n-rpl", type=int, default=DEMO_N_RPL)
    parser.add_argument("--n-controls", type=int, default=DEMO_N_CONTROLS)
    parser.add_argument("--n-population", type=int, default=DEFAULT_POPULATION)
    args = parser.parse_args(argv)
    cohort = generate_cohort(args.seed, args.n_rpl, args.n_controls, n_population=args.n_population)
    write_cohort(cohort, args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised by hand / README
    raise SystemExit(main())
