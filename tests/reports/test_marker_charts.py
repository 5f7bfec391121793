"""Marker centile charts and before/after an intervention in the patient report.

Independent references: the chart's lines are checked against
:meth:`decidua.reference.centiles.DayCentiles.value_at` of the shipped timing-gene
references, each biopsy's point against :meth:`~DayCentiles.centile` (the point sits at the
centile the component says); the figures are checked for their series by the SVG ids the
plot code sets (``gid``) and their titles, the PDF by pypdf text extraction.
"""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest

from decidua.reference.defaults import timing_gene_references, unk_reference
from decidua.reports import render
from decidua.reports.patient import CHART_CENTILES, build_patient_report

ON = dt.date(2025, 6, 1)

GENES = ("IGFBP1", "GPX3")


def _label(ref, basis: str = "by LH day") -> str:  # type: ignore[no-untyped-def]
    return f"{ref.version} ({ref.info.label}; {basis})"


@pytest.fixture
def refs():  # type: ignore[no-untyped-def]
    return timing_gene_references()


@pytest.fixture
def docs(refs, record):  # type: ignore[no-untyped-def]
    """B1 and B2 with two timing-gene ΔCq read by LH day (centile from the reference);
    B2 also a uNK % against the Tuckerman range; B1 a clinic-fit marker read by the
    estimated day (no reference passed for it: not drawn)."""
    out = {}
    lh = {b.biopsy_id: b.lh_day for b in record.biopsies}
    for k, code in enumerate(("PT-7731-B1", "PT-7731-B2")):
        comps = []
        for i, g in enumerate(GENES):
            v = 6.0 + 2 * i + k
            comps.append({"name": f"{g} dCq", "value": v, "reference": _label(refs[g]),
                          "centile": float(refs[g].centile([lh[code]], [v])[0]),
                          "flag": None})
        out[code] = {"call": "normal", "reasons": [], "rule_version": "r1",
                     "components": comps, "results": [],
                     "evidence": {"day": 6.5, "lh_day": lh[code]}}
    u = unk_reference()
    out["PT-7731-B2"]["components"].append(
        {"name": "unk", "value": 7.5, "centile": None, "flag": None,
         "reference": f"{u.version} ({u.info.label}; by LH day)"})
    out["PT-7731-B1"]["components"].append(
        {"name": "PRL dCq", "value": 3.0, "centile": 0.4, "flag": None,
         "reference": "PRL sha256:000000000000 (clinic-population centile; by estimated "
                      "LH day)"})
    return out


@pytest.fixture
def monitoring():  # type: ignore[no-untyped-def]
    """One intervention with a biopsy before and after (the shape of `patient monitor`)
    and one without a biopsy after it."""
    return [
        {"kind": "sitagliptin", "start_date": "2023-04-01", "end_date": "2023-06-30",
         "trial_arm": "SIT-1 active", "comparable": True,
         "before": {"biopsy": "PT-7731-B1", "date": "2023-03-10", "lh_day": 8},
         "after": {"biopsy": "PT-7731-B2", "date": "2023-05-12", "lh_day": 7},
         "call": {"before": "abnormal", "after": "normal"},
         "risk": {"before": {"p_loss": 0.52, "interval": [0.31, 0.72]},
                  "after": {"p_loss": 0.41, "interval": [0.22, 0.62]}, "change": -0.11,
                  "note": "the after biopsy's call counted as one more cycle's evidence"},
         "markers": [{"marker": "cfu_pct", "before": 1.3, "after": 2.1,
                      "change": {"rate_ratio": 1.6154, "p_value": 0.2},
                      "interval": {"low": 0.712, "high": 3.81}, "centile_shift": None},
                     {"marker": "IGFBP1 dCq", "before": 6.0, "after": 7.0,
                      "change": {"delta_cq_change": 1.0}, "interval": None,
                      "centile_shift": 0.12}]},
        {"kind": "progesterone", "start_date": "2024-01-01", "comparable": False,
         "note": "no biopsy on or after the start"},
    ]


def _build(record, docs, refs, monitoring, **kw):  # type: ignore[no-untyped-def]
    references = {r.version: r for r in refs.values()}
    references[unk_reference().version] = unk_reference()
    return build_patient_report(record, docs, on=ON, references=references,
                                monitoring=monitoring, generated_at="2025-06-01T10:00:00Z",
                                **kw)


def _svgs(html: str) -> dict[str, str]:
    out = {}
    for src, alt in re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"',
                               html):
        out[alt] = base64.b64decode(src).decode()
    return out


