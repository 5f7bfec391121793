"""Plate readers on real vendor exports (tests/data/elisa/README.md: allotropy test data, MIT).

The strongest checks reproduce the vendor software's own numbers from the
values our readers extract: Gen5's 4PL back-calculated concentrations (two
exports, every well, 3 decimals) and SoftMax Pro's group-table results
(4PL, unweighted, fitted to the standards' means; every printed result).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decidua.assays.elisa import analyse_plate
from decidua.errors import InputError
from decidua.io.platereader import read_plate_map, read_plates
from decidua.io.platereader import read_softmax as read_softmax_plates
from decidua.io.platereader.common import parse_number
from decidua.io.platereader.sniff import sniff

DATA = Path(__file__).resolve().parents[2] / "data" / "elisa"


@pytest.mark.parametrize("name", ["gen5_fluorescamine_4pl.txt", "gen5_alphalisa_384_4pl.txt"])
def test_gen5_concentrations_reproduced(name):  # type: ignore[no-untyped-def]
    (plate,) = read_plates(DATA / name)
    assert plate.meta["format"] == "gen5"
    res = analyse_plate(plate)
    vendor = plate.meta["vendor_concentration"]
    curve = plate.meta["vendor_curve"][0]
    for k in "ABCD":
        assert float(f"{res.curve.params[k.lower()]:.3g}") == float(curve[k])
    checked = 0
    for w in res.wells:
        text = vendor.get(w.well)
        if text is None:
            continue
        if text.startswith("<"):  # Gen5: below its range
            assert w.concentration is None and w.flag == "beyond_zero_asymptote"
        elif text.startswith(">"):  # Gen5: above its extrapolation limit
            assert w.in_well_concentration > float(text[1:])
        else:
            assert w.in_well_concentration == pytest.approx(float(text), abs=5e-4), w.well
            checked += 1
    assert checked >= (90 if "fluor" in name else 45)


def test_gen5_layout_roles_and_blank_read():
    (plate,) = read_plates(DATA / "gen5_fluorescamine_4pl.txt")
    assert plate.meta["read"] == "Blank 400/30,460/40"
    by = {w.well: w for w in plate.wells}
    assert by["A1"].role == "blank" and by["A1"].od == 12.0
    assert by["B1"].role == "standard" and by["B1"].concentration == 50.0
    assert by["A3"].role == "sample" and by["A3"].sample == "SPL1" and by["A3"].od == 7671.0
    assert len(plate.wells) == 96


def _softmax_results(plate):  # type: ignore[no-untyped-def]
    """(well, printed result) from the SoftMax Pro group tables with a numeric Result column."""
    out = []
    for rows in plate.meta["groups"].values():
        for r in rows:
            col = next((c for c in r if c.lower() in ("result", "results")), None)
            well = r.get("Wells") or r.get("Well")
            if col and well and parse_number(r[col]) is not None:
                out.append((well.strip(), float(r[col])))
    return out


def test_softmax_results_reproduced():
    (plate,) = read_plates(DATA / "softmax_example_reduced.txt")
    assert plate.meta["reduced"] is True and plate.meta["wavelengths"] == [450, 650]
    res = analyse_plate(plate)
    by = {w.well: w for w in res.wells}
    printed = _softmax_results(plate)
    assert len(printed) >= 30
    for well, value in printed:
        assert by[well].in_well_concentration == pytest.approx(value, abs=5e-4), well


def test_softmax_masked_well_and_groups():
    (plate,) = read_plates(DATA / "softmax_std_masked_well.txt")
    by = {w.well: w for w in plate.wells}
    assert by["A2"].mask is not None and by["A2"].mask.by == "SoftMax Pro"
    assert by["A1"].role == "standard" and by["A1"].concentration == 320.0
    assert by["H2"].concentration == 0.0
    assert by["A3"].role == "control" and by["A4"].role == "sample"
    res = analyse_plate(plate)
    top = res.curve.standards[-1]
    assert top.concentration == 320.0 and top.n == 1  # the masked replicate left out


def test_softmax_two_plates_and_precision():
    plates = read_plates(DATA / "softmax_absorbance_endpoint_example01.txt")
    assert [p.plate for p in plates] == ["Plate01", "Plate02"]
    a1 = {w.well: w for w in plates[0].wells}["A1"]
    assert a1.od == pytest.approx(3.41797666666667) and a1.concentration == 320.0


def test_softmax_reference_wavelength_subtracted(tmp_path):  # type: ignore[no-untyped-def]
    """A raw 2-wavelength plate block (built from the file format): 450 minus 570."""
    hdr = "\t".join(["Plate:", "P", "1.3", "PlateFormat", "Endpoint", "Absorbance", "Raw",
                     "FALSE", "1", "", "", "", "", "", "2", "450 570 ", "1", "12", "96", "1", "8"])
    cols = "\t".join(str(c) for c in range(1, 13))
    lines = ["##BLOCKS= 1", hdr, f"\tTemperature(C)\t{cols}\t\t{cols}"]
    for r in range(8):
        a = "\t".join(f"{1 + r + c / 100:.3f}" for c in range(12))
        b = "\t".join("0.050" for _ in range(12))
        lines.append(f"\t{'22.0' if r == 0 else ''}\t{a}\t\t{b}")
    lines.append("~End")
    f = tmp_path / "smp.txt"
    f.write_text("\r\n".join(lines), encoding="utf-16")
    assert sniff(f) == "softmax"
    (rp,) = read_softmax_plates(f)
    assert float(rp.values["B3"]) == pytest.approx(2.02 - 0.05)
    assert rp.meta["reference_nm"] == 570


def _grid_csv(path: Path, od: np.ndarray, label: str | None = None, extra: str = "") -> None:
    lines = [label] if label else []
    lines.append("," + ",".join(str(c) for c in range(1, 13)))
    for r, row in enumerate(od):
        lines.append("ABCDEFGH"[r] + "," + ",".join(str(v) for v in row))
    path.write_text("\n".join(lines) + "\n" + extra)


def test_grid_with_two_wavelengths_and_map(tmp_path):  # type: ignore[no-untyped-def]
    od = np.arange(96, dtype=float).reshape(8, 12) / 100
    f = tmp_path / "g.csv"
    lines = []
    for lab, arr in (("450 nm", od + 0.1), ("630 nm", np.full((8, 12), 0.1))):
        lines.append(lab)
        lines.append("," + ",".join(str(c) for c in range(1, 13)))
        lines += ["ABCDEFGH"[r] + "," + ",".join(f"{v:.2f}" for v in arr[r]) for r in range(8)]
        lines.append("")
    f.write_text("\n".join(lines))
    m = tmp_path / "map.csv"
    m.write_text("well,role,concentration,dilution,sample\nA1,standard,0,,\nB2,sample,,5,s1\n")
    (plate,) = read_plates(f, m)
    assert plate.meta["primary_nm"] == 450 and plate.meta["reference_nm"] == 630
    by = {w.well: w for w in plate.wells}
    assert by["B2"].od == pytest.approx(0.13) and by["B2"].dilution == 5.0
    assert set(by) == {"A1", "B2"}


def test_grid_xlsx(tmp_path):  # type: ignore[no-untyped-def]
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([None, *range(1, 13)])
    for r in range(8):
        ws.append(["ABCDEFGH"[r], *[0.1 * (r + 1)] * 12])
    f = tmp_path / "g.xlsx"
    wb.save(f)
    m = tmp_path / "map.csv"
    m.write_text("well,role,sample\nC4,sample,x\n")
    (plate,) = read_plates(f, m)
    assert plate.wells[0].od == pytest.approx(0.3)


def test_grid_needs_map_and_map_errors(tmp_path):  # type: ignore[no-untyped-def]
    f = tmp_path / "g.csv"
    _grid_csv(f, np.ones((8, 12)))
    with pytest.raises(InputError, match="needs a plate map"):
        read_plates(f)
    m = tmp_path / "m.csv"
    m.write_text("well,role,concentration\nA1,standard,\nZ9,sample,\nA2,pipette,\nA3,standard,-1\n")
    with pytest.raises(InputError) as ei:
        read_plate_map(m)
    msgs = [str(p) for p in ei.value.problems]
    assert any("row 2" in s and "concentration" in s for s in msgs)
    assert any("row 3" in s and "'well'" in s for s in msgs)
    assert any("row 4" in s and "role" in s for s in msgs)
    assert any("row 5" in s and ">= 0" in s for s in msgs)


def test_softmax_time_format_three_wavelengths():
    """Time-format blocks (one line per wavelength, blank lines between), 3 absorbance reads:
    the first is used unless asked; --wavelength / --reference pick and subtract."""
    f = DATA / "softmax_timeformat_3wl.txt"
    plates = read_softmax_plates(f)
    assert [p.plate for p in plates] == ["BNCH_69983542_96w", "BNCH_65245083_96w",
                                         "BNCH_79071824_96w"]
    p0 = plates[0]
    assert p0.meta["wavelength_nm"] == 280 and "reference_nm" not in p0.meta
    assert float(p0.values["A1"]) == 1.328 and float(p0.values["A2"]) == 0.387
    (sub, *_) = read_softmax_plates(f, wavelength_nm=450, reference_nm=562)
    assert float(sub.values["A1"]) == pytest.approx(-1.21525 - -1.941625)
    with pytest.raises(InputError, match="no reference wavelength 570 nm"):
        read_softmax_plates(f, reference_nm=570)


def test_softmax_non_endpoint_refused(tmp_path):  # type: ignore[no-untyped-def]
    f = tmp_path / "k.txt"
    f.write_text("##BLOCKS= 1\nPlate:\tP1\t1.3\tPlateFormat\tKinetic\tAbsorbance\tRaw\n~End\n")
    with pytest.raises(InputError, match="plate 'P1': a Kinetic read; ELISA needs an endpoint"):
        read_plates(f)


def test_gen5_multiplate_sections_and_linear_standards():
    """Three Gen5 plate sections; their standards are linear (Gen5 fitted Y=A*X+B), so a 4PL
    has no plateau to find: a ModelError naming the plate, not a wrong curve."""
    from decidua.errors import ModelError

    plates = read_plates(DATA / "gen5_multiplate_linear.txt")
    assert [p.plate for p in plates] == ["Plate 1", "Plate 2", "Plate 3"]
    for p in plates:
        assert p.meta["read"].startswith("Blank ")
        assert sum(w.role == "standard" for w in p.wells) == 21
        assert p.meta["vendor_curve"][0]["Curve Formula"] == "Y=A*X+B"
    with pytest.raises(ModelError, match="plate 'Plate 2'"):
        analyse_plate(plates[1])
