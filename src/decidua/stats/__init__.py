"""Generic statistics shared by the assays, the risk model and the references.

Pure (numpy/scipy only): no database, web or CLI code. One concept per module:

- :mod:`decidua.stats.intervals` — the one interval type every result uses.
- :mod:`decidua.stats.calibration` — Platt scaling, reliability (ECE, Brier),
  the split-conformal quantile.
- :mod:`decidua.stats.trial` — the cohort trial model: arm effect on any marker
  adjusted for baseline and age (Poisson / negative binomial / linear).
- :mod:`decidua.stats.roc` — the ROC curve and the AUC with DeLong's interval.
"""

from decidua.stats.intervals import Interval

__all__ = ["Interval"]
