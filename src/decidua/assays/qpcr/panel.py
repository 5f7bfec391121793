"""The marker panel ``decidua import qpcr`` accepts (pure constants).

``decidua qpcr quantify`` takes any target; an import that stores ΔCq on a
biopsy checks every target against this panel, so that a typo (``IGBP1``) is
an error rather than a new marker.
"""

from __future__ import annotations

#: EndoTime's six timing genes (Lipecki et al., Hum Reprod 2022;37:747; BRIEF §3),
#: in the order of :data:`decidua.assays.timing.GENES`.
TIMING_GENES: tuple[str, ...] = ("GPX3", "SLC15A2", "IL2RB", "CXCL14", "DPP4", "IGFBP1")
#: Further decidual / senescence markers: DIO2 (senescent decidual cells) and SCARA5
#: (decidual cells), Lucas et al., Commun Biol 2020; PRL (decidual marker, BRIEF §2);
#: CDKN2A (p16, senescence, BRIEF §2).
EXTRA_MARKERS: tuple[str, ...] = ("DIO2", "SCARA5", "PRL", "CDKN2A")
PANEL: tuple[str, ...] = TIMING_GENES + EXTRA_MARKERS
