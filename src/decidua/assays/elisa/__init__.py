"""ELISA: 4PL / 5PL standard curves, back-calculation, QC, plate analysis (pure core).

- :mod:`~decidua.assays.elisa.models` — the logistic curves, Jacobians, inverses.
- :mod:`~decidua.assays.elisa.nls` — weighted nonlinear least squares (checked on NIST StRD).
- :mod:`~decidua.assays.elisa.curve` — :class:`StandardCurve` (``fit`` -> self).
- :mod:`~decidua.assays.elisa.plate` — plate records, :func:`analyse_plate`, LLOQ / ULOQ.
"""

from decidua.assays.elisa.curve import StandardCurve, StandardPoint
from decidua.assays.elisa.plate import (
    Mask,
    PlateData,
    PlateResult,
    SampleResult,
    Well,
    WellResult,
    analyse_plate,
    quantification_range,
)

__all__ = [
    "Mask", "PlateData", "PlateResult", "SampleResult", "StandardCurve", "StandardPoint", "Well",
    "WellResult", "analyse_plate", "quantification_range",
]
