"""Senescence assays (pure core).

- :mod:`~decidua.assays.senescence.sabgal` — SA-β-gal % positive cells with an
  exact (Clopper-Pearson) binomial interval, per field and pooled.
- :mod:`~decidua.assays.senescence.index` — p16 (CDKN2A), DIO2 and SCARA5
  relative expression from qPCR and the pro-senescent index log2(DIO2/SCARA5).
"""

from decidua.assays.senescence.index import (
    GeneExpression,
    SenescenceIndex,
    relative_expression,
    senescence_index,
    senescence_indices,
)
from decidua.assays.senescence.sabgal import SABGalResult, sabgal_fields, sabgal_percent

__all__ = ["GeneExpression", "SABGalResult", "SenescenceIndex", "relative_expression",
           "sabgal_fields", "sabgal_percent", "senescence_index", "senescence_indices"]
