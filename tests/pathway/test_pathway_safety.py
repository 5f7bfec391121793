"""Pathway safety (issue 13): each test is a defect found by running the engine on a
hand-built record, checked against the guideline wording cited in ``rules.yaml``.

Sources checked (search tool, Dec 2026): RCOG Green-top Guideline 17 (2023) key
recommendations with grades (BJOG 2023;130:e9-e39, abstract); NICE NG126 recommendations
1.5.2-1.5.3 (progesterone, 2021 update, rationale page); Lancet 2021 Miscarriage matters
paper 3 (summary); ESHRE 2022 RPL guideline (strong / conditional / GPP scheme).
"""

from __future__ import annotations

import datetime as dt

import pytest

from decidua.domain import (
    Interpretation,
    InvestigationRecord,
    KaryotypeResult,
    Outcome,
    PatientRecord,
    PregnancyRecord,
)
from decidua.pathway import STRENGTHS, default_rules, next_steps

L, B = Outcome.MISCARRIAGE, Outcome.LIVE_BIRTH
ABN, NORM = Interpretation.ABNORMAL, Interpretation.NORMAL
APS_CODES = ("lupus_anticoagulant", "anticardiolipin_igg", "anticardiolipin_igm",
             "anti_b2gp1_igg", "anti_b2gp1_igm")


def woman(pregs, investigations=()):
    pregs = tuple(p if isinstance(p, PregnancyRecord) else PregnancyRecord(i, p)
                  for i, p in enumerate(pregs, start=1))
    return PatientRecord("P1", 1990, pregnancies=pregs, investigations=tuple(investigations))


def inv(code, interp=NORM, date=dt.date(2026, 1, 5), value=None):
    return InvestigationRecord(code, interp, date=date, value=value)


def aps_negative():
    return [inv(c) for c in APS_CODES]


# ----------------------------------------------------------------------------- APS


def test_undated_positive_lupus_anticoagulant_asks_for_a_repeat_not_the_unexplained_line():
    rec = woman([L, L, L], [InvestigationRecord("lupus_anticoagulant", ABN)])
    res = next_steps(rec)
    assert res.step("aps_repeat") is not None
    assert res.step("no_unexplained_heparin") is None
    assert res.step("aps_aspirin_heparin") is None


def test_unexplained_heparin_line_needs_aps_tested_negative():
    untested = next_steps(woman([L, L, L]))
    assert untested.step("no_unexplained_heparin") is None
    partly = next_steps(woman([L, L, L], [inv("tsh"), inv("anticardiolipin_igg")]))
    assert partly.step("no_unexplained_heparin") is None  # LA and anti-b2GPI not tested
    negative = next_steps(woman([L, L, L], aps_negative()))
    assert negative.step("no_unexplained_heparin") is not None


def _persistent_la():
    return [inv("lupus_anticoagulant", ABN, date=dt.date(2025, 9, 1)),
            inv("lupus_anticoagulant", ABN, date=dt.date(2026, 1, 5))]


def test_aps_treatment_for_three_early_losses_or_a_later_loss_only():
    assert next_steps(woman([L, L, L], _persistent_la())).step("aps_aspirin_heparin")
    two_early = next_steps(woman([L, L], _persistent_la()))
    assert two_early.step("aps_aspirin_heparin") is None
    assert two_early.step("aps_two_early_losses") is not None
    later = woman([PregnancyRecord(1, L, gestation_weeks=16)], _persistent_la())
    assert next_steps(later).step("aps_aspirin_heparin") is not None


# ----------------------------------------------------------------------------- second trimester


def test_one_second_trimester_loss_gets_the_rcog_steps():
    rec = woman([B, PregnancyRecord(2, L, gestation_weeks=18)])
    res = next_steps(rec)
    got = {s.id for s in res.steps}
    assert {"cervical_assessment", "cerclage_discussion", "aps_screen",
            "inherited_thrombophilia_second_trimester"} <= got
    thromb = res.step("inherited_thrombophilia_second_trimester")
    assert thromb.action == "consider" and "research" in thromb.text
    assert res.step("no_inherited_thrombophilia_first_trimester") is None


def test_first_trimester_losses_do_not_get_thrombophilia_screening():
    res = next_steps(woman([L, L, L], aps_negative()))
    assert res.step("inherited_thrombophilia_second_trimester") is None
    assert res.step("no_inherited_thrombophilia_first_trimester") is not None
    assert res.step("cervical_assessment") is None


# ----------------------------------------------------------------------------- thyroid


def test_subclinical_hypothyroidism_gets_levothyroxine_to_consider():
    rec = woman([L, L], [inv("tsh", ABN, value=6.2), inv("free_t4", NORM)])
    step = next_steps(rec).step("levothyroxine_subclinical")
    assert step is not None and step.kind == "treatment"
    assert next_steps(rec).step("no_levothyroxine_tpo_euthyroid") is None


