"""Plate analysis: back-calculation with dilutions, flags, LLOQ/ULOQ rule, masking, bad plates.

Synthetic plates with known truth: a 4PL (a 0.05, b 1.2, c 150, d 3.2),
8 standards 0-1000 in duplicate, samples at known concentrations and
dilutions, noise-free unless stated, so every expected number is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from decidua.assays.elisa import models
from decidua.assays.elisa.curve import StandardCurve
from decidua.assays.elisa.plate import (
    Mask,
    PlateData,
    Well,
    analyse_plate,
    quantification_range,
)
from decidua.errors import InputError

TRUTH = (0.05, 1.2, 150.0, 3.2)
LEVELS = [0, 7.8, 15.6, 31.25, 62.5, 125, 250, 500, 1000.0]
ROWS = "ABCDEFGH"


def od(x: float) -> float:
    return float(models.logistic4(np.array([x]), *TRUTH)[0])


def make_plate(samples=None, noise=None) -> PlateData:  # type: ignore[no-untyped-def]
    wells = []
    names = [f"{r}{c}" for c in range(1, 13) for r in ROWS]
    it = iter(names)
    for i, conc in enumerate(LEVELS):
        for rep in range(2):
            y = od(conc)
            if noise is not None:
                y *= 1 + noise[i][rep]
            wells.append(Well(next(it), "standard", y, concentration=conc, sample=f"S{i}",
                              group="Standards"))
    for name, (conc, dil) in (samples or {}).items():
        for _ in range(2):
            wells.append(Well(next(it), "sample", od(conc / dil) if conc is not None else 3.5,
                              dilution=dil, sample=name, group="Unknowns"))
    return PlateData("P1", tuple(wells), analyte="PRL", source="plate.csv")


def test_samples_back_calculated_with_dilution():
    plate = make_plate({"u1": (40.0, 1.0), "u2": (800.0, 10.0), "sat": (None, 1.0)})
    res = analyse_plate(plate)
    by = {s.sample: s for s in res.samples}
    assert by["u1"].mean_concentration == pytest.approx(40.0, rel=1e-6)
    assert by["u2"].mean_concentration == pytest.approx(800.0, rel=1e-6)
    assert by["u2"].dilution == 10.0
    assert by["u1"].flag is None and by["u1"].cv_pct == pytest.approx(0.0, abs=1e-6)
    # OD 3.5 > d = 3.2: saturated, no concentration, flagged
    assert by["sat"].mean_concentration is None and by["sat"].flag == "beyond_top_asymptote"
    w = next(w for w in res.wells if w.sample == "sat")
    assert w.concentration is None and w.flag == "beyond_top_asymptote"
    # noise-free standards recover 100 %: the whole non-zero range is quantifiable
    assert res.lloq == 7.8 and res.uloq == 1000.0
    d = res.to_dict()
    assert set(d["params"]) == {"a", "b", "c", "d"} and d["model"] == "4pl"
    assert {"well", "group", "sample", "od", "concentration", "flag"} <= set(d["wells"][0])


def test_below_zero_asymptote_flag():
    plate = make_plate()
    wells = plate.wells + (Well("A12", "sample", 0.01, sample="blankish"),)
    res = analyse_plate(PlateData("P1", wells))
    w = next(w for w in res.wells if w.well == "A12")
    assert w.concentration is None and w.flag == "beyond_zero_asymptote"


def test_lloq_uloq_rule_on_bad_ends():
    """Lowest standard reads 40 % high and top one's duplicates disagree: both drop out."""
    noise = [[0, 0]] * 9
    noise = [list(n) for n in noise]
    noise[1] = [0.5, 0.5]  # 7.8: strongly biased OD -> recovery far above 125 %
    noise[8] = [-0.04, 0.04]  # 1000 (near the plateau): OD CV 6 % -> conc CV > 25 %
    res = analyse_plate(make_plate(noise=np.array(noise)), fit_to="mean")
    assert res.lloq == 15.6
    assert res.uloq == 500.0
    s = {p.concentration: p for p in res.curve.standards}
    assert s[7.8].recovery_pct > 125
    assert s[1000.0].conc_cv_pct > 25


