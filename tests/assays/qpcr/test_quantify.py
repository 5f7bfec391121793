"""Cq arithmetic (docs/qpcr.md) against a published worked example, vendor columns of
real exports, and synthetic plates whose true fold change is known by construction."""

from __future__ import annotations

import io
import math
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decidua.assays.qpcr.quantify import fit_standard_curve, quantify, quantity_from_name
from decidua.assays.qpcr.wells import Plate, Well
from decidua.errors import InputError
from decidua.io.qpcr import read_qpcr

DATA = Path(__file__).resolve().parents[2] / "data" / "qpcr"


def plate(rows, path="synthetic.csv"):
    wells = []
    for i, r in enumerate(rows, start=2):
        well, sample, target, cq, *rest = r
        task = rest[0] if rest else "unknown"
        qty = rest[1] if len(rest) > 1 else None
        wells.append(Well(well, sample, target, cq, task=task, quantity=qty, row=i))
    return Plate(path=path, sha256="0" * 64, format="long-csv", wells=tuple(wells))


def test_livak_schmittgen_2001_worked_example():
    """Livak & Schmittgen, Methods 2001;25:402: c-myc vs GAPDH, kidney vs brain
    (calibrator), 6 replicates each: ΔΔCT -2.50 ± 0.10, 2^-ΔΔCT 5.6 (5.3-6.0)."""
    q = quantify(read_qpcr(DATA / "livak2001_cmyc_gapdh.csv"), reference_genes=["GAPDH"],
                 calibrator="brain")
    k = q.result("kidney", "c-myc")
    assert round(k.delta_delta_cq, 2) == -2.50  # printed -2.50
    assert abs(k.delta_delta_cq - (-2.50)) <= 0.01
    assert round(k.delta_cq_sd, 2) == 0.10  # printed ± 0.10
    d = k.to_dict()
    assert round(d["rq"], 1) == 5.6
    assert (round(d["rq_low"], 1), round(d["rq_high"], 1)) == (5.3, 6.0)
    assert k.rq.level == pytest.approx(0.6827) and "Livak" in k.rq.method
    b = q.result("brain", "c-myc")
    assert b.delta_delta_cq == 0.0 and b.to_dict()["rq"] == 1.0
    assert round(b.delta_cq, 2) == 6.86 and round(k.delta_cq, 2) == 4.37  # ΔCT columns


def _vendor_results(path):
    text = path.read_text()
    sec = text.split("[Results]\n", 1)[1]
    header, *lines = [ln.split("\t") for ln in sec.splitlines() if ln.strip()]
    return [dict(zip(header, ln, strict=False)) for ln in lines]


def test_quantstudio_standard_curve_vendor_columns():
    """QuantStudio 7 Flex standard-curve export: our replicate mean / SD per group and
    our slope, intercept, R^2 and efficiency against the columns the software printed
    (3 decimals; the well CTs are themselves printed to 3 decimals, so a difference of
    one unit in the last place is allowed)."""
    path = DATA / "quantstudio7_standard_curve.txt"
    p = read_qpcr(path)
    vendor = _vendor_results(path)
    q = quantify(p, reference_genes=["RNase P"], efficiency_from_standards=True)
    for sample in ("5K", "10K"):
        r = q.result(sample, "RNase P")
        row = next(v for v in vendor if v["Sample Name"] == sample)
        assert abs(r.cq_mean - float(row["Ct Mean"])) <= 0.0011
        assert abs(r.cq_sd - float(row["Ct SD"])) <= 0.0011
    # standards: groups by quantity
    for qty in ("1,250.000", "2,500.000", "5,000.000", "10,000.000", "20,000.000"):
        rows = [v for v in vendor if v["Task"] == "STANDARD" and v["Quantity"] == qty]
        cts = [float(v["CT"]) for v in rows]
        mean = sum(cts) / len(cts)
        sd = math.sqrt(sum((c - mean) ** 2 for c in cts) / (len(cts) - 1))
        assert abs(mean - float(rows[0]["Ct Mean"])) <= 0.0011
        assert abs(sd - float(rows[0]["Ct SD"])) <= 0.0011
    c = q.standard_curves["RNase P"]
    assert round(c.slope, 3) == float(vendor[0]["Slope"])  # -3.383
    assert round(c.intercept, 3) == float(vendor[0]["Y-Intercept"])  # 39.814
    assert round(c.r_squared, 3) == float(vendor[0]["R(superscript 2)"])  # 0.997
    assert abs(100 * c.efficiency - float(vendor[0]["Efficiency"])) < 0.01  # 97.505 %
    assert c.n_wells == 20 and c.n_levels == 5
    assert q.result("5K", "RNase P").efficiency == c.efficiency


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")
def test_quantstudio_design_analysis_vendor_columns():
    """QuantStudio 1 (Design & Analysis software) standard-curve workbook: the
    'Replicate Group Result' and 'Standard Curve Result' sheets recomputed from the
    full-precision well Cqs of the 'Results' sheet (quantities from the sample names
    Std_1250 ... Std_20K)."""
    path = DATA / "quantstudio1_design_analysis_standard_curve.xlsx"
    q = quantify(read_qpcr(path), reference_genes=["RNaseP"], efficiency_from_standards=True)
    wb = openpyxl.load_workbook(path, read_only=True)
    groups = list(wb["Replicate Group Result"].iter_rows(values_only=True))
    h = next(i for i, r in enumerate(groups) if r and r[0] == "Sample")
    for r in groups[h + 1:]:
        if not r or r[0] not in ("Unk_5K", "Unk_10K"):
            continue
        res = q.result(r[0], r[1])
        assert res.n_replicates == 36
        assert res.cq_mean == pytest.approx(r[5], abs=1e-9)
        assert res.cq_sd == pytest.approx(r[6], abs=1e-9)
    sc = list(wb["Standard Curve Result"].iter_rows(values_only=True))
    h = next(i for i, r in enumerate(sc) if r and r[0] == "Well")
    v = dict(zip(sc[h], sc[h + 1], strict=False))
    c = q.standard_curves["RNaseP"]
    assert round(c.slope, 4) == v["Slope"]  # -3.3419 as printed
    assert round(c.intercept, 2) == v["Y-Intercept"]  # 40.77
    assert c.r_squared == pytest.approx(v["R2"], abs=1e-12)
    assert 100 * c.efficiency == pytest.approx(v["Efficiency"], abs=1e-9)


