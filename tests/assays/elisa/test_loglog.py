"""Log-log (power-law) curve against SoftMax Pro's own printed results (issue #15).

The real export tests/data/elisa/softmax_absorbance_endpoint_example01.txt (allotropy,
MIT; provenance in the README there) has two plates whose group `Standards` follows a
pure power law; SoftMax fits one curve per group across plates and prints, to 3
decimals, each standard well's `BackCalcConc` and each unknown well's `Conc`. A
log-log line through the mean OD of each standard (both plates) must reproduce all
of them to that precision (|difference| <= 5e-4, half the last printed digit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decidua.assays.elisa.loglog import fit_loglog
from decidua.errors import InputError
from decidua.io.platereader import read_plates

EXPORT = Path(__file__).resolve().parents[2] / "data" / "elisa" / \
    "softmax_absorbance_endpoint_example01.txt"


def test_reproduces_softmax_printed_concentrations():
    plates = read_plates(EXPORT)
    od = {(p.plate, w.well): w.od for p in plates for w in p.wells}
    std = [w for p in plates for w in p.wells if w.role == "standard"]
    curve = fit_loglog([w.concentration for w in std], [w.od for w in std])
    assert curve.n_points == 7 and curve.r2_log > 0.9995
    assert curve.b == pytest.approx(1.6131, abs=1e-4)
    groups = plates[0].meta["groups"]
    n = 0
    for grp, col in (("Standards", "BackCalcConc"), ("UnknownsNoDiln", "Conc")):
        for row in groups[grp]:
            got = float(curve.concentration(od[(row["WellPlateName"], row["Wells"])]))
            assert got == pytest.approx(float(row[col]), abs=5e-4), (grp, row["Wells"])
            n += 1
    assert n == 186  # 42 standard wells + 144 unknown wells
    # fitting the 42 wells one by one instead differs beyond the printed precision
    wells = fit_loglog([w.concentration for w in std], [w.od for w in std], replicates=True)
    diffs = [abs(float(wells.concentration(od[(r["WellPlateName"], r["Wells"])]))
                 - float(r["BackCalcConc"])) for r in groups["Standards"]]
    assert max(diffs) > 5e-4


def test_known_power_law_and_bad_input():
    x = np.array([0.0, 2.0, 4.0, 8.0, 16.0])
    curve = fit_loglog(x, 0.05 * np.where(x > 0, x, 1.0) ** 1.5 * (x > 0))
    assert curve.a == pytest.approx(0.05) and curve.b == pytest.approx(1.5)
    assert curve.dropped == (0.0,)  # the zero standard has no logarithm
    assert np.isnan(curve.concentration(-0.01))
    with pytest.raises(InputError, match="2 distinct"):
        fit_loglog([5, 5], [0.1, 0.2])
    with pytest.raises(InputError, match="one response"):
        fit_loglog([1, 2, 4], [0.3, 0.3, 0.3])
