"""Real photographs: OpenCFU's sample plates (tests/data/cfu/opencfu, GPL-3+).

Reference counts are OpenCFU 4.0.0 (Debian ``opencfu 4.0.0+dfsg-2``,
``opencfu -i IMAGE -m auto``, rows with IsValid == 1), run on these files on
2026-11-26 by ``benchmarks/cfu.py``; they are an independent counter's
result, not expert truth. Decidua is run with OpenCFU's default minimum
colony radius (3 px). On these two plates both tools agree closely; plates
where they disagree are discussed in docs/cfu.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from decidua.assays.clonogenicity.count import count_image_file

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "cfu" / "opencfu"
#: OpenCFU 4.0.0 counts measured on the sample files (see module docstring).
OPENCFU_COUNTS = {"A.png": 67, "Q.jpg.png": 462}
#: Allowed relative disagreement with OpenCFU on these plates.
TOLERANCE = 0.10


@pytest.mark.parametrize("name", sorted(OPENCFU_COUNTS))
def test_counts_agree_with_opencfu(name):
    _img, res = count_image_file(SAMPLES / name, "dish", min_area_px=math.pi * 3**2)
    ref = OPENCFU_COUNTS[name]
    assert abs(res.total - ref) / ref <= TOLERANCE, (name, res.total, ref)
