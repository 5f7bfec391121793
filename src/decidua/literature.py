"""Published figures used in Decidua's code, each defined once with its source.

Every number here is quoted from a paper or guideline; the comment above it
names the source (authors, journal, year, volume:pages, and where in the
paper). Modules that need a published figure import it from here instead of
repeating it, so that a correction is made in one place. Choices of our own
(tolerances, interpolations, modelling assumptions) do **not** belong here:
they stay, named and explained, in the module that makes them.

The figures are plain Python values (read-only mappings for tables), so this
module imports nothing beyond the standard library.

Sources
-------
* Magnus MC, Wilcox AJ, Morken N-H, Weinberg CR, Haberg SE. Role of maternal
  age and pregnancy history in risk of miscarriage: prospective register based
  study. BMJ 2019;364:l869 (Norway, 421,201 pregnancies 2009-13).
* Quenby S, Gallos ID, Dhillon-Smith RK, et al. Miscarriage matters: the
  epidemiological, physical, psychological, and economic costs of early
  pregnancy loss. Lancet 2021;397:1658-67.
* ESHRE Guideline Group on RPL. ESHRE guideline: recurrent pregnancy loss: an
  update in 2022. Hum Reprod Open 2023;2023(1):hoad002.
* Royal College of Obstetricians and Gynaecologists. The investigation and
  treatment of couples with recurrent first-trimester and second-trimester
  miscarriage. Green-top Guideline No. 17, 2011.
* Tewary S, Lucas ES, Fujihara R, et al. Impact of sitagliptin on endometrial
  mesenchymal stem-like progenitor cells: a randomised, double-blind
  placebo-controlled feasibility trial. EBioMedicine 2020;51:102597.
* Coomarasamy A, Devall AJ, Cheed V, et al. A randomized trial of progesterone
  in women with bleeding in early pregnancy (PRISM). N Engl J Med
  2019;380:1815-24.
* Miyakis S, Lockshin MD, Atsumi T, et al. International consensus statement
  on an update of the classification criteria for definite antiphospholipid
  syndrome (APS). J Thromb Haemost 2006;4:295-306.

Examples
--------
>>> from decidua import literature as lit
>>> lit.MAGNUS_2019_ODDS_RATIOS[2]
(2.21, 2.03, 2.41)
>>> lit.is_rpl(2), lit.is_rpl(2, definition="RCOG")
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "EGERUP_2016_LOSS_BEFORE_BIRTH_IRR",
    "EGERUP_2016_LATE_LOSS_BEFORE_BIRTH_IRR",
    "KLING_2016_CUMULATIVE_DELIVERY",
    "KOLTE_2014_LIVE_BIRTH_RR",
    "KOLTE_2021_C_INDEX",
    "PYLYP_2018_ABNORMAL",
    "BRIGHAM_1999_SUCCESS",
    "DU_FOSSE_2022_AUC",
    "KOKI_2025_AUC_VIABLE",
    "KOKI_2025_CONCEIVED_12M",
    "KOKI_2025_CONCEIVED_SECOND_YEAR",
    "LUND_2012_LIVE_BIRTH_15Y",
    "LUND_2012_LIVE_BIRTH_5Y",
    "MARQUARD_2010_ABNORMAL",
    "NIKITINA_2020_ABNORMAL_PRIMARY",
    "NIKITINA_2020_ABNORMAL_SECONDARY",
    "NIKITINA_2020_SAME_PATTERN_OR",
    "STEPHENSON_2002_ABNORMAL",
    "ESHRE_2022_RPL_MIN_LOSSES",
    "MAGNUS_2019_AGE_BAND_LABELS",
    "MAGNUS_2019_ODDS_RATIOS",
    "MAGNUS_2019_OVERALL_RISK",
    "MAGNUS_2019_PREGNANCIES",
    "MAGNUS_2019_RISK_BY_AGE",
    "MIYAKIS_2006_APS_PERSISTENCE_WEEKS",
    "MIYAKIS_2006_APS_TITRE_ABOVE",
    "PRISM_2019_DOSE",
    "PRISM_2019_END_WEEKS",
    "QUENBY_2021_POOLED_RISK",
    "QUENBY_2021_WOMEN_BY_LOSSES",
    "RCOG_2011_RPL_MIN_LOSSES",
    "RPL_MIN_LOSSES",
    "TEWARY_2020_CFU_RATE_RATIO",
    "TUCKERMAN_2007_CONTROL_UNK_PCT",
    "TUCKERMAN_2007_LH_DAYS",
    "CASTELBAUM_1994_OUT_OF_PHASE_DAYS",
    "TUCKERMAN_2007_RPL_UNK_PCT",
    "TEWARY_2020_CYCLES",
    "TEWARY_2020_DOSE",
    "TEWARY_2020_MIN_LOSSES",
    "is_rpl",
]

# --------------------------------------------------------------------------- Magnus 2019

#: Magnus et al., BMJ 2019;364:l869: number of pregnancies in the Norwegian registers
#: studied (2009-13).
MAGNUS_2019_PREGNANCIES: Final = 421_201

#: Magnus et al., BMJ 2019: risk of miscarriage per pregnancy by maternal-age band
#: (proportion). 15.8% (< 20), 9.8% (25-29) and 53.6% (>= 45) are from the paper's results
#: text on Figure 2 (checked against a secondary quotation of that text); 11% (30-34), 17%
#: (35-39) and 32% (40-44) are the approximate values read from the same figure as quoted in
#: the project brief (BRIEF §1; not verified to the decimal). The 20-24 band has no numeric
#: figure available to us and is absent: a module that needs it must say how it fills it.
MAGNUS_2019_RISK_BY_AGE: Final[Mapping[str, float]] = MappingProxyType({
    "<20": 0.158,
    "25-29": 0.098,
    "30-34": 0.110,
    "35-39": 0.170,
    "40-44": 0.320,
    ">=45": 0.536,
})

#: The maternal-age bands of Magnus et al. 2019, youngest first (including the 20-24 band
#: that has no value in :data:`MAGNUS_2019_RISK_BY_AGE`).
MAGNUS_2019_AGE_BAND_LABELS: Final = ("<20", "20-24", "25-29", "30-34", "35-39", "40-44",
                                      ">=45")

#: Magnus et al., BMJ 2019, abstract: overall risk of miscarriage, 12.8% of pregnancies.
MAGNUS_2019_OVERALL_RISK: Final = 0.128

#: Magnus et al., BMJ 2019, abstract: age-adjusted odds ratios of miscarriage after 1, 2 and
#: 3 previous consecutive miscarriages versus none, as (estimate, 95% low, 95% high):
#: 1.54 (1.48-1.60), 2.21 (2.03-2.41), 3.97 (3.29-4.78).
MAGNUS_2019_ODDS_RATIOS: Final[Mapping[int, tuple[float, float, float]]] = MappingProxyType({
    1: (1.54, 1.48, 1.60),
    2: (2.21, 2.03, 2.41),
    3: (3.97, 3.29, 4.78),
})

# --------------------------------------------------------------------------- Quenby 2021

#: Quenby et al., Lancet 2021;397:1658-67 (summary): pooled risk of miscarriage, 15.3% of
#: recognised pregnancies.
QUENBY_2021_POOLED_RISK: Final = 0.153

#: Quenby et al., Lancet 2021 (summary): share of women who have been pregnant who had
#: exactly 1, exactly 2, and 3 or more miscarriages (10.8%, 1.9%, 0.7%).
QUENBY_2021_WOMEN_BY_LOSSES: Final[Mapping[str, float]] = MappingProxyType({
    "1": 0.108,
    "2": 0.019,
    ">=3": 0.007,
})

# --------------------------------------------------------------------------- RPL definition

#: Recurrent pregnancy loss: two or more pregnancy losses (biochemical included),
#: consecutive or not. ESHRE guideline "Recurrent pregnancy loss", 2022 update.
ESHRE_2022_RPL_MIN_LOSSES: Final = 2

#: The older UK definition: three or more consecutive losses. RCOG Green-top Guideline
#: No. 17, 2011.
RCOG_2011_RPL_MIN_LOSSES: Final = 3

#: The definition Decidua uses by default (ESHRE 2022).
RPL_MIN_LOSSES: Final = ESHRE_2022_RPL_MIN_LOSSES


def is_rpl(losses: int, definition: Literal["ESHRE", "RCOG"] = "ESHRE") -> bool:
    """Whether a number of pregnancy losses meets a published definition of RPL.

    Parameters
    ----------
    losses
        Number of pregnancy losses. For ``"ESHRE"`` (2022) count all losses, consecutive
        or not, biochemical included; for ``"RCOG"`` (2011) count consecutive losses.
    definition
        ``"ESHRE"`` (two or more, the default) or ``"RCOG"`` (three or more).

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``losses`` is negative or ``definition`` is unknown.

    Examples
    --------
    >>> is_rpl(1)
    False
    >>> [is_rpl(n, definition="RCOG") for n in (2, 3, 4)]
    [False, True, True]
    """
    if losses < 0:
        raise ValueError(f"number of losses must be >= 0, got {losses!r}")
    if definition == "ESHRE":
        return losses >= ESHRE_2022_RPL_MIN_LOSSES
    if definition == "RCOG":
        return losses >= RCOG_2011_RPL_MIN_LOSSES
    raise ValueError(f"unknown RPL definition {definition!r}; use 'ESHRE' or 'RCOG'")


# --------------------------------------------------------------------------- trials

#: Sitagliptin feasibility trial: 100 mg daily for three cycles in women with >= 3 losses.
#: Tewary et al., EBioMedicine 2020;51:102597 (38 women randomised).
TEWARY_2020_DOSE: Final = "100 mg daily"
#: See :data:`TEWARY_2020_DOSE`.
TEWARY_2020_CYCLES: Final = 3
#: See :data:`TEWARY_2020_DOSE`.
TEWARY_2020_MIN_LOSSES: Final = 3
#: Tewary et al. 2020: rate ratio of CFU counts, sitagliptin vs placebo, adjusted for
#: baseline CFU and age, as (estimate, 95% low, 95% high): 1.52 (1.32-1.75).
TEWARY_2020_CFU_RATE_RATIO: Final = (1.52, 1.32, 1.75)

#: Vaginal micronised progesterone for women with bleeding in early pregnancy and a
#: previous miscarriage, from bleeding until 16 weeks. Coomarasamy A et al., PRISM trial,
#: N Engl J Med 2019;380:1815-24.
PRISM_2019_DOSE: Final = "400 mg vaginal twice daily"
#: See :data:`PRISM_2019_DOSE` (weeks of gestation).
PRISM_2019_END_WEEKS: Final = 16.0

# --------------------------------------------------------------------------- uNK cells

#: uNK cells (CD56+) as % of endometrial stromal cells at LH+7 to LH+9, controls (n=10):
#: (mean, lowest, highest) = 6.2 % (range 2.2-13.9 %). Tuckerman E, Laird SM, Prakash A,
#: Li TC. Prognostic value of the measurement of uterine natural killer cells in the
#: endometrium of women with recurrent miscarriage. Hum Reprod 2007;22(8):2208-2213
#: (abstract; checked with the search tool, Dec 2026). Counting: CD56 immunocytochemistry,
#: % of stromal cells (Sheffield protocol).
TUCKERMAN_2007_CONTROL_UNK_PCT: Final = (6.2, 2.2, 13.9)
#: Tuckerman et al. 2007: women with unexplained recurrent miscarriage (n=87), same
#: protocol: mean 11.2 % (range 1.1-41.4 %).
TUCKERMAN_2007_RPL_UNK_PCT: Final = (11.2, 1.1, 41.4)
#: Tuckerman et al. 2007: biopsies obtained on days LH+7 to LH+9 (inclusive).
TUCKERMAN_2007_LH_DAYS: Final = (7, 9)

# --------------------------------------------------------------------------- timing

#: Days by which a biopsy's histologic date lags its chronological (urinary LH) date for
#: the endometrium to be called "out of phase": >= 3 days. Castelbaum AJ, Wheeler J,
#: Coutifaris CB, Mastroianni L, Lessey BA. Timing of the endometrial biopsy may be
#: critical for the accurate diagnosis of luteal-phase deficiency. Fertil Steril
#: 1994;61:443-447 (abstract, checked with the search tool, Dec 2026).
CASTELBAUM_1994_OUT_OF_PHASE_DAYS: Final = 3

# --------------------------------------------------------------------------- APS criteria

#: Antiphospholipid antibody titres above 40 GPL/MPL units (or the 99th percentile) count
#: towards antiphospholipid syndrome. Miyakis et al., J Thromb Haemost 2006;4:295-306
#: (revised Sapporo / Sydney criteria).
MIYAKIS_2006_APS_TITRE_ABOVE: Final = 40.0
#: Miyakis et al. 2006: antibodies must be persistent, positive on two occasions at least
#: 12 weeks apart.
MIYAKIS_2006_APS_PERSISTENCE_WEEKS: Final = 12

# --------------------------------------------------------------------------- RPL clinic series
# Appended for the recurrence-risk model v2 (issue 13). Checked with the search tool
# (Dec 2026) against the abstracts or a quotation of the table, as each comment says.

#: Brigham SA, Conlon C, Farquharson RG. A longitudinal study of pregnancy outcome following
#: idiopathic recurrent miscarriage. Hum Reprod 1999;14:2868-71 (325 women, Liverpool):
#: predicted chance of a successful next pregnancy by (previous miscarriages, age), from the
#: paper's prediction table as quoted by a clinic summary (miscarriagemd.com, 2020):
#: two losses 92 / 89 / 84 / 77 / 69% at 20 / 25 / 30 / 35 / 40; at 30 years 84 / 80 / 71%
#: with 2 / 3 / 5 losses. The three-loss values at 25 and 40 (86%, 64%) are our reading of
#: the same table, not found in a quotation (to verify). Overall 75% of next pregnancies
#: succeeded; Youssef et al. (Hum Reprod 2022) found the table over-optimistic.
BRIGHAM_1999_SUCCESS: Final[Mapping[tuple[int, int], float]] = MappingProxyType({
    (2, 20): 0.92, (2, 25): 0.89, (2, 30): 0.84, (2, 35): 0.77, (2, 40): 0.69,
    (3, 25): 0.86, (3, 30): 0.80, (3, 40): 0.64, (5, 30): 0.71,
})

#: Stephenson MD, Awartani KA, Robinson WP. Cytogenetic analysis of miscarriages from
#: couples with recurrent miscarriage: a case-control study. Hum Reprod 2002;17:446-51
#: (abstract): 195 of 420 karyotyped losses from 285 couples were abnormal (46%); euploid
#: losses were more frequent in women < 36 than in controls. (abnormal, karyotyped).
STEPHENSON_2002_ABNORMAL: Final = (195, 420)

#: Marquard K, Westphal LM, Milki AA, Lathi RB. Etiology of recurrent pregnancy loss in
#: women over the age of 35 years. Fertil Steril 2010;94:1473-7 (abstract): women >= 35 with
#: >= 3 first-trimester losses, 39 of 50 karyotyped losses abnormal (78%).
MARQUARD_2010_ABNORMAL: Final = (39, 50)

#: Nikitina TV et al. Karyotype evaluation of repeated abortions in primary and secondary
#: recurrent pregnancy loss. J Assist Reprod Genet 2020;37:517-25 (abstract, 563 losses):
#: abnormal in 43.9% of 335 losses in primary RPL and 52.6% of 228 in secondary RPL; the odds
#: ratio that a subsequent loss has the same karyotype pattern (normal / abnormal) as the
#: previous one was 6.98 (recurrence of aneuploidy within couples).
NIKITINA_2020_ABNORMAL_PRIMARY: Final = (0.439, 335)
#: See :data:`NIKITINA_2020_ABNORMAL_PRIMARY` (secondary RPL: a previous birth).
NIKITINA_2020_ABNORMAL_SECONDARY: Final = (0.526, 228)
#: See :data:`NIKITINA_2020_ABNORMAL_PRIMARY`.
NIKITINA_2020_SAME_PATTERN_OR: Final = 6.98

#: Pylyp LY, Spinenko LO, Verhoglyad NV, Zukin VD. Chromosomal abnormalities in products of
#: conception of first-trimester miscarriages detected by conventional cytogenetic
#: analysis: a review of 1000 cases. J Assist Reprod Genet 2018;35:265-71 (abstract;
#: sporadic and IVF miscarriages, a clinic series): 50.1% abnormal (authors' names from our
#: reading of the record: to verify). (share abnormal, karyotyped losses).
PYLYP_2018_ABNORMAL: Final = (0.501, 1000)

#: Lund M, Kamper-Jorgensen M, Nielsen HS, et al. Prognosis for live birth in women with
#: recurrent miscarriage: what is the best measure of success? Obstet Gynecol
#: 2012;119:37-43 (abstract; 987 women referred 1986-2008): 66.7% (95% CI 63.7-69.7) had a
#: live birth within 5 years of the first consultation, 71.1% (68.0-74.2) within 15 years.
LUND_2012_LIVE_BIRTH_5Y: Final = (0.667, 0.637, 0.697)
#: See :data:`LUND_2012_LIVE_BIRTH_5Y`.
LUND_2012_LIVE_BIRTH_15Y: Final = (0.711, 0.680, 0.742)

#: Koki C, Shields R, Sweetman R, et al. Fertility, time to pregnancy, and pregnancy
#: outcomes among women with recurrent miscarriages in the UK: a prospective observational
#: longitudinal study (1,201 couples, NHS miscarriage clinics), 2025 (PMC12268084): 53.4%
#: conceived within 12 months and 22.8% in the second year of follow-up (we read both as
#: shares of the whole cohort: to verify); prediction models' AUC 0.65 (viable pregnancy)
#: and 0.60 (pregnancy within 12 months).
KOKI_2025_CONCEIVED_12M: Final = 0.534
#: See :data:`KOKI_2025_CONCEIVED_12M`.
KOKI_2025_CONCEIVED_SECOND_YEAR: Final = 0.228
#: See :data:`KOKI_2025_CONCEIVED_12M`.
KOKI_2025_AUC_VIABLE: Final = 0.65

#: du Fosse NA et al., Hum Reprod Update 2022 / validation studies: AUC 0.57 for age and
#: number of losses, 0.63 with paternal factors (as quoted in the project brief and issue
#: 13; to verify).
DU_FOSSE_2022_AUC: Final = (0.57, 0.63)

#: Egerup P, Kolte AM, Larsen EC, Krog M, Nielsen HS, Christiansen OB. Recurrent pregnancy
#: loss: what is the impact of consecutive versus non-consecutive losses? Hum Reprod
#: 2016;31:2428-34 (abstract; 127 women with unexplained secondary RPL in three Danish IvIg
#: trials): each early loss *before* the last birth did not change the risk of an
#: unexplained loss in the next pregnancy, incidence rate ratio 0.88 (95% CI 0.70-1.11)
#: (a late loss before the last birth: 1.31, 0.62-2.77); only consecutive early losses
#: after the last birth had a statistically significant negative prognostic impact.
EGERUP_2016_LOSS_BEFORE_BIRTH_IRR: Final = (0.88, 0.70, 1.11)

#: Egerup et al. 2016 (as above, abstract): a late (second-trimester) loss before the last
#: birth, incidence rate ratio 1.31 (95% CI 0.62-2.77) for unexplained loss in the next
#: pregnancy; the authors summarise earlier work as "second trimester losses seem to
#: exhibit a stronger negative impact than early losses". The IRR of a late loss *after*
#: the last birth (significant) is cut off in the sources available to us.
EGERUP_2016_LATE_LOSS_BEFORE_BIRTH_IRR: Final = (1.31, 0.62, 2.77)

#: Kling C, Magez J, Hedderich J, von Otte S, Kabelitz D. Two-year outcome after recurrent
#: first trimester miscarriages: prognostic value of the past obstetric history. Arch
#: Gynecol Obstet 2016;293(5), doi:10.1007/s00404-015-4001-x (abstract; 228 couples,
#: maternal age 20-39, >= 3 primary first-trimester miscarriages): 2-year cumulative
#: pregnancy and delivery rates 206/228 (90.4%) and 174/228 (76.4%); "detection of an
#: embryonic heart beat in 2-3 of the first three miscarriages resulted in favourable
#: outcome (CPR: p < 0.02, CDR: p < 0.002)". No effect size in the abstract; the delivery
#: rate mixes fertility with loss.
KLING_2016_CUMULATIVE_DELIVERY: Final = (174, 228)

#: Kolte AM, van Oppenraaij RH, Quenby S, et al. Non-visualized pregnancy losses are
#: prognostically important for unexplained recurrent miscarriage. Hum Reprod
#: 2014;29:931-7 (abstract; 499 women, Copenhagen RM unit 2000-10): each non-visualised
#: loss gave a relative risk of live birth in the next pregnancy of 0.90 (95% CI
#: 0.83-0.97), the same as each additional clinical miscarriage.
KOLTE_2014_LIVE_BIRTH_RR: Final = (0.90, 0.83, 0.97)

#: Kolte AM, Westergaard D, Lidegaard O, Brunak S, Nielsen HS. Chance of live birth: a
#: nationwide, registry-based cohort study. Hum Reprod 2021;36:1065-73 (abstract; 1,285,230
#: Danish women, 2,722,441 pregnancies, 1977-2017): consecutive identical outcomes
#: (losses, live births or ectopic pregnancies) immediately before the next pregnancy had a
#: larger impact on the chance of live birth than the total number of any outcome; C-index
#: 0.60 for age and pregnancy history (positive predictive value 0.45).
KOLTE_2021_C_INDEX: Final = 0.60
