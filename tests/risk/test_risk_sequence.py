"""Order and recency of previous outcomes (model 2026.12-2; issue 13).

Published figures used as checks (``decidua.literature``):

* Kolte et al., Hum Reprod 2021;36:1065-73 (Danish registry, 1,285,230 women): consecutive
  identical outcomes immediately before the next pregnancy had a larger impact on the
  chance of a live birth than the total number of any outcome.
* Egerup et al., Hum Reprod 2016;31:2428-34 (127 women with secondary RPL): each early
  loss *before* the last birth did not change the risk of loss in the next pregnancy
  (IRR 0.88, 95% CI 0.70-1.11); only consecutive losses after the last birth did.
* Kolte et al., Hum Reprod 2014;29:931-7 (499 women with unexplained RPL): each previous
  loss (clinical or non-visualised) gave a relative "risk" of live birth of 0.90
  (0.83-0.97) in the next pregnancy.
"""

from __future__ import annotations

import datetime as dt

import pytest

from decidua.domain import KaryotypeResult, Outcome, PatientRecord, PregnancyRecord
from decidua.literature import EGERUP_2016_LOSS_BEFORE_BIRTH_IRR, KOLTE_2014_LIVE_BIRTH_RR
from decidua.risk import predict, predict_many, predict_record
from decidua.risk.model import encode_history

L, B, E = Outcome.MISCARRIAGE, Outcome.LIVE_BIRTH, Outcome.ECTOPIC


def p(history, age=33.0):
    return predict(age, history).p_loss


def test_a_birth_after_losses_is_better_news_than_the_same_losses_after_the_birth():
    """Kolte 2021: the outcomes just before the next pregnancy matter most."""
    birth_last = p([L, L, L, B])
    losses_last = p([B, L, L, L])
    assert birth_last < losses_last - 0.05
    # and order does not matter among identical outcomes: bare counts are unchanged
    assert p(3) == pytest.approx(p([L, L, L]), abs=1e-12)


def test_egerup_2016_loss_before_the_last_birth_versus_after_it():
    irr, lo, hi = EGERUP_2016_LOSS_BEFORE_BIRTH_IRR
    base = p([B, L, L, L])
    before = p([L, B, L, L, L]) / base
    after = p([B, L, L, L, L]) / base
    assert lo <= before <= hi          # within the published CI
    assert after > hi                  # a loss after the last birth counts more
    assert after > before


def test_kolte_2014_live_birth_ratio_per_previous_loss():
    rr, lo, hi = KOLTE_2014_LIVE_BIRTH_RR
    ratio = (1 - p([L] * 4)) / (1 - p([L] * 3))
    assert lo <= ratio <= hi


def test_uninformative_outcomes_neither_count_nor_break_a_run():
    assert p([L, E, L, L]) == pytest.approx(p([L, L, L]), abs=1e-12)
    e = encode_history([B, L, Outcome.STILLBIRTH, L])
    assert (e.n_loss, e.n_live_births_earlier, e.n_live_births) == (2, 1, 0)


def test_records_are_read_in_their_order_and_predict_many_agrees():
    recs = [PregnancyRecord(2, B), PregnancyRecord(1, L),
            PregnancyRecord(3, L, karyotype=KaryotypeResult.NORMAL), PregnancyRecord(4, L)]
    e = encode_history(recs)
    assert (e.n_loss_earlier, e.n_live_births_earlier) == (1, 1)
    assert (e.n_loss, e.n_loss_karyotype_normal) == (1, 1)
    one = predict(36, recs).p_loss
    many = predict_many([36.0], e.n_loss, e.n_live_births, 0, 0,
                        n_loss_karyotype_abnormal=e.n_loss_karyotype_abnormal,
                        n_loss_karyotype_normal=e.n_loss_karyotype_normal,
                        n_losses_earlier=e.n_loss_earlier,
                        n_live_births_earlier=e.n_live_births_earlier,
                        n_loss_karyotype_normal_earlier=e.n_loss_karyotype_normal_earlier,
                        interval=None).p_loss[0]
    assert one == pytest.approx(float(many), abs=1e-9)
    rec = PatientRecord("P9", 1990, pregnancies=tuple(recs))
    assert predict_record(rec, dt.date(2026, 7, 1)).evidence == e


@pytest.mark.parametrize("history", [[L, L], [B, L, L], [L, B, L], [L, L, B, L]])
def test_adding_a_loss_anywhere_raises_and_a_birth_anywhere_lowers(history):
    base = p(history)
    for i in range(len(history) + 1):
        assert p([*history[:i], L, *history[i:]]) > base
        assert p([*history[:i], B, *history[i:]]) < base


def test_gestation_is_read_from_the_records_and_reported():
    """Second-trimester losses (>= 12 weeks, RCOG 2023) and preterm births (< 37 weeks,
    derived from gestation at a live birth) are counted in the evidence. Since model
    2026.12-3 the second-trimester loss is also scored (tests/risk/test_risk_gestation.py);
    preterm birth is not."""
    recs = [PregnancyRecord(1, B, gestation_weeks=34.0), PregnancyRecord(2, L, gestation_weeks=8),
            PregnancyRecord(3, L, gestation_weeks=16.0), PregnancyRecord(4, L)]
    e = encode_history(recs)
    assert (e.n_loss_second_trimester, e.n_preterm_births) == (1, 1)
    assert e.n_loss_second_trimester_untested == 1
    plain = [PregnancyRecord(1, B), PregnancyRecord(2, L), PregnancyRecord(3, L),
             PregnancyRecord(4, L)]
    assert predict(33, recs).p_loss > predict(33, plain).p_loss
    term = [PregnancyRecord(1, B, gestation_weeks=39.0), *recs[1:]]
    assert predict(33, term).p_loss == pytest.approx(predict(33, recs).p_loss, abs=1e-12)