def test_chart_lines_are_the_reference_centiles_and_points_sit_at_their_centile(
        record, docs, refs, monitoring):  # type: ignore[no-untyped-def]
    rep = _build(record, docs, refs, monitoring)
    (plot,) = [p for p in rep.plots if p.kind == "marker_centiles"]
    panels = {p["marker"]: p for p in plot.data["panels"]}
    # two genes and the uNK range; PRL's reference was not passed: not drawn
    assert sorted(panels) == ["GPX3 dCq", "IGFBP1 dCq", "unk"]
    for g in GENES:
        pn, ref = panels[f"{g} dCq"], refs[g]
        assert sorted(pn["centiles"]) == sorted(f"{round(100 * c)}" for c in CHART_CENTILES)
        assert pn["days"][0] == ref.params.day_min and pn["days"][-1] == ref.params.day_max
        for c in CHART_CENTILES:
            expect = ref.value_at(pn["days"], c)
            assert pn["centiles"][f"{round(100 * c)}"] == pytest.approx(expect, abs=1e-5)
        # each biopsy at its LH+ day from the dates (the label says "by LH day")
        assert [(p["label"], p["day"]) for p in pn["points"]] == [("B1", 8.0), ("B2", 7.0)]
        for p in pn["points"]:
            assert float(ref.centile([p["day"]], [p["value"]])[0]) == pytest.approx(
                p["centile"])
            # the point lies between the chart lines that bracket its centile
            i = pn["days"].index(p["day"])
            below = [c for c in CHART_CENTILES if c <= p["centile"]]
            above = [c for c in CHART_CENTILES if c >= p["centile"]]
            if below:
                assert p["value"] >= pn["centiles"][f"{round(100 * below[-1])}"][i] - 1e-6
            if above:
                assert p["value"] <= pn["centiles"][f"{round(100 * above[0])}"][i] + 1e-6
    u = unk_reference()
    assert panels["unk"]["range"] == {"low": u.low, "high": u.high, "day_min": u.day_min,
                                      "day_max": u.day_max}
    # every reference drawn is named in the footer
    for g in GENES:
        assert ("reference", refs[g].version) in rep.footer.versions
    assert ("reference", u.version) in rep.footer.versions


def test_estimated_day_basis_uses_the_evidence_day(record, docs, refs):  # type: ignore[no-untyped-def]
    from decidua.reference.centiles import DayCentiles, ReferenceInfo

    ref = DayCentiles(ReferenceInfo("PRL", "test", "synthetic", "none")).fit(
        [5, 6, 7, 8, 9, 10] * 6, [float(i % 7) for i in range(36)])
    docs["PT-7731-B1"]["components"][-1]["reference"] = _label(ref, "by estimated LH day")
    rep = build_patient_report(record, docs, on=ON, references={ref.version: ref})
    (plot,) = [p for p in rep.plots if p.kind == "marker_centiles"]
    (pn,) = plot.data["panels"]
    assert pn["marker"] == "PRL dCq" and pn["points"][0]["day"] == 6.5  # evidence day


def test_svg_holds_each_series_and_the_pdf_the_before_after_table(
        record, docs, refs, monitoring, pdf_pages):  # type: ignore[no-untyped-def]
    rep = _build(record, docs, refs, monitoring)
    svgs = _svgs(render.to_html(rep))
    chart = svgs["Each marker on its centile chart for the cycle day"]
    for g in GENES:
        for c in ("10", "25", "50", "75", "90"):
            assert f'id="centile-{g}_dCq-{c}"' in chart
        assert f'id="biopsies-{g}_dCq"' in chart
    assert 'id="range-unk"' in chart
    ba = svgs["Before and after an intervention"]
    assert 'id="risk-0"' in ba and 'id="centile-0-IGFBP1_dCq"' in ba
    assert 'id="centile-0-GPX3_dCq"' in ba  # both biopsies carry a GPX3 centile
    (bplot,) = [p for p in rep.plots if p.kind == "before_after"]
    (iv,) = bplot.data["interventions"]  # the progesterone course is not comparable
    assert iv["risk"] == {"before": [0.52, 0.31, 0.72], "after": [0.41, 0.22, 0.62]}
    c = {x["name"]: x["centile"] for x in docs["PT-7731-B1"]["components"]}
    assert iv["centiles"]["IGFBP1 dCq"][0] == c["IGFBP1 dCq"]
    text = re.sub(r"\s+", " ", " ".join(pdf_pages(render.to_pdf(rep))))
    assert "Before and after an intervention" in text
    assert "rate ratio 1.62 (0.712 to 3.81)" in text
    assert "52.0% (31.0% to 72.0%)" in text and "41.0% (22.0% to 62.0%)" in text
    assert "-11.0 points" in text and "+12" in text
    assert "no biopsy on or after the start" in text
    assert "Each marker on its centile chart" in text


