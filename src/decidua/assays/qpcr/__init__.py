"""RT-qPCR assay (pure core): plate records, checks and the Cq arithmetic.

- :mod:`decidua.assays.qpcr.wells` — :class:`Well` and :class:`Plate` records.
- :mod:`decidua.assays.qpcr.validate` — plate-level checks (one well, one sample).

Readers for instrument files live in :mod:`decidua.io.qpcr`; the arithmetic is
defined in ``docs/qpcr.md``.
"""

from decidua.assays.qpcr.wells import Plate, Well

__all__ = ["Plate", "Well"]