def test_quantstudio_multiplex_crt_vendor_delta_rq():
    """QuantStudio multiplex export (target + 18S in one well, calibrator 13Jul2022-Hs-1):
    ΔCrt, ΔΔCrt and RQ recomputed to the precision the software printed."""
    path = DATA / "quantstudio7_multiplex_crt.xlsx"
    q = quantify(read_qpcr(path), reference_genes=["18S"], calibrator="13Jul2022-Hs-1")
    ws = openpyxl.load_workbook(path, read_only=True)["Results"]
    rows = list(ws.iter_rows(values_only=True))
    h = next(i for i, r in enumerate(rows) if r and r[0] == "Well")
    cols = rows[h]
    checked = 0
    for r in rows[h + 1:]:
        if len(r) < 21 or r[0] is None or r[4] == "18S":
            continue
        v = dict(zip(cols, r, strict=False))
        res = q.result(v["Sample Name"], v["Target Name"])
        assert res.delta_cq == pytest.approx(float(v["Delta Crt"]), abs=5e-6)
        if v["RQ"] not in ("", None):
            assert res.delta_delta_cq == pytest.approx(float(v["Delta Delta Crt"]), abs=5e-6)
            assert res.to_dict()["rq"] == pytest.approx(float(v["RQ"]), rel=5e-6)
            checked += 1
    assert checked == 9


def test_flags_sd_and_ntc():
    p = plate([
        ("A1", "s1", "RPL19", 20.0), ("A2", "s1", "RPL19", 20.2),
        ("A3", "s1", "IGFBP1", 25.0), ("A4", "s1", "IGFBP1", 26.0),
        ("B1", "NTC", "IGFBP1", 35.1, "ntc"), ("B2", "NTC", "RPL19", None, "ntc"),
    ])
    q = quantify(p)
    r = q.result("s1", "IGFBP1")
    assert r.cq_sd == pytest.approx(math.sqrt(0.5))
    assert any("replicate SD 0.707 > 0.5" in f for f in r.flags)
    assert any("control amplified" in f for f in r.flags)
    assert any("amplified" in f for f in q.wells[4].flags)
    assert r.delta_cq == pytest.approx(25.5 - 20.1)
    assert not any("SD" in f for f in quantify(p, sd_threshold=1.0).result(
        "s1", "IGFBP1").flags)
    assert quantify(p, reference_genes=["rpl19"]).reference_genes == ("RPL19",)


