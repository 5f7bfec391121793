"""Seeded synthetic data for demos and tests (SYNTHETIC — not real patients).

:mod:`decidua.synthetic.cohort` simulates a general population whose
pregnancy-loss rates follow published age and prior-loss figures, then samples
the women an implantation clinic sees (recurrent pregnancy loss referrals and
controls) with their obstetric history, investigations, endometrial biopsies,
interventions and next pregnancies. The latent truth (per-woman frequency of
defective decidual cycles, per-biopsy defective state and true cycle time) is
kept so later assay generators can attach results to the same biopsies.

One concept per module:

- :mod:`~decidua.synthetic.params` — identity, published targets, synthetic
  assumptions and :class:`CohortParams`;
- :mod:`~decidua.synthetic.population` — stage 1, the general population and
  the calibration of its age-route curve;
- :mod:`~decidua.synthetic.summary` — the population against the published figures;
- :mod:`~decidua.synthetic.clinic` — stage 2, sampling the clinic's women and
  building their records (investigations drawn from tables);
- :mod:`~decidua.synthetic.tables` — :class:`SyntheticCohort` and its columns;
- :mod:`~decidua.synthetic.writing` — CSV files, summary JSON and README;
- :mod:`~decidua.synthetic.cohort` — :func:`generate_cohort`, the command-line
  entry, and every public name of the modules above.
"""

from typing import Any

__all__ = [
    "DEMO_N_CONTROLS",
    "DEMO_N_RPL",
    "DEMO_SEED",
    "GENERATOR_VERSION",
    "SYNTHETIC_LABEL",
    "CohortParams",
    "SyntheticCohort",
    "generate_cohort",
    "write_cohort",
]


def __getattr__(name: str) -> Any:
    # Lazy re-export, so ``python -m decidua.synthetic.cohort`` runs the module
    # once (no runpy "found in sys.modules" warning).
    if name in __all__:
        from decidua.synthetic import cohort

        return getattr(cohort, name)
    raise AttributeError(f"module 'decidua.synthetic' has no attribute {name!r}")
