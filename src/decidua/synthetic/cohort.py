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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from decidua.errors import InputError
from decidua.literature import (
    ESHRE_2022_RPL_MIN_LOSSES,
    MAGNUS_2019_ODDS_RATIOS,
    PRISM_2019_DOSE,
    PRISM_2019_END_WEEKS,
    QUENBY_2021_WOMEN_BY_LOSSES,
    TEWARY_2020_CYCLES,
    TEWARY_2020_DOSE,
    TEWARY_2020_MIN_LOSSES,
)
from decidua.synthetic.clinic import (
    PREVALENCE,
    RECORDING_PROBABILITY,
    _sample_clinic,
)
from decidua.synthetic.params import (
    AGE_BANDS,
    AGE_ROUTE_ANEUPLOID_FRACTION,
    ANCHOR_DATE,
    APS_ANTIBODY_EQUIVOCAL_ABOVE,
    APS_ANTIBODY_POSITIVE_ABOVE,
    APS_REPEAT_WEEKS,
    BIOCHEMICAL_SHARE_OF_LOSSES,
    CALIBRATION_ITERATIONS,
    CALL_SENSITIVITY,
    CALL_SPECIFICITY,
    DEFAULT_POPULATION,
    DEMO_N_CONTROLS,
    DEMO_N_RPL,
    DEMO_SEED,
    ECTOPIC_PROBABILITY,
    FREE_T4_REFERENCE_PMOL_L,
    GENERATOR_VERSION,
    HBA1C_DIABETES_MMOL_MOL,
    HBA1C_HIGH_RISK_MMOL_MOL,
    LH_DAY_SD,
    LH_DAY_WEIGHTS,
    LH_DAYS,
    MAGNUS_2019_LOSS_BY_AGE,
    MAGNUS_2019_OVERALL_LOSS,
    MAX_PREGNANCIES,
    MOLAR_PROBABILITY,
    N_BIOPSY_PROBS_CONTROL,
    N_BIOPSY_PROBS_RPL,
    REFERRAL_WINDOW,
    SYNTHETIC_LABEL,
    TERMINATION_PROBABILITY,
    THETA_ALPHA,
    THETA_BETA,
    TPO_POSITIVE_ABOVE_IU_ML,
    TSH_REFERENCE_MIU_L,
    CohortParams,
)
from decidua.synthetic.population import (
    _calibrate,
    _draw_population,
    _population_frame,
    age_route_probability,
)
from decidua.synthetic.summary import (
    summarise_population,
)
from decidua.synthetic.tables import (
    TABLE_COLUMNS,
    SyntheticCohort,
)
from decidua.synthetic.writing import (
    write_cohort,
)

__all__ = [
    "AGE_BANDS",
    "AGE_ROUTE_ANEUPLOID_FRACTION",
    "ANCHOR_DATE",
    "APS_ANTIBODY_EQUIVOCAL_ABOVE",
    "APS_ANTIBODY_POSITIVE_ABOVE",
    "APS_REPEAT_WEEKS",
    "BIOCHEMICAL_SHARE_OF_LOSSES",
    "CALIBRATION_ITERATIONS",
    "CALL_SENSITIVITY",
    "CALL_SPECIFICITY",
    "CohortParams",
    "DEFAULT_POPULATION",
    "DEMO_N_CONTROLS",
    "DEMO_N_RPL",
    "DEMO_SEED",
    "ECTOPIC_PROBABILITY",
    "ESHRE_2022_RPL_MIN_LOSSES",
    "FREE_T4_REFERENCE_PMOL_L",
    "GENERATOR_VERSION",
    "HBA1C_DIABETES_MMOL_MOL",
    "HBA1C_HIGH_RISK_MMOL_MOL",
    "LH_DAYS",
    "LH_DAY_SD",
    "LH_DAY_WEIGHTS",
    "MAGNUS_2019_LOSS_BY_AGE",
    "MAGNUS_2019_ODDS_RATIOS",
    "MAGNUS_2019_OVERALL_LOSS",
    "MAX_PREGNANCIES",
    "MOLAR_PROBABILITY",
    "N_BIOPSY_PROBS_CONTROL",
    "N_BIOPSY_PROBS_RPL",
    "PREVALENCE",
    "PRISM_2019_DOSE",
    "PRISM_2019_END_WEEKS",
    "QUENBY_2021_WOMEN_BY_LOSSES",
    "RECORDING_PROBABILITY",
    "REFERRAL_WINDOW",
    "SYNTHETIC_LABEL",
    "SyntheticCohort",
    "TABLE_COLUMNS",
    "TERMINATION_PROBABILITY",
    "TEWARY_2020_CYCLES",
    "TEWARY_2020_DOSE",
    "TEWARY_2020_MIN_LOSSES",
    "THETA_ALPHA",
    "THETA_BETA",
    "TPO_POSITIVE_ABOVE_IU_ML",
    "TSH_REFERENCE_MIU_L",
    "age_route_probability",
    "generate_cohort",
    "main",
    "summarise_population",
    "write_cohort",
]


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

    frames = _sample_clinic(np.random.default_rng(clinic_seq), params, sim, draws.theta, knots)
    return SyntheticCohort(
        params=params,
        population=population,
        population_summary=summary,
        **frames,
    )


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

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     status = main(["--out", tmp, "--n-rpl", "20", "--n-controls", "5",
    ...                    "--n-population", "10000"])
    ...     names = sorted(p.name for p in pathlib.Path(tmp).iterdir())
    >>> status, names[:3], len(names)
    (0, ['README.md', 'biopsies.csv', 'interventions.csv'], 10)
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