def test_quantification_range_none_when_nothing_acceptable():
    curve = StandardCurve("4pl").fit(np.array([0, 1, 2, 3, 4, 5.0]),
                                     np.array([0.1, 0.2, 0.25, 0.9, 1.0, 1.05]))
    lo, hi = quantification_range(curve)
    assert (lo is None) == (hi is None)


def test_masking_removes_standard_and_keeps_who_why():
    plate = make_plate({"u1": (40.0, 1.0)})
    # spoil one standard replicate, then mask it
    wells = list(plate.wells)
    wells[4] = Well(wells[4].well, "standard", wells[4].od * 1.15,
                    concentration=wells[4].concentration)
    spoiled = PlateData("P1", tuple(wells))
    masked = analyse_plate(spoiled, masks={wells[4].well: Mask("alice", "bubble")})
    unmasked = analyse_plate(spoiled)
    assert masked.curve.params["c"] == pytest.approx(150.0, rel=1e-6)
    assert abs(unmasked.curve.params["c"] - 150.0) > 0.3
    w = next(w for w in masked.wells if w.well == wells[4].well)
    assert w.flag == "masked" and w.mask == Mask("alice", "bubble")
    with pytest.raises(InputError, match="not on the plate"):
        analyse_plate(spoiled, masks={"Z99": Mask("a", "b")})


def test_bad_plates_name_plate_well_field():
    plate = make_plate()
    with pytest.raises(InputError, match=r"plate 'P1', field 'role': no standard wells"):
        analyse_plate(PlateData("P1", tuple(w for w in plate.wells if w.role != "standard")))
    few = PlateData("P1", tuple(w for w in plate.wells if (w.concentration or 0) < 30))
    with pytest.raises(InputError, match="at least 5 distinct"):
        analyse_plate(few)
    flat = PlateData("P1", tuple(Well(w.well, w.role, 1.0, w.concentration) for w in plate.wells))
    with pytest.raises(InputError, match="same OD"):
        analyse_plate(flat)
    wells = list(plate.wells)
    wells[10] = Well(wells[10].well, "standard", 0.01, concentration=wells[10].concentration)
    wells[11] = Well(wells[11].well, "standard", 0.01, concentration=wells[11].concentration)
    pair = f"{wells[10].well},{wells[11].well}"
    with pytest.raises(InputError, match=rf"well {pair}, field 'od': .*not monotone"):
        analyse_plate(PlateData("P1", tuple(wells)))
    wells = list(plate.wells)
    wells[3] = Well(wells[3].well, "standard", float("nan"), concentration=7.8)
    with pytest.raises(InputError, match=rf"well {wells[3].well}, field 'od'"):
        analyse_plate(PlateData("P1", tuple(wells)))
    wells = list(plate.wells) + [Well("H12", "sample", 1.0, dilution=0.0, sample="x")]
    with pytest.raises(InputError, match="well H12, field 'dilution'"):
        analyse_plate(PlateData("P1", tuple(wells)))


def test_plot_standard_curve(tmp_path):  # type: ignore[no-untyped-def]
    from decidua.assays.elisa.plot import plot_standard_curve

    res = analyse_plate(make_plate({"u1": (40.0, 1.0)}))
    fig = plot_standard_curve(res)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xticklabels()[0].get_text() == "0"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("4PL fit") for t in labels) and "samples (in-well)" in labels
    out = tmp_path / "curve.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_intervals_cover_truth_in_simulation():
    """Known truth, 3 % noise, 200 plates: the 95 % interval of a mid-range sample covers its
    true concentration in 85-100 % of plates (delta method; the duplicate-SD term is noisy)."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        wells = []
        names = iter(f"{r}{c}" for c in range(1, 13) for r in ROWS)
        for conc in LEVELS:
            for _ in range(2):
                y = od(conc) * (1 + 0.03 * rng.standard_normal())
                wells.append(Well(next(names), "standard", y, concentration=conc))
        for _ in range(2):
            y = od(80.0) * (1 + 0.03 * rng.standard_normal())
            wells.append(Well(next(names), "sample", y, dilution=2.0, sample="u"))
        s = analyse_plate(PlateData("P", tuple(wells))).samples[0]
        assert s.interval is not None and s.interval.low < s.interval.estimate < s.interval.high
        hits += s.interval.contains(160.0)
    print(f"coverage {hits / 200:.3f}")
    assert 0.85 <= hits / 200 <= 1.0
