"""Cohort report: ROC/AUC of the risk at the index biopsy, calibration, the stored
screening call against the outcome, centiles by group and trial arms.

Independent references: each woman's risk at her index biopsy recomputed with
:func:`decidua.risk.predict_record` (the per-woman path, not the report's vectorised
one); the AUC against SciPy's Mann-Whitney U / (n1 n2); the screening call's 2x2 table
known by construction; centile medians with numpy; figures by their SVG ids.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re

import numpy as np
import pytest
from scipy import stats

from decidua.domain import BiopsyRecord, DecidualCall, Outcome, PatientRecord, PregnancyRecord
from decidua.reports import render
from decidua.reports.cohort import build_cohort_report

ON = dt.date(2025, 6, 1)


def _cohort() -> tuple[list[PatientRecord], dict[str, str], dict[str, list[dict]]]:
    """40 women, 1-3 earlier losses, ages 25-43, one untreated biopsy in 2020 (clinic call
    and a stored screening call), then a pregnancy with a known outcome in 2021."""
    rng = np.random.default_rng(3)
    recs, calls, comps = [], {}, {}
    for i in range(40):
        n_loss = 1 + i % 3
        preg = [PregnancyRecord(k + 1, Outcome.MISCARRIAGE, 8.0,
                                outcome_date=dt.date(2016 + k, 1 + i % 12, 1))
                for k in range(n_loss)]
        outcome = Outcome.MISCARRIAGE if rng.random() < 0.2 + 0.15 * n_loss else \
            Outcome.LIVE_BIRTH
        preg.append(PregnancyRecord(n_loss + 1, outcome, outcome_date=dt.date(2021, 6, 1)))
        code = f"C{i:03d}-B1"
        b = BiopsyRecord(code, dt.date(2020, 3, 10), dt.date(2020, 3, 2), 1,
                         clinic_call=DecidualCall.ABNORMAL if i % 4 == 0 else
                         DecidualCall.NORMAL)
        recs.append(PatientRecord(f"C{i:03d}", 1977 + i % 19, pregnancies=tuple(preg),
                                  biopsies=(b,)))
        # screening call: abnormal for women 0-9, normal for 10-29, none stored for 30-39
        if i < 30:
            calls[code] = "abnormal" if i < 10 else "normal"
            comps[code] = [{"name": "IGFBP1 dCq", "centile": (i % 10) / 10 + 0.05}]
    return recs, calls, comps


def _groups(recs):  # type: ignore[no-untyped-def]
    return {r.patient_id: ("rpl" if i % 2 else "control") for i, r in enumerate(recs)}


@pytest.fixture
def cohort():  # type: ignore[no-untyped-def]
    return _cohort()


def _trials():  # type: ignore[no-untyped-def]
    parts = [{"arm": a, "baseline": 8.0 + k, "followup": 8.0 + k + 6 * a}
             for a in (0, 1) for k in range(5)]
    return [{"marker": "cfu", "treated_arms": ["sit"], "control_arms": ["placebo"],
             "scale": "rate ratio", "effect": {"estimate": 1.52, "low": 1.32, "high": 1.75},
             "p_value": 0.001, "model": "negbin", "n": 10, "participants": parts,
             "excluded": []},
            {"marker": "unk", "error": "no woman in a trial arm has unk before and after"}]


def test_auc_is_mann_whitney_on_the_per_woman_risk(cohort):  # type: ignore[no-untyped-def]
    from decidua.risk import predict_record

    recs, calls, comps = cohort
    rep = build_cohort_report(recs, _groups(recs), screening_calls=calls,
                              screening_components=comps, on=ON, generated_at="x")
    scores, ys = [], []
    for r in recs:
        day = r.biopsies[0].biopsy_date
        before = tuple(p for p in r.pregnancies if p.outcome_date <= day)
        est = predict_record(dataclasses.replace(r, pregnancies=before), day)
        scores.append(est.p_loss)
        ys.append(int(r.pregnancies[-1].outcome is Outcome.MISCARRIAGE))
    s, y = np.asarray(scores), np.asarray(ys)
    u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert rep.auc.estimate == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-9)
    assert rep.auc.low < rep.auc.estimate < rep.auc.high
    text = " ".join(" ".join(r.cells) for r in rep.discrimination.rows)
    assert f"{rep.auc.estimate:.3f} (95% CI {rep.auc.low:.3f} to {rep.auc.high:.3f}" in text
    assert f"{len(ys)} ({int(y.sum())} / {int((y == 0).sum())})" in text
    # calibration bins: counts add up to the women, observed shares from the outcomes
    (cal,) = [p for p in rep.plots if p.kind == "calibration"]
    assert sum(b["n"] for b in cal.data["bins"]) == len(ys)
    for b in cal.data["bins"]:
        assert b["low"] <= b["observed"] <= b["high"]
    (roc,) = [p for p in rep.plots if p.kind == "roc"]
    area = np.sum(np.diff(roc.data["fpr"]) * (np.array(roc.data["tpr"][1:])
                                              + np.array(roc.data["tpr"][:-1])) / 2)
    assert area == pytest.approx(rep.auc.estimate)


def test_screening_call_table_centiles_and_arms(cohort, pdf_pages, printed_images):  # type: ignore[no-untyped-def]
    recs, calls, comps = cohort
    groups = _groups(recs)
    rep = build_cohort_report(recs, groups, screening_calls=calls, screening_components=comps,
                              trials=_trials(), on=ON, generated_at="x")
    lost = {r.biopsies[0].biopsy_id:
            r.pregnancies[-1].outcome is Outcome.MISCARRIAGE for r in recs}
    al = sum(lost[c] for c, v in calls.items() if v == "abnormal")
    nb = sum(not lost[c] for c, v in calls.items() if v == "normal")
    cells = [r.cells for r in rep.screening_accuracy.rows]
    assert cells[0] == ("screening call: abnormal", str(al), str(10 - al))
    assert cells[1][2] == str(nb)
    # centiles by group: medians from numpy
    for g in ("control", "rpl"):
        xs = [100 * comps[c][0]["centile"] for c in comps
              if groups[c.split("-")[0]] == g]
        (row,) = [r for r in rep.centiles.rows if r.cells[:2] == ("IGFBP1 dCq", g)]
        assert row.cells[2] == str(len(xs))
        assert row.cells[3].startswith(f"{np.median(xs):.0f} (")
    html = render.to_html(rep)
    svgs = {alt: base64.b64decode(src).decode() for src, alt in re.findall(
        r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', html)}
    assert 'id="roc-curve"' in svgs["ROC of the risk at the index biopsy against the next "
                                    "pregnancy"]
    assert 'id="calibration-points"' in svgs["Calibration of the risk at the index biopsy"]
    box = svgs["Marker centiles by study group"]
    assert 'id="centiles-IGFBP1_dCq-control"' in box and 'id="centiles-IGFBP1_dCq-rpl"' in box
    arms = svgs["Intervention arms before and after"]
    assert 'id="arm-0-treated"' in arms and 'id="arm-0-control"' in arms
    pdf = render.to_pdf(rep)
    text = re.sub(r"\s+", " ", " ".join(pdf_pages(pdf)))
    # every figure prints at 200 dpi or more, side by side (ROC, calibration) or not
    from decidua.reports.plots import PDF_DPI

    drawn = printed_images(pdf)
    assert len(drawn) == len(rep.plots)
    assert sorted(round(w) for _, w, _ in drawn) == [3, 3, 7, 7, 7]
    assert all(px / w >= PDF_DPI for px, w, _ in drawn), drawn
    assert "rate ratio 1.52 (95% CI 1.32 to 1.75)" in text
    assert "treated n=5: median 10 before, 16 after" in text
    assert "no woman in a trial arm has unk before and after" in text
    assert "DeLong" in text and "screening call: sensitivity" in text
    assert not re.search(r"C\d{3}", text + html)  # no id or biopsy code


def test_regenerating_the_cohort_report_gives_identical_text(cohort, pdf_pages):  # type: ignore[no-untyped-def]
    recs, calls, comps = cohort
    a, b = (build_cohort_report(recs, _groups(recs), screening_calls=calls,
                                screening_components=comps, trials=_trials(), on=ON,
                                generated_at=t) for t in ("2025-06-01T00:00:00Z",
                                                          "2030-01-01T00:00:00Z"))
    stamp = re.compile(r"Generated: \S+")
    assert stamp.sub("", render.to_html(a)) == stamp.sub("", render.to_html(b))
