"""Care-pathway rules on hand-built patient records."""

from __future__ import annotations

import datetime as dt

import pytest

from decidua import RESEARCH_USE_LABEL
from decidua.domain import (
    Interpretation,
    InvestigationRecord,
    KaryotypeResult,
    Outcome,
    PatientRecord,
    PregnancyRecord,
)
from decidua.errors import InputError
from decidua.pathway import RuleSet, default_rules, next_steps

APS_CODES = (
    "lupus_anticoagulant",
    "anticardiolipin_igg",
    "anticardiolipin_igm",
    "anti_b2gp1_igg",
    "anti_b2gp1_igm",
)


def woman(outcomes, investigations=(), pid="P1"):
    pregs = tuple(PregnancyRecord(i, o) for i, o in enumerate(outcomes, start=1))
    return PatientRecord(pid, 1990, pregnancies=pregs, investigations=tuple(investigations))


def inv(code, interp=Interpretation.NORMAL):
    return InvestigationRecord(code, interp, date=dt.date(2026, 1, 5))


L, B = Outcome.MISCARRIAGE, Outcome.LIVE_BIRTH


def ids(res):
    return {s.id for s in res.steps}


def test_shipped_rules_are_versioned_and_cited():
    rules = default_rules()
    assert rules.version
    for rule in rules.rules:
        assert rule.source in rules.sources and rule.line
    assert {"lancet2021", "eshre2022"} <= set(rules.sources)


def test_no_loss_no_steps():
    res = next_steps(woman([B]))
    assert res.steps == () and res.missing == ()
    assert res.label == RESEARCH_USE_LABEL


def test_after_one_loss_graded_model():
    res = next_steps(woman([L]))
    assert res.stage == "after one loss" and not res.rpl
    assert {"information_support", "thyroid_tsh", "basic_screen_fbc"} <= ids(res)
    assert "aps_screen" not in ids(res) and "consultant_clinic" not in ids(res)
    assert "TSH not recorded" in res.missing


def test_after_two_losses_is_rpl_with_eshre_investigations():
    res = next_steps(woman([L, B, L]))  # non-consecutive losses count (ESHRE 2022)
    assert res.rpl and res.losses == 2 and res.consecutive_losses == 1
    assert {"aps_screen", "thyroid_tpo", "uterine_anatomy", "reassurance_scans"} <= ids(res)
    assert "consultant_clinic" not in ids(res)
    not_rec = {s.id for s in res.by_kind("not_recommended")}
    assert {"no_nk_testing", "no_immunotherapy", "no_endometrial_scratch"} <= not_rec
    assert all(s.status == "not_recommended" for s in res.by_kind("not_recommended"))
    assert "research" in res.step("no_nk_testing").text


def test_after_three_losses_consultant_and_full_panel():
    res = next_steps(woman([L, L, L]))
    assert {"consultant_clinic", "pregnancy_tissue_genetics"} <= ids(res)
    assert res.step("consultant_clinic").source == "lancet2021"
    assert "Lancet" in res.step("consultant_clinic").citation


def test_missing_items_named_and_done_when_recorded():
    rec = woman([L, L, L], [inv("tsh"), inv("tpo_antibodies")] + [inv(c) for c in APS_CODES])
    res = next_steps(rec)
    assert res.step("thyroid_tsh").status == "done"
    assert res.step("aps_screen").status == "done"
    assert "TSH not recorded" not in res.missing
    assert "uterine imaging not recorded" in res.missing
    assert res.step("uterine_anatomy").status == "recommended"


def test_pregnancy_tissue_genetics_is_a_plan_whether_or_not_a_karyotype_exists():
    """Issue 13: tissue genetics is planned for the next loss; a recorded karyotype of an
    earlier loss does not make it "done", and its absence is never "missing"."""
    pregs = (
        PregnancyRecord(1, L),
        PregnancyRecord(2, L),
        PregnancyRecord(3, L, karyotype=KaryotypeResult.ABNORMAL),
    )
    res = next_steps(PatientRecord("P", 1990, pregnancies=pregs))
    assert res.step("pregnancy_tissue_genetics").status == "plan"
    assert res.facts["tissue_result_available"] is True


def test_aps_positive_gives_aspirin_heparin_and_no_unexplained_heparin_line():
    first = InvestigationRecord(
        "lupus_anticoagulant", Interpretation.ABNORMAL, date=dt.date(2025, 9, 1)
    )
    rec = woman([L, L, L], [first, inv("lupus_anticoagulant", Interpretation.ABNORMAL)])
    res = next_steps(rec)
    step = res.step("aps_aspirin_heparin")
    assert step is not None and step.kind == "treatment"
    assert "aspirin" in step.text and "heparin" in step.text
    assert res.step("no_unexplained_heparin") is None
    negative = next_steps(woman([L, L, L], [inv(c) for c in APS_CODES]))
    assert negative.step("aps_aspirin_heparin") is None
    assert negative.step("no_unexplained_heparin") is not None


