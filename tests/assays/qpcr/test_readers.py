"""qPCR readers on real instrument files (tests/data/qpcr, provenance in its README).

The RDML Cq values are checked against a second, independent reading of the
same XML text by regular expressions (every reaction), and spot values typed
from the files (``unzip -p FILE | grep``).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from decidua.errors import InputError
from decidua.io.qpcr import read_qpcr

DATA = Path(__file__).resolve().parents[2] / "data" / "qpcr"


def _regex_cqs(path: Path) -> dict[tuple[int, str], str | None]:
    """(react position in file, target) -> cq text, by regex over the raw XML."""
    zf = zipfile.ZipFile(path)
    name = "rdml_data.xml" if "rdml_data.xml" in zf.namelist() else zf.namelist()[0]
    xml = zf.read(name).decode("utf-8")
    out: dict[tuple[int, str], str | None] = {}
    n = 0
    for run in re.findall(r"<run\b.*?</run>", xml, flags=re.S):
        for react in re.findall(r"<react\b.*?</react>", run, flags=re.S):
            n += 1
            for data in re.findall(r"<data>.*?</data>", react, flags=re.S):
                tar = re.search(r'<tar id="([^"]*)"', data).group(1)
                cq = re.search(r"<cq>([^<]*)</cq>", data)
                out[(n, tar)] = cq.group(1) if cq else None
    return out


@pytest.mark.parametrize("name, n_wells, instrument", [
    ("stepone_std.rdml", 24, "StepOne"),
    ("BioRad_384.rdml", 48, "384"),
    ("lc96_bACTXY.rdml", 384, "LC96"),
    ("BioRad_qPCR_melt.rdml", 60, "96FX"),
    ("rdml14_optical_calibrators_OC_3.rdml", 42, ""),
])
def test_rdml_every_cq_exact(name, n_wells, instrument):
    plate = read_qpcr(DATA / name)
    assert plate.format == "rdml"
    assert len(plate.wells) == n_wells
    assert instrument in (plate.instrument or "")
    expected = _regex_cqs(DATA / name)
    assert len(expected) == n_wells
    # reactions are numbered per run by the reader; the regex numbers them over the file
    got = {}
    offset = 0
    last_row = 0
    for w in plate.wells:
        if w.row < last_row:
            offset += last_row
        last_row = w.row
        got[(offset + w.row, w.target)] = w
    assert got.keys() == expected.keys()
    for key, text in expected.items():
        w = got[key]
        if w.cq is None:
            assert any("undetermined" in f for f in w.flags)
        else:
            assert w.cq == float(text)  # exact: same float from the same digits


def test_rdml_spot_values_and_sentinels():
    step = {(w.well, w.sample): w for w in read_qpcr(DATA / "stepone_std.rdml").wells}
    assert step[("A1", "NTC_RNase P")].cq is None          # <cq>40.0</cq>, 40 cycles
    assert step[("A1", "NTC_RNase P")].task == "ntc"
    assert [w.cq for (well, _), w in step.items() if well == "C6"] == [31.05255]
    std = [w for w in step.values() if w.task == "standard"]
    assert sorted({w.quantity for w in std}) == [625.0, 1250.0, 2500.0, 5000.0, 10000.0]

    cfx = read_qpcr(DATA / "BioRad_384.rdml")
    first = cfx.wells[0]
    assert (first.well, first.sample, first.target, first.cq) == (
        "A1", "Placebo", "Brain", 17.3482975640601)
    # 384-well numbering: reaction id 25 is B1 on a 24-column plate
    assert all(len(w.well) <= 3 for w in cfx.wells)

    lc = read_qpcr(DATA / "lc96_bACTXY.rdml")
    assert lc.wells[0].cq == 33.56 and lc.wells[0].well == "A1"
    hundred = [w for w in lc.wells if w.cq is None]
    assert len(hundred) == 58 + 6  # 58 written as 100, 6 past the 50th cycle (e.g. 68.85)
    assert all("sentinel" in w.flags[0] for w in hundred)

    melt = read_qpcr(DATA / "BioRad_qPCR_melt.rdml")
    missing = [w for w in melt.wells if "no cq element" in " ".join(w.flags)]
    assert len(missing) == 34  # 4 of the FAM run, all 30 of the Cy5 run
    assert {w.task for w in melt.wells} >= {"positive", "ntc", "unknown"}


def test_rdml_14_minus_one_sentinel():
    p = read_qpcr(DATA / "rdml14_optical_calibrators_OC_3.rdml")
    assert p.format_version == "1.4"
    none = [w for w in p.wells if w.cq is None]
    assert len(none) == 33 and all("sentinel -1.0" in w.flags[0] for w in none)
    assert sorted(w.cq for w in p.wells if w.cq is not None)[:2] == [23.007, 23.03]


def test_quantstudio_design_and_analysis_xlsx():
    p = read_qpcr(DATA / "quantstudio1_design_analysis_standard_curve.xlsx")
    assert p.format == "quantstudio" and "QuantStudio" in p.instrument
    assert len(p.wells) == 96  # numeric Well column ignored for Well Position
    assert p.wells[0].well == "A1" and p.wells[0].cq == 28.037617264150633
    assert sum(w.task == "standard" for w in p.wells) == 20
    assert sum(w.task == "ntc" for w in p.wells) == 4


def test_rdml_member_name_varies(tmp_path):
    # rename the XML member of a real file: still read, same wells
    src = zipfile.ZipFile(DATA / "stepone_std.rdml")
    out = tmp_path / "renamed.rdml"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("Run 2026-12-01.xml", src.read("rdml_data.xml"))
    a = read_qpcr(DATA / "stepone_std.rdml").wells
    b = read_qpcr(out).wells
    assert a == b
    # bare XML (not zipped) too
    bare = tmp_path / "bare.xml"
    bare.write_bytes(src.read("rdml_data.xml"))
    assert read_qpcr(bare).wells == a


def test_zip_that_is_not_rdml(tmp_path):
    bad = tmp_path / "plate.rdml"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("notes.xml", "<notes><n>hello</n></notes>")
        z.writestr("readme.txt", "nothing")
    with pytest.raises(InputError) as e:
        read_qpcr(bad)
    assert "not RDML" in str(e.value) and str(bad) in str(e.value)
    also = tmp_path / "plate.zip"
    also.write_bytes(bad.read_bytes())
    with pytest.raises(InputError, match="not RDML"):
        read_qpcr(also)


def test_rdml_bad_cq_names_reaction(tmp_path):
    xml = zipfile.ZipFile(DATA / "stepone_std.rdml").read("rdml_data.xml").decode()
    xml = xml.replace("<cq>31.05255</cq>", "<cq>thirty</cq>", 1)
    p = tmp_path / "bad.rdml"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("rdml_data.xml", xml)
    p.write_bytes(buf.getvalue())
    with pytest.raises(InputError) as e:
        read_qpcr(p)
    assert e.value.column == "cq" and e.value.value == "thirty" and e.value.row is not None


def test_quantstudio_text_results_section():
    plate = read_qpcr(DATA / "quantstudio7_standard_curve.txt")
    assert plate.format == "quantstudio" and "QuantStudio" in plate.instrument
    assert len(plate.wells) == 95  # 96-well plate, well 95 absent from the export
    by = {w.well: w for w in plate.wells}
    assert by["A1"].cq == 27.102 and by["A1"].sample == "5K"
    assert by["D1"].cq is None and by["D1"].task == "ntc"  # "Undetermined"
    assert by["E5"].task == "standard" and by["E5"].quantity == 10000.0  # "10,000.000"
    assert by["A1"].row == 379  # line number in the text file


def test_quantstudio_crlf_and_settings():
    plate = read_qpcr(DATA / "quantstudio7_comparative_ct_excerpt.txt")
    assert plate.vendor == {"endogenous_control": "GAPDH", "reference_sample": "Liver",
                            "rq_confidence_level": "95.0"}
    assert [w.cq for w in plate.wells if w.sample == "Liver" and w.target == "GAPDH"] == [
        32.546, 33.074]


def test_quantstudio_xlsx_results_sheet_crt():
    plate = read_qpcr(DATA / "quantstudio7_multiplex_crt.xlsx")
    assert plate.format == "quantstudio"
    assert len(plate.wells) == 36
    a1 = [w for w in plate.wells if w.well == "A1"]
    assert {w.target: w.cq for w in a1} == {"18S": 11.32002067565918,
                                           "TJP-1 Rhesus": 26.776044845581055}
    assert plate.vendor["endogenous_control"] == "18S"


def test_cfx_quantification_cq_results():
    plate = read_qpcr(DATA / "cfx_maestro_quantification_cq_results.csv")
    assert plate.format == "cfx"
    assert len(plate.wells) == 48
    w = plate.wells[0]
    assert (w.well, w.sample, w.target, w.cq) == ("A1", "M3905 R Ctx", "FAM", 21.1877528266099)


def test_long_csv_and_errors(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("Well,Sample,Target,Cq\nA1,s1,RPL19,20.1\nP24,s2,IGFBP1,Undetermined\n"
                 "B02,NTC,RPL19,\n")
    plate = read_qpcr(p)
    assert [(w.well, w.cq) for w in plate.wells] == [("A1", 20.1), ("P24", None), ("B2", None)]
    assert plate.wells[2].task == "ntc"

    p.write_text("well,sample,target,cq\nA1,s1,RPL19,20.1\nQ1,s1,RPL19,20.3\n")
    with pytest.raises(InputError) as e:
        read_qpcr(p)
    assert (e.value.row, e.value.column, e.value.value) == (3, "well", "Q1")

    p.write_text("well,sample,target,cq\nA1,s1,RPL19,20.1\nA2,s1,RPL19,abc\n")
    with pytest.raises(InputError) as e:
        read_qpcr(p)
    assert (e.value.row, e.value.column, e.value.value) == (3, "cq", "abc")


def test_one_well_in_two_samples(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("well,sample,target,cq\nA1,s1,RPL19,20.1\nA1,s2,IGFBP1,25.0\n")
    with pytest.raises(InputError) as e:
        read_qpcr(p)
    msg = str(e.value)
    assert "A1" in msg and "two samples" in msg and e.value.row == 3
    assert e.value.column == "sample" and str(p) in msg


def test_not_a_qpcr_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a qPCR export"):
        read_qpcr(p)
    with pytest.raises(InputError, match="no such file"):
        read_qpcr(tmp_path / "missing.rdml")


def test_7500_style_headers_from_a_real_export(tmp_path):
    """The QuantStudio excerpt rewritten with the 7500's header words (Cyrillic te in
    "Cт", "Detector" for the target): same wells, same Cqs."""
    src = (DATA / "quantstudio7_comparative_ct_excerpt.txt").read_bytes().decode()
    head, sec = src.split("[Results]", 1)
    lines = sec.split("\n")
    lines[1] = (lines[1].replace("\tCT\t", "\tC\u0442\t")
                .replace("Target Name", "Detector").replace("Well Position", "Pos"))
    p = tmp_path / "7500.txt"
    p.write_text(head + "[Results]" + "\n".join(lines), encoding="utf-8")
    a = read_qpcr(DATA / "quantstudio7_comparative_ct_excerpt.txt").wells
    b = read_qpcr(p).wells
    # no position column: the well number is read on the "96-Well Block" of the preamble
    assert [(w.well, w.sample, w.target, w.cq) for w in a] == [
        (w.well, w.sample, w.target, w.cq) for w in b]


def test_cfx_numbered_content_and_forced_format(tmp_path):
    text = (DATA / "cfx_maestro_quantification_cq_results.csv").read_text()
    text = text.replace(",Unkn,", ",Unkn-01,", 1).replace(",21.1877528266099,", ",NaN,", 1)
    p = tmp_path / "cfx.csv"
    p.write_text(text)
    w = read_qpcr(p, fmt="cfx").wells[0]
    assert w.task == "unknown" and w.cq is None and "undetermined" in w.flags[0]
    with pytest.raises(InputError, match="looks like cfx"):
        read_qpcr(p, fmt="quantstudio")


def test_instrument_files_that_are_not_exports(tmp_path):
    xls = tmp_path / "7500.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(InputError, match=r"\.xls\) workbook is not read"):
        read_qpcr(xls)
    eds = tmp_path / "run.eds"
    with zipfile.ZipFile(eds, "w") as z:
        z.writestr("apldbio/sds/experiment.xml", "<Experiment/>")
    with pytest.raises(InputError, match="experiment file, not an export"):
        read_qpcr(eds)


def test_semicolon_csv_with_decimal_commas(tmp_path):
    p = tmp_path / "cfx_de.csv"
    p.write_text(";Well;Fluor;Target;Content;Sample;Cq;Starting Quantity (SQ)\n"
                 ";A01;SYBR;RPL19;Unkn;s1;21,18;\n;A02;SYBR;IGFBP1;Std;std1;25,5;1000\n"
                 ";A03;SYBR;IGFBP1;Std;std2;22,1;12,5\n")
    w = read_qpcr(p).wells
    assert [x.cq for x in w] == [21.18, 25.5, 22.1]
    assert [x.quantity for x in w] == [None, 1000.0, 12.5]


def test_rdml_numeric_reactions_without_plate_format(tmp_path):
    xml = ('<rdml xmlns="http://www.rdml.org" version="1.2"><sample id="s"><type>unkn</type>'
           '</sample><experiment id="e"><run id="r"><react id="13"><sample id="s"/><data>'
           '<tar id="RPL19"/><cq>20.5</cq></data></react></run></experiment></rdml>')
    p = tmp_path / "x.rdml"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("rdml_data.xml", xml)
    w = read_qpcr(p).wells[0]
    assert (w.well, w.cq, w.task) == ("B1", 20.5, "unknown")
