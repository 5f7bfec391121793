"""The patient report from a hand-built record (known content): what the PDF says.

Independent references: the risk is recomputed here with :func:`decidua.risk.predict`
from the counts (not the report's code path), the pathway steps with
:func:`decidua.pathway.next_steps`; the PDF is read back with pypdf.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest

from decidua import RESEARCH_USE_LABEL
from decidua.pathway import next_steps
from decidua.reports import render
from decidua.reports.patient import build_patient_report, pct
from decidua.reports.readability import TARGET_READING_EASE, flesch_reading_ease

ON = dt.date(2025, 6, 1)
SHA = "5f" * 32  # the source file checksum in the biopsy_docs fixture


def _flat(text: str) -> str:
    """Whitespace as one space; a line broken after a hyphen joined again."""
    return re.sub(r"\s+", " ", re.sub(r"-\n", "-", text))


@pytest.fixture
def report(record, biopsy_docs):  # type: ignore[no-untyped-def]
    return build_patient_report(record, biopsy_docs, on=ON, study_group="rpl",
                                generated_at="2025-06-01T10:00:00Z")


@pytest.fixture
def pdf_text(report, pdf_pages) -> list[str]:  # type: ignore[no-untyped-def]
    return pdf_pages(render.to_pdf(report))


def test_pdf_states_losses_biopsies_risk_pathway_and_versions(record, report, pdf_text):  # type: ignore[no-untyped-def]
    text = _flat(" ".join(pdf_text))
    # losses: 3 in all, 1 consecutive (a live birth broke the run)
    assert "Losses: 3 (1 consecutive); live births: 1." in text
    for p in ("2019-02-03 miscarriage 7", "2021-01-20 live birth 39", "2022-05-02 miscarriage 6"):
        assert p in text
    # every biopsy with its LH+ day and clinic call; B1's timing estimate and components
    assert "PT-7731-B1 2023-03-10 1 LH+8" in text.replace("- ", "-")
    assert "LH+6.4 (5.1 to 7.8)" in text
    assert "IL15 dCq 3.217" in text and "high_sd" in text
    assert "not used by the risk model (on treatment)" in text
    # risk: recomputed with decidua.risk.predict_record (age on ON, 4 pregnancies, B1 abnormal,
    # B2 normal; B3 on treatment is not used)
    import dataclasses as dc

    from decidua.risk import predict_record

    est = predict_record(dc.replace(record, biopsies=record.biopsies[:2]), ON)
    expect = (f"{pct(est.p_loss)} (95% credible interval {pct(est.interval[0])} to "
              f"{pct(est.interval[1])})")
    assert f"Risk of losing the next pregnancy: {expect}" in text
    before = predict_record(dc.replace(record, biopsies=()), ON)
    assert f"before biopsies {pct(before.p_loss)}" in text
    # every pathway step with its guideline line
    steps = next_steps(record, on=ON).steps
    assert steps
    for s in steps:
        assert _flat(s.text) in text, s.id
        assert _flat(s.line)[:60] in text, s.id
    # every page: the label, the versions and the input checksums
    for page in pdf_text:
        flat = _flat(page)
        assert RESEARCH_USE_LABEL in flat
        assert f"risk model {est.model_version}" in flat
        assert "care-pathway rules " in flat and "report layout reports/1" in flat
        assert "timing reference default sha256:abc" in flat
        assert f"sha256:{SHA[:16]}" in flat and "records sha256:" in flat
        assert "Generated: 2025-06-01T10:00:00Z" in flat
    assert len(pdf_text) >= 2


def test_html_and_pdf_say_the_same_things(report, pdf_text):  # type: ignore[no-untyped-def]
    html = render.to_html(report)
    assert "<svg" not in html and "data:image/svg+xml;base64," in html  # figure as SVG
    assert report.risk_text in html
    for s in report.summary:
        assert s in html and s in _flat(" ".join(pdf_text))


def _identifiers(record) -> list[str]:  # type: ignore[no-untyped-def]
    dates = [p.outcome_date for p in record.pregnancies] + [i.date for i in
                                                            record.investigations]
    dates += [b.biopsy_date for b in record.biopsies] + [b.lh_surge_date for b in
                                                         record.biopsies]
    return [record.patient_id, *(b.biopsy_id for b in record.biopsies),
            str(record.year_of_birth), record.ethnicity, "Dr Example", "plate-PT-7731",
            *(d.isoformat() for d in dates if d)]


def test_pseudonymised_report_contains_no_identifier(record, biopsy_docs, pdf_pages):  # type: ignore[no-untyped-def]
    rep = build_patient_report(record, biopsy_docs, on=ON, pseudonym="R-0123456789abcdef",
                               generated_at="2025-06-01T10:00:00Z")
    assert rep.identification == ()
    pdf = _flat(" ".join(pdf_pages(render.to_pdf(rep))))
    html = render.to_html(rep)
    for ident in _identifiers(record):
        for where, text in (("pdf", pdf), ("html", html)):
            assert not re.search(rf"(?<![0-9a-f]){re.escape(ident)}(?![0-9a-f])", text), (
                ident, where)
    assert "R-0123456789abcdef" in pdf and "Biopsy 1" in pdf and "day 0" in pdf
    # the science is unchanged
    ident = build_patient_report(record, biopsy_docs, on=ON)
    assert rep.risk == dataclasses.replace(ident.risk, label=rep.risk.label)
    assert "Losses: 3 (1 consecutive)" in pdf


def test_regenerating_gives_identical_text_but_the_timestamp(record, biopsy_docs, pdf_pages):  # type: ignore[no-untyped-def]
    a = build_patient_report(record, biopsy_docs, on=ON, generated_at="2025-06-01T10:00:00Z")
    b = build_patient_report(record, biopsy_docs, on=ON, generated_at="2031-02-03T04:05:06Z")
    ta, tb = pdf_pages(render.to_pdf(a)), pdf_pages(render.to_pdf(b))
    assert ta != tb  # the timestamp differs ...
    stamp = re.compile(r"Generated: \S+")
    assert [stamp.sub("", t) for t in ta] == [stamp.sub("", t) for t in tb]  # ... only it
    ha, hb = render.to_html(a), render.to_html(b)
    assert stamp.sub("", ha) == stamp.sub("", hb)  # figures included (deterministic SVG)
    # a changed record changes the input checksum
    c = build_patient_report(dataclasses.replace(record, bmi=25.0), biopsy_docs, on=ON)
    assert c.footer.checksums[0] != a.footer.checksums[0]


def test_plain_summary_reads_easily_and_uses_natural_frequencies(report):  # type: ignore[no-untyped-def]
    score = flesch_reading_ease(report.summary_text)
    assert score >= TARGET_READING_EASE, (score, report.summary_text)
    assert re.search(r"about \d+ in 10", report.summary_text)
    for s in re.split(r"(?<=[.!?]) ", report.summary_text):
        assert len(s.split()) <= 16, s  # short sentences
    for jargon in ("decidual", "endometri", "biopsy", "credible", "interval", "%"):
        assert jargon not in report.summary_text.lower()


def test_unknown_output_suffix_is_a_clear_error(report, tmp_path):  # type: ignore[no-untyped-def]
    from decidua.errors import InputError

    with pytest.raises(InputError, match=r"\.pdf or \.html"):
        render.write(report, tmp_path / "letter.docx")


def test_plots_history_timing_and_risk(report, record, biopsy_docs, tmp_path):  # type: ignore[no-untyped-def]
    kinds = [p.kind for p in report.plots]
    assert kinds == ["risk_series", "history", "timing"]
    hist = next(p for p in report.plots if p.kind == "history").data
    # days from the first dated event (2019-02-03): no dates in the plot data
    assert [p["x"] for p in hist["pregnancies"]] == [0, 223, 717, 1184]
    assert [p["group"] for p in hist["pregnancies"]] == ["loss", "loss", "live birth", "loss"]
    tim = next(p for p in report.plots if p.kind == "timing").data
    assert tim["estimate"] == [6.42, None, None] and tim["lh_day"] == [8, 7, 8]
    risk = next(p for p in report.plots if p.kind == "risk_series").data
    assert risk["p_loss"] == [p.p_loss for p in report.risk_series]
    # without a stored placement there is no timing plot
    bare = build_patient_report(record, {}, on=ON)
    assert [p.kind for p in bare.plots] == ["risk_series", "history"]
    html = render.to_html(report)
    assert html.count("data:image/svg+xml;base64,") == 3
    pdf_html = render.to_html(report, fmt="pdf")
    assert pdf_html.count("data:image/png;base64,") == 3
    import base64

    from PIL import Image

    png = base64.b64decode(pdf_html.split("data:image/png;base64,")[1].split('"')[0])
    (tmp_path / "risk.png").write_bytes(png)
    with Image.open(tmp_path / "risk.png") as im:
        dpi = im.info.get("dpi", (0, 0))[0]
        # 6 in wide at 237 dpi: 200 dpi or more when stretched to the 180 mm text width
        assert round(dpi) == 237 and im.size[0] == 6 * 237


def test_history_table_shows_fetal_heart_activity_of_losses(record, biopsy_docs):  # type: ignore[no-untyped-def]
    """Schema 0011: the report says whether fetal heart activity was seen before each loss
    (blank when not recorded, and for outcomes that are not losses)."""
    preg = list(record.pregnancies)
    first_loss = next(i for i, p in enumerate(preg) if p.is_loss)
    preg[first_loss] = dataclasses.replace(preg[first_loss], fetal_heart_activity=True)
    rep = build_patient_report(dataclasses.replace(record, pregnancies=tuple(preg)),
                               biopsy_docs, on=ON, study_group="rpl")
    table = rep.history.to_dict()
    assert "fetal heart (losses)" in table["columns"]
    col = table["columns"].index("fetal heart (losses)")
    cells = [row["cells"][col] for row in table["rows"]]
    assert cells.count("seen") == 1 and set(cells) <= {"seen", ""}