def test_progesterone_only_for_bleeding_with_previous_loss():
    """Issue 13 adds the scan-confirmed intrauterine pregnancy (NICE NG126 1.5.2)."""
    iup = {"early_pregnancy_bleeding": True, "intrauterine_pregnancy_confirmed": True}
    assert next_steps(woman([L]), **iup).step("progesterone_bleeding") is not None
    assert next_steps(woman([L])).step("progesterone_bleeding") is None
    assert next_steps(woman([B]), **iup).step("progesterone_bleeding") is None


def test_research_biopsy_only_where_clinic_runs_it():
    rec = woman([L, L])
    assert next_steps(rec).step("research_biopsy") is None  # shipped setting: off
    offer = next_steps(rec, research_biopsy_available=True).step("research_biopsy")
    assert offer is not None and offer.status == "offer"
    pregnant = woman([L, L, Outcome.ONGOING])
    assert next_steps(pregnant, research_biopsy_available=True).step("research_biopsy") is None


def test_on_date_ignores_later_pregnancies():
    pregs = (
        PregnancyRecord(1, L, outcome_date=dt.date(2020, 1, 1)),
        PregnancyRecord(2, L, outcome_date=dt.date(2024, 1, 1)),
    )
    rec = PatientRecord("P", 1990, pregnancies=pregs)
    assert next_steps(rec, on=dt.date(2022, 1, 1)).losses == 1
    assert next_steps(rec).losses == 2


def test_to_dict_round_trip_keys():
    d = next_steps(woman([L, L])).to_dict()
    assert {"steps", "missing", "rules_version", "label", "facts"} <= set(d)
    assert all({"text", "line", "citation"} <= set(s) for s in d["steps"])


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "version: '1'\nsources: {}\nrules: [{id: a, kind: care, step: s, source: x, line: l}]",
            "unknown source",
        ),
        (
            "version: '1'\nsources: {x: {citation: c}}\nrules: [{id: a, kind: magic, step: s, "
            "source: x, line: l}]",
            "kind must be",
        ),
        (
            "version: '1'\nsources: {x: {citation: c}}\nrules: [{id: a, kind: care, step: s, "
            "source: x, line: l, when: {shoe_size: 3}}]",
            "unknown fact",
        ),
        (
            "version: '1'\nsources: {x: {citation: c}}\nrules: [{id: a, kind: investigation, "
            "step: s, source: x, line: l, investigations: {xray: X}}]",
            "unknown investigation",
        ),
        ("rules: [", "invalid YAML"),
        ("version: '1'\nsources: [1, 2]\nrules: {}", "must be a"),
    ],
)
def test_invalid_rule_tables_are_refused(text, fragment):
    with pytest.raises(InputError, match=fragment):
        RuleSet.from_yaml(text)


def test_custom_rule_table_is_data_not_code():
    text = """
version: "test-1"
sources: {local: {citation: "Local protocol 2026"}}
settings: {research_biopsy_available: false}
rules:
  - id: vit_d
    kind: investigation
    when: {losses: {ge: 2}, consecutive_losses: {ge: 2}}
    step: Vitamin D.
    investigations: {vitamin_d: vitamin D}
    source: local
    line: "Local protocol, section 1."
"""
    rules = RuleSet.from_yaml(text)
    res = next_steps(woman([L, L]), rules=rules)
    assert res.rules_version == "test-1"
    assert res.missing == ("vitamin D not recorded",)
    assert next_steps(woman([L, B, L]), rules=rules).steps == ()


def test_single_aps_positive_asks_for_a_repeat_not_treatment():
    """Sydney criteria: APS needs positivity on two occasions >= 12 weeks apart."""
    one = woman([L, L, L], [inv("lupus_anticoagulant", Interpretation.ABNORMAL)])
    res = next_steps(one)
    assert res.step("aps_aspirin_heparin") is None
    assert res.step("aps_repeat") is not None
    too_close = InvestigationRecord(
        "lupus_anticoagulant", Interpretation.ABNORMAL, date=dt.date(2025, 12, 1)
    )
    res = next_steps(
        woman([L, L, L], [too_close, inv("lupus_anticoagulant", Interpretation.ABNORMAL)])
    )
    assert res.step("aps_aspirin_heparin") is None and res.step("aps_repeat") is not None
    cleared = InvestigationRecord(
        "lupus_anticoagulant", Interpretation.ABNORMAL, date=dt.date(2025, 6, 1)
    )
    res = next_steps(woman([L, L, L], [cleared, inv("lupus_anticoagulant")]))
    assert res.step("aps_aspirin_heparin") is None and res.step("aps_repeat") is None
