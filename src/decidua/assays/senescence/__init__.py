"""Senescence assays (pure core).

- :mod:`~decidua.assays.senescence.sabgal` — SA-β-gal % positive cells with an
  exact (Clopper-Pearson) binomial interval, per field and pooled.
"""

from decidua.assays.senescence.sabgal import SABGalResult, sabgal_fields, sabgal_percent

__all__ = ["SABGalResult", "sabgal_fields", "sabgal_percent"]
