"""Decidualization time course: fold change, trapezoid AUC, half-max time, reference classes.

Checks: hand-computed values (fold change, trapezoid AUC, interpolated
half-maximal time; 2^-ΔΔCq for qPCR); an independent trapezoid
(``numpy.trapezoid``); the reference centiles against scipy's t distribution
computed here; class recovery on the documented synthetic culture generator
(``decidua.assays.decidualization.synthetic``, known truth): a reference
fitted on 60 normal cultures, then 300 mixed cultures classed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from decidua.assays.decidualization import (
    DecidualizationReference,
    marker_course,
    time_courses,
)
from decidua.assays.decidualization.plot import plot_time_course
from decidua.assays.decidualization.synthetic import synthetic_cultures
from decidua.errors import InputError, ModelError


def test_hand_computed_course():
    mc = marker_course([0, 0, 2, 4, 8], [9, 11, 20, 40, 50], marker="PRL")
    assert mc.days == (0, 2, 4, 8)
    assert mc.n_replicates == (2, 1, 1, 1)
    assert mc.fold_change == (1.0, 2.0, 4.0, 5.0)
    # trapezoid: (1+2)/2*2 + (2+4)/2*2 + (4+5)/2*4 = 3 + 6 + 18
    assert mc.auc_fold_days == 27.0
    # response FC-1: 0, 1, 3, 4; half max 2 reached between day 2 (1) and 4 (3): day 3
    assert mc.t_half_max_days == 3.0
    assert (mc.peak_fold, mc.peak_day) == (5.0, 8.0)


def test_delta_cq_scale_is_two_to_minus_ddcq():
    mc = marker_course([0, 4, 8], [6.0, 3.0, 1.0], scale="delta_cq", marker="FOXO1")
    assert mc.fold_change == (1.0, 8.0, 32.0)


def test_no_response_has_no_half_max_time():
    mc = marker_course([0, 2, 4], [5, 5, 4])
    assert math.isnan(mc.t_half_max_days)
    assert mc.to_dict()["t_half_max_days"] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 1000), min_size=2, max_size=6))
def test_auc_matches_numpy_trapezoid_and_half_max_within_days(vals):
    days = np.array([0, 1, 2, 4, 8, 12][: len(vals)], dtype=float)
    mc = marker_course(days, vals)
    fold = np.asarray(vals) / vals[0]
    assert mc.auc_fold_days == pytest.approx(np.trapezoid(fold, days), rel=1e-12)
    if not math.isnan(mc.t_half_max_days):
        assert 0 < mc.t_half_max_days <= mc.peak_day


@pytest.mark.parametrize(("days", "values", "reason"), [
    ([2, 4], [1, 2], "no day-0"),
    ([0, 2], [0, 2], "positive baseline"),
    ([0, 2], [1, -2], "negative concentration"),
    ([0, -1], [1, 2], "day must be"),
    ([0, 2], [1, float("nan")], "not a number"),
])
def test_bad_input_is_refused(days, values, reason):
    with pytest.raises(InputError, match=reason):
        marker_course(days, values, culture="B1", marker="PRL")


def test_table_problems_name_culture_and_marker():
    df = pd.DataFrame({"culture": ["B1", "B1", "B2"], "marker": ["PRL", "PRL", "IGFBP1"],
                       "day": [0, 2, 2], "value": [1, 2, 3]})
    with pytest.raises(InputError, match="culture 'B2' marker 'IGFBP1'"):
        time_courses(df)
    with pytest.raises(InputError, match="missing: value"):
        time_courses(df.drop(columns="value"))


def test_reference_centile_is_student_t_predictive():
    ref_df, _ = synthetic_cultures(20, seed=3, class_probs=(0, 1, 0))
    courses = time_courses(ref_df)
    ref = DecidualizationReference(version="t").fit(courses)
    logs = np.log([c.marker("PRL").fold_at(4.0) for c in courses])
    n, m, s = len(logs), logs.mean(), logs.std(ddof=1)
    fold = 12.0
    want = sps.t.cdf((math.log(fold) - m) / (s * math.sqrt(1 + 1 / n)), n - 1)
    assert ref.centile("PRL", 4.0, fold) == pytest.approx(want, rel=1e-12)
    band = ref.band("PRL", 4.0)
    assert ref.centile("PRL", 4.0, band.low) == pytest.approx(0.10, abs=1e-9)
    assert ref.centile("PRL", 4.0, band.high) == pytest.approx(0.90, abs=1e-9)
    assert band.low < band.estimate < band.high


def test_classes_recovered_on_synthetic_cultures(tmp_path):
    ref_df, _ = synthetic_cultures(60, seed=11, class_probs=(0, 1, 0))
    ref = DecidualizationReference(version="synthetic-60").fit(time_courses(ref_df))
    ref.save(tmp_path / "ref.json")
    ref = DecidualizationReference.load(tmp_path / "ref.json")
    df, truth = synthetic_cultures(300, seed=12)
    calls = {c.culture: ref.classify(c).response_class for c in time_courses(df)}
    for cls in ("blunted", "normal", "excessive"):
        names = [k for k, v in truth.items() if v == cls]
        recall = np.mean([calls[k] == cls for k in names])
        # measured (seed 12): blunted 59/60 = 0.98, normal 143/170 = 0.84, excessive
        # 62/70 = 0.89. A 10th-90th centile band flags about 20 % of truly normal
        # cultures on one (marker, day); the median over 6 shrinks that, not to zero.
        floor = {"blunted": 0.95, "normal": 0.78, "excessive": 0.85}[cls]
        assert recall >= floor, (cls, recall)


def test_reference_needs_three_cultures_and_coverage():
    df, _ = synthetic_cultures(2, seed=1)
    with pytest.raises(ModelError, match="at least 3"):
        DecidualizationReference().fit(time_courses(df))
    ref = DecidualizationReference().fit(time_courses(synthetic_cultures(5, seed=2)[0]))
    other = time_courses(pd.DataFrame({"culture": ["X"] * 2, "marker": ["DIO2"] * 2,
                                       "day": [0, 4], "value": [1, 2]}))[0]
    with pytest.raises(ModelError, match="none of its markers"):
        ref.classify(other)


def test_plot_returns_figure_with_bands():
    ref = DecidualizationReference().fit(time_courses(synthetic_cultures(10, seed=4)[0]))
    culture = time_courses(synthetic_cultures(1, seed=5)[0])[0]
    fig = plot_time_course(culture, ref)
    assert len(fig.axes) == 2
    assert "(" in fig.axes[0].get_title()
    assert len(fig.axes[0].collections) == 1  # the band
