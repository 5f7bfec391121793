"""The screening engine (pure): properties of the call (hypothesis) and the rule table.

Independent reference: the rule as written in rules.yaml / docs/screening.md; the
evidence is generated (no data set needed for a rule's logic).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decidua.errors import InputError
from decidua.screening import (
    BiopsyEvidence,
    MarkerEvidence,
    ScreeningRules,
    TimingEvidence,
    default_rules,
    evaluate,
)

RULES = default_rules()
QC = st.sampled_from(["pass", "pending", "fail"])
finite = st.floats(-5, 25, allow_nan=False)
centile = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def timing(draw):
    e = draw(st.floats(3, 14, allow_nan=False))
    lo = e - draw(st.floats(0.1, 3))
    hi = e + draw(st.floats(0.1, 3))
    return TimingEvidence(e, lo, hi, draw(st.booleans()), draw(st.booleans()),
                          None, draw(QC), "ref")


@st.composite
def marker(draw, name):
    return MarkerEvidence(name, draw(st.one_of(st.none(), finite)),
                          draw(st.one_of(st.none(), centile)), "ref", draw(QC),
                          range_flag=draw(st.sampled_from([None, "low", "high"])),
                          reason=draw(st.sampled_from([None, "another protocol"])))


@st.composite
def evidence(draw):
    genes = draw(st.lists(st.sampled_from(["IGFBP1", "PRL", "SCARA5", "DIO2", "CDKN2A",
                                           "GPX3"]), unique=True, max_size=4))
    return BiopsyEvidence(
        "B", draw(st.one_of(st.none(), st.integers(4, 13))),
        draw(st.one_of(st.none(), timing())),
        draw(st.one_of(st.none(), marker("cfu"))),
        draw(st.one_of(st.none(), marker("unk"))),
        tuple(draw(marker(g)) for g in genes))


@settings(max_examples=300, deadline=None)
@given(evidence())
def test_an_abnormal_component_gives_an_abnormal_call(ev):
    call = evaluate(ev, RULES)
    abnormal = [c for c in call.components if c.status == "abnormal"]
    assert (call.call == "abnormal") == bool(abnormal)
    if abnormal:
        assert len(call.reasons) == len(abnormal)
        assert all(r.startswith(c.name) for r, c in zip(call.reasons, abnormal, strict=True))


@settings(max_examples=300, deadline=None)
@given(evidence())
def test_normal_needs_every_required_component_assessed(ev):
    call = evaluate(ev, RULES)
    if call.call == "normal":
        by_name = {c.name: c for c in call.components}
        assert by_name["timing"].status == "normal"
        assert by_name["asynchrony"].status == "normal"
        assert ev.timing is not None and ev.timing.qc_status == "pass" and ev.timing.callable
        assert ev.lh_day is not None


@settings(max_examples=200, deadline=None)
@given(evidence())
def test_missing_timing_is_never_normal(ev):
    ev = BiopsyEvidence(ev.biopsy, ev.lh_day, None, ev.cfu, ev.unk, ev.markers)
    call = evaluate(ev, RULES)
    assert call.call in ("abnormal", "uncallable")
    if call.call == "uncallable":
        assert any("assay missing" in r for r in call.reasons)


def test_no_evidence_at_all_is_uncallable_with_reasons():
    call = evaluate(BiopsyEvidence("B"), RULES)
    assert call.call == "uncallable"
    assert call.reasons and all("assay missing" in r for r in call.reasons)


@pytest.mark.parametrize("qc", ["pending", "fail"])
def test_qc_not_passed_is_uncallable_not_abnormal(qc):
    t = TimingEvidence(5.0, 4.0, 6.0, True, qc_status=qc)  # would be delayed + asynchronous
    call = evaluate(BiopsyEvidence("B", 9, t), RULES)
    assert call.call == "uncallable"
    assert "QC not passed" in call.reasons[0]


def test_timing_offsets_against_the_rule_threshold():
    cut = RULES.value("timing_offset_days")
    base = dict(asynchronous=False)
    near = TimingEvidence(8 - cut + 0.1, 8 - cut - 0.9, 8 - cut + 1.0, **base)
    late = TimingEvidence(8 - cut - 0.1, 8 - cut - 1.1, 8 - 0.05, **base)
    early = TimingEvidence(8 + cut + 0.1, 8.05, 8 + cut + 1.1, **base)
    wide = TimingEvidence(8 - cut - 0.5, 3.0, 8.5, **base)  # interval covers the LH day
    flags = [evaluate(BiopsyEvidence("B", 8, t), RULES).components[0].flag
             for t in (near, late, early, wide)]
    assert flags == [None, "delayed", "advanced", None]


def test_no_lh_day_makes_timing_uninterpretable():
    call = evaluate(BiopsyEvidence("B", None, TimingEvidence(8.0, 7.0, 9.0, False)), RULES)
    assert call.call == "uncallable"
    assert "timing uninterpretable" in call.reasons[0]


def test_marker_directions():
    t = TimingEvidence(8.0, 7.0, 9.0, False)
    # IGFBP1 dCq at the 95th centile = expression at the 5th: blunted
    blunted = MarkerEvidence("IGFBP1", 12.0, 0.95, "ref")
    senescent = MarkerEvidence("DIO2", 3.0, 0.02, "ref")
    shown = MarkerEvidence("GPX3", 3.0, 0.99, "ref")
    call = evaluate(BiopsyEvidence("B", 8, t, markers=(blunted, senescent, shown)), RULES)
    flags = {c.name: (c.status, c.flag) for c in call.components}
    assert flags["IGFBP1 dCq"] == ("abnormal", "blunted")
    assert flags["DIO2 dCq"] == ("abnormal", "senescent")
    assert flags["GPX3 dCq"] == ("info", None)
    assert call.call == "abnormal"


def test_unk_out_of_range_and_protocol_mismatch():
    t = TimingEvidence(8.0, 7.0, 9.0, False)
    high = MarkerEvidence("unk", 20.0, None, "tuckerman", range_flag="high")
    other = MarkerEvidence("unk", 20.0, None, None, reason="no uNK reference for protocol")
    assert evaluate(BiopsyEvidence("B", 8, t, unk=high), RULES).call == "abnormal"
    c = evaluate(BiopsyEvidence("B", 8, t, unk=other), RULES)
    assert c.call == "normal"  # uNK is not required; not compared across protocols
    assert [x.status for x in c.components if x.name == "unk"] == ["uncallable"]


def test_every_threshold_has_a_basis_and_published_ones_a_source():
    for t in RULES.thresholds.values():
        assert t.basis in ("published", "local assumption")
        assert t.note
        if t.basis == "published":
            assert t.source in RULES.sources


def test_bad_rule_tables_are_refused_with_every_problem():
    with pytest.raises(InputError) as e:
        ScreeningRules.from_mapping({"version": "x", "thresholds": {
            "timing_offset_days": {"value": 1, "basis": "guess"}},
            "components": {"nope": {}}})
    msg = str(e.value)
    assert "basis must be" in msg and "unknown component 'nope'" in msg
    assert "missing threshold 'low_cfu_centile'" in msg