def test_pseudonymised_before_after_has_no_code_or_date(
        record, docs, refs, monitoring, pdf_pages):  # type: ignore[no-untyped-def]
    rep = _build(record, docs, refs, monitoring, pseudonym="R-0123456789abcdef")
    text = " ".join(pdf_pages(render.to_pdf(rep))) + render.to_html(rep)
    for ident in ("PT-7731", "2023-04-01", "2023-03-10", "2023-05-12", "2024-01-01"):
        assert ident not in text
    assert "Biopsy 1" in text and "sitagliptin from day" in text


def test_regenerating_with_charts_gives_identical_text_but_the_timestamp(
        record, docs, refs, monitoring, pdf_pages):  # type: ignore[no-untyped-def]
    a = _build(record, docs, refs, monitoring)
    references = {r.version: r for r in refs.values()}
    references[unk_reference().version] = unk_reference()
    b = build_patient_report(record, docs, on=ON, references=references,
                             monitoring=monitoring, generated_at="2031-02-03T04:05:06Z")
    stamp = re.compile(r"Generated: \S+")
    ta, tb = pdf_pages(render.to_pdf(a)), pdf_pages(render.to_pdf(b))
    assert ta != tb and [stamp.sub("", t) for t in ta] == [stamp.sub("", t) for t in tb]
    assert stamp.sub("", render.to_html(a)) == stamp.sub("", render.to_html(b))
    # the references drawn enter the input checksum
    c = build_patient_report(record, docs, on=ON, monitoring=monitoring,
                             generated_at="2025-06-01T10:00:00Z")
    assert c.footer.checksums[0] != a.footer.checksums[0]
    assert not [p for p in c.plots if p.kind == "marker_centiles"]


def test_report_command_draws_stored_markers_and_the_monitoring(loaded, tmp_path):  # type: ignore[no-untyped-def]
    """Through the CLI on stored records: EX-001's qPCR genes (read by LH day on the shipped
    references) are charted; her sitagliptin course has no biopsy after its start."""
    from typer.testing import CliRunner

    from decidua.cli import app
    from decidua.services import biopsies
    from decidua.store.session import session_scope

    out = tmp_path / "EX-001.html"
    res = CliRunner().invoke(app, ["--db", loaded, "report", "patient", "EX-001", "-o",
                                   str(out), "--on", "2024-01-15"])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    chart = _svgs(html)["Each marker on its centile chart for the cycle day"]
    with session_scope(loaded) as s:
        comps = biopsies.show_biopsy(s, "EX-001-B1")["components"]
    charted = [c["name"] for c in comps if c.get("centile") is not None]
    assert "IGFBP1 dCq" in charted
    for name in charted:
        tag = name.replace(" ", "_")
        assert f'id="biopsies-{tag}"' in chart and f'id="centile-{tag}-50"' in chart
    assert "Before and after an intervention" in html
    assert "no biopsy on or after the start" in html


def test_pseudonymised_before_after_leaves_out_the_trial_arm_text(
        record, docs, refs, monitoring):  # type: ignore[no-untyped-def]
    """The trial arm is free text (the research export leaves it out: io.export.FREE_TEXT);
    a clinic may write anything there, so the pseudonymised report must not show it."""
    arm = "SIT-1 active"
    assert arm in render.to_html(_build(record, docs, refs, monitoring))
    html = render.to_html(_build(record, docs, refs, monitoring,
                                 pseudonym="R-0123456789abcdef"))
    assert arm not in html and "sitagliptin from day" in html


def test_every_pdf_figure_prints_at_200_dpi_or_more(record, docs, refs, monitoring, biopsy_docs,
                                                     printed_images):  # type: ignore[no-untyped-def]
    from decidua.reports.plots import PDF_DPI

    b1 = {**docs["PT-7731-B1"], "timing": biopsy_docs["PT-7731-B1"]["timing"]}
    report = _build(record, {**docs, "PT-7731-B1": b1}, refs, monitoring)
    kinds = {p.kind for p in report.plots}
    assert {"risk_series", "history", "timing", "marker_centiles", "before_after"} <= kinds
    drawn = printed_images(render.to_pdf(report))
    assert len(drawn) == len(report.plots)
    for px, width_in, _ in drawn:
        assert 6.0 < width_in < 7.2  # printed across the text width (180 mm = 7.09 in)
        assert px / width_in >= PDF_DPI, (px, width_in, px / width_in)