def test_l19_alias_and_several_references():
    p = plate([
        ("A1", "s1", "L19", 20.0), ("A2", "s1", "GAPDH", 18.0), ("A3", "s1", "DPP4", 27.0),
        ("B1", "s2", "L19", 21.0), ("B2", "s2", "GAPDH", 19.0), ("B3", "s2", "DPP4", 26.0),
    ])
    assert quantify(p).reference_genes == ("L19",)
    q = quantify(p, reference_genes=["L19", "GAPDH"], calibrator="s1")
    assert q.result("s1", "DPP4").delta_cq == pytest.approx(27.0 - 19.0)  # mean of means
    assert q.result("s2", "DPP4").delta_delta_cq == pytest.approx((26 - 20) - (27 - 19))
    assert q.result("s2", "DPP4").to_dict()["rq"] == pytest.approx(2 ** 2)


def test_errors_name_file_row_field():
    base = [("A1", "s1", "IGFBP1", 25.0), ("A2", "s1", "RPL19", 20.0)]
    with pytest.raises(InputError) as e:
        quantify(plate(base), reference_genes=["GAPDH"])
    assert "GAPDH" in str(e.value) and e.value.file == "synthetic.csv"
    with pytest.raises(InputError, match="RPL19 / L19"):
        quantify(plate([("A1", "s1", "IGFBP1", 25.0)]))
    with pytest.raises(InputError) as e:
        quantify(plate(base + [("B1", "s2", "IGFBP1", 24.0)]))
    assert "no well for reference gene 'RPL19'" in str(e.value) and e.value.row == 4
    with pytest.raises(InputError) as e:
        quantify(plate(base + [("B1", "s2", "IGFBP1", None), ("B2", "s2", "IGFBP1", None),
                               ("B3", "s2", "RPL19", 20.0)]))
    assert "all replicates undetermined" in str(e.value)
    assert (e.value.row, e.value.column) == (4, "cq") and "B1, B2" in str(e.value)
    flagged = quantify(plate(base + [("B1", "s2", "IGFBP1", None),
                                     ("B3", "s2", "RPL19", 20.0)]), undetermined="flag")
    assert flagged.result("s2", "IGFBP1").delta_cq is None
    with pytest.raises(InputError, match="calibrator sample 'x'"):
        quantify(plate(base), calibrator="x")


def _true_fold_plate(e_target, e_ref, fold, *, standards=True):
    """Synthetic plate with known truth: Cq = c - log(N0)/log(1 + E), target N0 in s2
    is `fold` times s1, reference N0 equal; standards 10^2..10^6."""
    rows = []
    def cq(n0, e, c):
        return c - math.log(n0) / math.log1p(e)
    n = 1
    for s, mult in (("s1", 1.0), ("s2", fold)):
        for rep in range(3):
            rows.append((f"A{n}", s, "T", cq(1e4 * mult, e_target, 40.0) + 0.01 * rep))
            rows.append((f"B{n}", s, "R", cq(1e4, e_ref, 38.0) + 0.01 * rep))
            n += 1
    if standards:
        n = 1
        for k in range(2, 7):
            for g, e, c, row in (("T", e_target, 40.0, "C"), ("R", e_ref, 38.0, "D")):
                rows.append((f"{row}{n}", f"std_{10 ** k}", g, cq(10 ** k, e, c), "standard"))
            n += 1
    return plate(rows)


def test_pfaffl_recovers_true_fold_and_efficiency():
    p = _true_fold_plate(0.85, 0.98, 3.0)
    q = quantify(p, reference_genes=["R"], calibrator="s1", efficiency_from_standards=True)
    assert q.standard_curves["T"].efficiency == pytest.approx(0.85)
    assert q.standard_curves["R"].efficiency == pytest.approx(0.98)
    assert q.standard_curves["T"].r_squared == pytest.approx(1.0)
    r = q.result("s2", "T")
    assert r.to_dict()["rq"] == pytest.approx(3.0, rel=1e-9)
    assert "Pfaffl" in r.rq.method
    # 2^-ΔΔCq is biased when E != 1: it must differ from the truth here
    plain = quantify(p, reference_genes=["R"], calibrator="s1").result("s2", "T")
    assert abs(plain.to_dict()["rq"] - 3.0) > 0.2
    # with E = 1 the Pfaffl ratio equals 2^-ΔΔCq
    p1 = _true_fold_plate(1.0, 1.0, 3.0)
    a = quantify(p1, reference_genes=["R"], calibrator="s1", efficiency_from_standards=True)
    b = quantify(p1, reference_genes=["R"], calibrator="s1")
    assert a.result("s2", "T").to_dict()["rq"] == pytest.approx(b.result("s2", "T").to_dict()["rq"])


def test_missing_standards_fall_back_with_flag():
    p = _true_fold_plate(1.0, 1.0, 2.0, standards=False)
    r = quantify(p, reference_genes=["R"], calibrator="s1",
                 efficiency_from_standards=True).result("s2", "T")
    assert r.efficiency is None and any("2^-ΔΔCq" in f for f in r.flags)
    assert r.to_dict()["rq"] == pytest.approx(2.0)


