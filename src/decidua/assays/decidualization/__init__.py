"""Decidualization time courses (pure core).

Stromal cells from one biopsy (one *culture*) are decidualized in vitro with
8-bromo-cAMP + medroxyprogesterone acetate (MPA) and sampled on days such as
0, 2, 4 and 8; PRL and IGFBP1 are measured in the medium by ELISA and other
markers by RT-qPCR (Gellersen B, Brosens JJ. Cyclic decidualization of the
human endometrium in reproductive health and failure. Endocr Rev
2014;35:851-905).

- :mod:`~decidua.assays.decidualization.course` — one culture: fold change over
  day 0, area under the fold-change curve (trapezoid), time to half-maximal
  response.
- :mod:`~decidua.assays.decidualization.reference` — a clinic's own reference
  fitted from its stored cultures (centiles of log fold change by day) and the
  response class (normal / blunted / excessive).
- :mod:`~decidua.assays.decidualization.synthetic` — a seeded culture generator
  with known classes (tests, demo).
- :mod:`~decidua.assays.decidualization.plot` — curves against reference bands.
"""

from decidua.assays.decidualization.course import (
    CultureCourse,
    MarkerCourse,
    marker_course,
    time_courses,
)
from decidua.assays.decidualization.reference import (
    DecidualizationReference,
    ResponseCall,
)

__all__ = [
    "CultureCourse",
    "DecidualizationReference",
    "MarkerCourse",
    "ResponseCall",
    "marker_course",
    "time_courses",
]
