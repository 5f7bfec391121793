"""Constants and parameters of the synthetic cohort (SYNTHETIC — not real patients).

Three kinds of constants, kept apart: the identity of the generator and of the
shipped demo; published figures (imported from :mod:`decidua.literature`, or
derived from them with the derivation stated); and synthetic assumptions
(tuned or plausible values that make a demo, not evidence). :class:`CohortParams`
holds everything needed to regenerate one cohort.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from decidua.domain import (
    Outcome,
)
from decidua.literature import (
    MAGNUS_2019_OVERALL_RISK,
    MAGNUS_2019_RISK_BY_AGE,
    MIYAKIS_2006_APS_PERSISTENCE_WEEKS,
    MIYAKIS_2006_APS_TITRE_ABOVE,
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

# --------------------------------------------------------------------------
# Parameters of one run
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

    Examples
    --------
    >>> p = CohortParams(seed=7, n_rpl=40, n_controls=10)
    >>> p.to_dict()["n_rpl"], p.n_population, p.generator_version == GENERATOR_VERSION
    (40, 100000, True)
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
