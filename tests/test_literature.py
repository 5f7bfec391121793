"""Tests of :mod:`decidua.literature`: published figures defined once and used everywhere.

The values themselves are checked against the quotations in the module's comments
(Magnus et al., BMJ 2019; Quenby et al., Lancet 2021; ESHRE 2022; RCOG 2011); the
tests below check that the risk calibration and the synthetic generator use these
figures rather than copies, and the RPL definitions.
"""

from __future__ import annotations

import pytest

from decidua import literature as lit
from decidua.risk import calibration
from decidua.synthetic import cohort


def test_odds_ratios_lie_inside_their_intervals() -> None:
    for k, (est, lo, hi) in lit.MAGNUS_2019_ODDS_RATIOS.items():
        assert lo < est < hi, k
    est, lo, hi = lit.TEWARY_2020_CFU_RATE_RATIO
    assert lo < est < hi


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        lit.MAGNUS_2019_ODDS_RATIOS[1] = (1.0, 1.0, 1.0)  # type: ignore[index]
    with pytest.raises(TypeError):
        lit.QUENBY_2021_WOMEN_BY_LOSSES["1"] = 0.5  # type: ignore[index]


def test_risk_calibration_uses_the_published_figures() -> None:
    assert calibration.MAGNUS_AOR == tuple(
        (k, *v) for k, v in lit.MAGNUS_2019_ODDS_RATIOS.items()
    )
    for label, _first, _last, risk, _tol in calibration.MAGNUS_AGE_BANDS:
        assert risk == lit.MAGNUS_2019_RISK_BY_AGE[label]
    assert {b[0] for b in calibration.MAGNUS_AGE_BANDS} == set(lit.MAGNUS_2019_RISK_BY_AGE)
    assert calibration.MAGNUS_OVERALL == lit.MAGNUS_2019_OVERALL_RISK
    assert calibration.QUENBY_POOLED_RISK == lit.QUENBY_2021_POOLED_RISK
    assert dict(calibration.QUENBY_WOMEN_WITH_LOSSES) == dict(lit.QUENBY_2021_WOMEN_BY_LOSSES)


def test_synthetic_generator_uses_the_published_figures() -> None:
    assert cohort.MAGNUS_2019_ODDS_RATIOS is lit.MAGNUS_2019_ODDS_RATIOS
    published = {k: v for k, v in cohort.MAGNUS_2019_LOSS_BY_AGE.items() if k != "20-24"}
    assert published == dict(lit.MAGNUS_2019_RISK_BY_AGE)
    # The generator's own interpolation for 20-24 lies between its neighbours.
    assert lit.MAGNUS_2019_RISK_BY_AGE["25-29"] < cohort.MAGNUS_2019_LOSS_BY_AGE["20-24"]
    assert cohort.MAGNUS_2019_LOSS_BY_AGE["20-24"] < lit.MAGNUS_2019_RISK_BY_AGE["<20"]
    assert [b[0] for b in cohort.AGE_BANDS] == list(lit.MAGNUS_2019_AGE_BAND_LABELS)
    assert cohort.ESHRE_2022_RPL_MIN_LOSSES == lit.RPL_MIN_LOSSES == 2


@pytest.mark.parametrize(
    "losses, eshre, rcog", [(0, False, False), (1, False, False), (2, True, False),
                            (3, True, True), (7, True, True)]
)
def test_rpl_definitions(losses: int, eshre: bool, rcog: bool) -> None:
    assert lit.is_rpl(losses) is eshre
    assert lit.is_rpl(losses, definition="ESHRE") is eshre
    assert lit.is_rpl(losses, definition="RCOG") is rcog


def test_rpl_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="losses"):
        lit.is_rpl(-1)
    with pytest.raises(ValueError, match="definition"):
        lit.is_rpl(2, definition="WHO")  # type: ignore[arg-type]


def test_cfu_generator_uses_the_published_rate_ratio() -> None:
    from decidua.assays.clonogenicity import synthetic as cfu

    assert (cfu.TEWARY_RATE_RATIO, *cfu.TEWARY_RATE_RATIO_CI) == lit.TEWARY_2020_CFU_RATE_RATIO
