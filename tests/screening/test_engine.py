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
    # IGFBP1 dCq at the 99th centile = expression at the 1st: blunted (two directional
    # markers share the markers group's 5 %: 2.5 % each)
    blunted = MarkerEvidence("IGFBP1", 12.0, 0.99, "ref")
    senescent = MarkerEvidence("DIO2", 3.0, 0.01, "ref")
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
    assert "missing threshold 'family_false_positive_rate'" in msg


def test_marker_tail_is_the_groups_share_split_over_the_markers_measured():
    t = TimingEvidence(8.0, 7.0, 9.0, False)
    low = MarkerEvidence("IGFBP1", 12.0, 0.96, "ref")  # expression at the 4th centile
    alone = evaluate(BiopsyEvidence("B", 8, t, markers=(low,)), RULES)
    assert alone.call == "abnormal"  # one marker: the group's whole 5 %
    prl = MarkerEvidence("PRL", 5.0, 0.5, "ref")
    two = evaluate(BiopsyEvidence("B", 8, t, markers=(low, prl)), RULES)
    assert two.call == "normal"  # two markers: 2.5 % each


def test_family_wise_false_positive_rate_in_the_reference_population():
    """Biopsies drawn from the reference population (every centile uniform, timing on the
    day, synchronous) are called abnormal at most at the rule's family-wise rate."""
    import numpy as np

    rng = np.random.default_rng(7)
    t = TimingEvidence(8.0, 7.0, 9.0, False)
    n, abnormal = 4000, 0
    for _ in range(n):
        c = rng.uniform(size=6)
        ev = BiopsyEvidence(
            "B", 8, t, MarkerEvidence("cfu", 2.0, c[0], "ref"),
            MarkerEvidence("unk", 6.0, c[1], "clinic ref"),
            tuple(MarkerEvidence(g, 5.0, x, "ref")
                  for g, x in zip(("IGFBP1", "PRL", "SCARA5", "DIO2"), c[2:], strict=True)))
        abnormal += evaluate(ev, RULES).call == "abnormal"
    share = abnormal / n
    # three tested groups at 5 % each (timing normal here): 1 - 0.95**3 = 14.3 %
    assert share <= RULES.value("family_false_positive_rate")
    assert abs(share - (1 - (1 - RULES.component_level) ** 3)) < 0.02


def test_asynchrony_makes_timing_uninterpretable_never_abnormal_by_itself():
    odd = TimingEvidence(8.2, 7.0, 9.5, True)
    call = evaluate(BiopsyEvidence("B", 8, odd), RULES)
    assert call.call == "uncallable"
    by = {c.name: c for c in call.components}
    assert by["asynchrony"].flag == "asynchronous" and by["asynchrony"].status == "uncallable"
    assert by["timing"].status == "uncallable"
    # another abnormal component still makes the call abnormal
    high = MarkerEvidence("unk", 30.0, None, "tuckerman", range_flag="high",
                          interval=(22.0, 39.0))
    assert evaluate(BiopsyEvidence("B", 8, odd, unk=high), RULES).call == "abnormal"
    # even a far-off estimate is not read when the genes disagree
    late = TimingEvidence(4.0, 3.0, 5.0, True)
    assert evaluate(BiopsyEvidence("B", 9, late), RULES).call == "uncallable"


def test_unk_range_needs_the_interval_outside_the_range():
    t = TimingEvidence(8.0, 7.0, 9.0, False)
    lo, hi = RULES.value("unk_range")

    def call(pct, interval, flag):
        m = MarkerEvidence("unk", pct, None, "tuckerman", range_flag=flag, interval=interval)
        return evaluate(BiopsyEvidence("B", 8, t, unk=m), RULES).call

    assert call(hi + 2, (hi - 3, hi + 8), "high") == "normal"  # interval overlaps the range
    assert call(hi + 10, (hi + 1, hi + 20), "high") == "abnormal"
    assert call(lo - 1, (lo - 1.8, lo + 1.5), "low") == "normal"
    assert call(lo - 1.5, (lo - 2.0, lo - 0.5), "low") == "abnormal"
