"""The generated cohort and the exact columns of its tables (SYNTHETIC — not real patients)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from decidua.synthetic.params import (
    CohortParams,
)


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

    Examples
    --------
    >>> from decidua.synthetic import generate_cohort
    >>> cohort = generate_cohort(seed=1, n_rpl=20, n_controls=5, n_population=10_000)
    >>> sorted(cohort.tables())[:3], len(cohort.patients)
    (['biopsies', 'interventions', 'investigations'], 25)
    >>> tuple(cohort.biopsies.columns) == TABLE_COLUMNS["biopsies"]
    True
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