def test_euthyroid_tpo_positive_gets_no_levothyroxine_line():
    rec = woman([L, L], [inv("tsh", NORM, value=1.9), inv("tpo_antibodies", ABN)])
    res = next_steps(rec)
    assert res.step("levothyroxine_subclinical") is None
    step = res.step("no_levothyroxine_tpo_euthyroid")
    assert step is not None and step.kind == "not_recommended"
    assert "TABLET" in step.line


def test_any_abnormal_thyroid_result_produces_a_step():
    for tsh in (inv("tsh", ABN, value=0.05), inv("tsh", ABN)):  # low, direction unknown
        res = next_steps(woman([L, L], [tsh]))
        assert {s.id for s in res.by_kind("treatment")} & {
            "thyroid_review", "levothyroxine_subclinical", "thyroid_overt"}


# ----------------------------------------------------------------------------- progesterone


def test_progesterone_offer_needs_bleeding_scan_confirmed_iup_and_a_previous_loss():
    offer = next_steps(woman([L]), early_pregnancy_bleeding=True,
                       intrauterine_pregnancy_confirmed=True).step("progesterone_bleeding")
    assert offer is not None and offer.action == "offer"
    assert "400 mg twice daily" in offer.text and "16" in offer.text
    assert "1.5.2" in offer.recommendation
    unscanned = next_steps(woman([L]), early_pregnancy_bleeding=True)
    assert unscanned.step("progesterone_bleeding") is None
    assert unscanned.step("confirm_intrauterine_pregnancy") is not None
    assert next_steps(woman([B]), early_pregnancy_bleeding=True,
                      intrauterine_pregnancy_confirmed=True).step("progesterone_bleeding") is None


def test_progesterone_without_bleeding_is_not_recommended():
    res = next_steps(woman([L, L]), pregnant=True)
    step = res.step("no_progesterone_without_bleeding")
    assert step is not None and step.kind == "not_recommended" and "PROMISE" in step.line
    bleeding = next_steps(woman([L, L]), early_pregnancy_bleeding=True,
                          intrauterine_pregnancy_confirmed=True)
    assert bleeding.step("no_progesterone_without_bleeding") is None


# ----------------------------------------------------------------------------- genetics


def test_unbalanced_tissue_result_prompts_parental_karyotype():
    rec = woman([L, L, PregnancyRecord(3, L, karyotype=KaryotypeResult.ABNORMAL,
                                       karyotype_detail="unbalanced t(11;22) derivative")])
    step = next_steps(rec).step("parental_karyotype_unbalanced")
    assert step is not None and step.action == "offer"
    trisomy = woman([L, L, PregnancyRecord(3, L, karyotype=KaryotypeResult.ABNORMAL,
                                           karyotype_detail="47,XX,+16")])
    assert next_steps(trisomy).step("parental_karyotype_unbalanced") is None


def test_tissue_genetics_is_a_plan_for_the_next_loss_not_missing():
    res = next_steps(woman([L, L, L]))
    step = res.step("pregnancy_tissue_genetics")
    assert step.status == "plan" and "next" in step.text.lower()
    assert not any("pregnancy-tissue" in m for m in res.missing)


# ----------------------------------------------------------------------------- lists


def test_full_not_recommended_outside_research_list():
    res = next_steps(woman([L, L, L], aps_negative()))
    ids = {s.id for s in res.by_kind("not_recommended")}
    assert {"no_nk_testing", "no_immunotherapy", "no_endometrial_scratch",
            "no_unexplained_heparin", "no_inherited_thrombophilia_first_trimester",
            "no_hla_typing", "no_routine_parental_karyotype", "no_pgta_unexplained",
            "no_prolactin_without_indication", "no_ovarian_reserve_without_indication"} <= ids


def test_mental_health_later_pregnancy_and_sperm_dna_positions():
    res = next_steps(woman([L, L]))
    assert res.step("mental_health_screening") is not None
    assert res.step("later_pregnancy_risks") is not None
    sdf = res.step("sperm_dna_fragmentation")
    assert sdf is not None and "ESHRE" in sdf.line and "RCOG" in sdf.line


def test_every_rule_has_a_strength_action_and_recommendation_reference():
    for rule in default_rules().rules:
        assert rule.strength in STRENGTHS, rule.id
        assert rule.recommendation, rule.id
    res = next_steps(woman([L, L, L]), pregnant=True)
    for s in res.steps:
        if s.kind == "not_recommended":
            assert s.action == "not recommended"
        else:
            assert s.action == ("offer" if s.strength == "strong" else "consider"), s.id
            assert s.text.lower().startswith(s.action)
        assert s.to_dict()["strength"] == s.strength


@pytest.mark.parametrize("rule_id", ["pregnancy_tissue_genetics", "cytogenetics_second_trimester"])
def test_rcog_grades_quoted_where_verified(rule_id):
    rule = next(r for r in default_rules().rules if r.id == rule_id)
    assert "Grade D" in rule.recommendation