def test_standard_curve_helpers():
    assert quantity_from_name("STD_RNase P_625.0") == 625.0
    assert quantity_from_name("Standard 1 (1e8)") == 1e8
    assert quantity_from_name("blank") is None
    assert quantity_from_name("Std_10K") == 10000.0 and quantity_from_name("5K") == 5000.0
    c = fit_standard_curve("x", [10, 100, 1000], [30.0, 26.68, 23.36])
    assert c.slope == pytest.approx(-3.32) and c.efficiency == pytest.approx(
        10 ** (1 / 3.32) - 1)
    with pytest.raises(InputError):
        fit_standard_curve("x", [10, 10], [30.0, 30.1])


@settings(max_examples=50, deadline=None)
@given(shift=st.floats(-5, 5), cqs=st.lists(st.floats(15, 35), min_size=4, max_size=4))
def test_delta_cq_ignores_loading(shift, cqs):
    """Adding the same number of cycles to every well of a sample (more or less input
    cDNA) leaves its ΔCq unchanged."""
    rows = [("A1", "s", "RPL19", cqs[0]), ("A2", "s", "RPL19", cqs[1]),
            ("A3", "s", "GPX3", cqs[2]), ("A4", "s", "GPX3", cqs[3])]
    a = quantify(plate(rows)).result("s", "GPX3").delta_cq
    b = quantify(plate([(w, s, t, c + shift) for w, s, t, c in rows])).result(
        "s", "GPX3").delta_cq
    assert a == pytest.approx(b, abs=1e-9)


def test_plate_from_io_bytes_unchanged():
    # quantify never alters the wells it was given
    p = read_qpcr(DATA / "livak2001_cmyc_gapdh.csv")
    before = p.wells
    quantify(p, reference_genes=["GAPDH"], calibrator="brain")
    assert p.wells == before
    assert io  # keep the import used for readers of this file


def test_multiplex_pairs_reference_by_well_in_delta_and_pfaffl():
    """Target and reference in the same wells (plus a reference well paired with another
    target): ΔCq uses the target's own wells, and the Pfaffl ratio with E = 1 equals
    2^-ΔΔCq computed the same way."""
    rows = []
    for s, shift in (("s1", 0.0), ("s2", 1.0)):
        row = "A" if s == "s1" else "B"
        for i, (t_cq, r_cq) in enumerate(((25.0, 20.0), (25.2, 20.4), (25.1, 20.2)), start=1):
            rows += [(f"{row}{i}", s, "T", t_cq - shift), (f"{row}{i}", s, "R", r_cq)]
        rows += [(f"{row}4", s, "R", 23.0), (f"{row}4", s, "U", 30.0)]
    for k in range(2, 6):  # perfect standards, E = 1 for T, R and U
        for g, c in (("T", 40.0), ("R", 38.0), ("U", 42.0)):
            rows.append((f"C{k}" if g == "T" else f"D{k}" if g == "R" else f"E{k}",
                         f"std {10 ** k}", g, c - k / math.log10(2), "standard"))
    p = plate(rows)
    q = quantify(p, reference_genes=["R"], calibrator="s1", efficiency_from_standards=True)
    r = q.result("s2", "T")
    assert q.result("s1", "T").delta_cq == pytest.approx(25.1 - 20.2)  # paired wells A1-A3
    assert r.delta_delta_cq == pytest.approx(-1.0)
    assert q.standard_curves["T"].efficiency == pytest.approx(1.0)
    assert r.to_dict()["rq"] == pytest.approx(2.0)
    assert "Pfaffl" in r.rq.method
    u = q.result("s1", "U")
    assert u.delta_cq == pytest.approx(30.0 - 23.0)  # U's own well A4


def test_flat_standard_curve_gives_no_efficiency_and_valid_json():
    rows = [("A1", "s1", "R", 20.0), ("A2", "s1", "T", 25.0),
            ("B1", "s2", "R", 20.0), ("B2", "s2", "T", 24.0)]
    rows += [(f"C{k}", f"std {10 ** k}", "T", 30.0, "standard") for k in range(1, 5)]
    q = quantify(plate(rows), reference_genes=["R"], calibrator="s1",
                 efficiency_from_standards=True)
    r = q.result("s2", "T")
    assert "T" not in q.standard_curves and r.efficiency is None
    assert any("slope 0.000 is not negative" in f for f in r.flags)
    import json

    json.loads(json.dumps(q.to_dict(), allow_nan=False))  # no NaN in the JSON
