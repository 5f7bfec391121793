"""Stage 2 of the synthetic cohort: the clinic's women and their records (SYNTHETIC).

From the simulated population, women referred after >= 2 losses (ESHRE 2022)
and controls with <= 1 loss are sampled; each gets an obstetric history cut at
the referral, investigations, 1-3 biopsies, interventions and possibly a next
pregnancy. All draws come from one :class:`numpy.random.Generator`, in a fixed
order, so the same seed gives the same rows. Names with a leading underscore
are private to :mod:`decidua.synthetic`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from decidua.domain import (
    INVESTIGATION_KINDS,
    ConceptionMode,
    DecidualCall,
    Interpretation,
    InterventionKind,
    KaryotypeResult,
    Outcome,
)
from decidua.errors import InputError
from decidua.literature import (
    ESHRE_2022_RPL_MIN_LOSSES,
    PRISM_2019_DOSE,
    PRISM_2019_END_WEEKS,
    TEWARY_2020_CYCLES,
    TEWARY_2020_DOSE,
    TEWARY_2020_MIN_LOSSES,
)
from decidua.synthetic.params import (
    _DAYS_PER_YEAR,
    _OUTCOME_CODES,
    _POP_LOSS_CODES,
    AGE_ROUTE_ANEUPLOID_FRACTION,
    APS_ANTIBODY_EQUIVOCAL_ABOVE,
    APS_ANTIBODY_POSITIVE_ABOVE,
    APS_REPEAT_WEEKS,
    BIOCHEMICAL_SHARE_OF_LOSSES,
    ECTOPIC_PROBABILITY,
    FREE_T4_REFERENCE_PMOL_L,
    HBA1C_DIABETES_MMOL_MOL,
    HBA1C_HIGH_RISK_MMOL_MOL,
    LH_DAY_WEIGHTS,
    LH_DAYS,
    MOLAR_PROBABILITY,
    N_BIOPSY_PROBS_CONTROL,
    N_BIOPSY_PROBS_RPL,
    REFERRAL_WINDOW,
    TPO_POSITIVE_ABOVE_IU_ML,
    TSH_REFERENCE_MIU_L,
    CohortParams,
)
from decidua.synthetic.population import (
    _gestation_weeks,
    age_route_probability,
)
from decidua.synthetic.tables import (
    TABLE_COLUMNS,
)

_ANEUPLOIDIES = (
    # (karyotype template with {sex}, weight) — common findings in miscarriage
    # tissue (trisomy 16 most frequent); synthetic weights.
    ("47,{sex},+16", 0.28),
    ("47,{sex},+22", 0.12),
    ("47,{sex},+21", 0.08),
    ("47,{sex},+15", 0.08),
    ("47,{sex},+13", 0.05),
    ("47,{sex},+18", 0.05),
    ("45,X", 0.12),
    ("69,XX{y}", 0.12),
    ("92,XX{y}{y}", 0.05),
    ("48,{sex},+2,+16", 0.05),
)

_ETHNICITIES = (
    ("White British", 0.55),
    ("White other", 0.08),
    ("South Asian", 0.12),
    ("Black", 0.06),
    ("East Asian", 0.03),
    ("Mixed", 0.03),
    ("Other", 0.02),
    ("", 0.11),  # not recorded
)


#: Probability that an investigation is recorded, (rpl, control) — synthetic
#: assumption; gaps are deliberate so care rules meet "TSH not recorded".
RECORDING_PROBABILITY: dict[str, tuple[float, float]] = {
    "aps_panel": (0.85, 0.30),
    "anti_b2gp1": (0.70, 0.20),
    "tsh": (0.88, 0.50),
    "free_t4": (0.50, 0.30),  # given TSH recorded
    "tpo_antibodies": (0.75, 0.30),
    "hba1c": (0.60, 0.30),
    "full_blood_count": (0.70, 0.40),
    "uterine_imaging": (0.80, 0.50),
    "parental_karyotypes": (0.30, 0.02),
}

#: Prevalence of findings, (rpl, control) — synthetic assumptions of the order
#: reported in RPL clinics (APS a few %, thyroid autoimmunity ~10%, uterine
#: anomalies ~10-15%, balanced parental rearrangements ~2%).
PREVALENCE: dict[str, tuple[float, float]] = {
    "aps": (0.07, 0.01),
    "tpo_positive": (0.12, 0.09),
    "uterine_anomaly": (0.12, 0.05),
    "parental_rearrangement_female": (0.015, 0.002),
    "parental_rearrangement_male": (0.010, 0.002),
    "diabetes": (0.015, 0.01),
    "prediabetes": (0.06, 0.05),
}

_UTERINE_FINDINGS = (
    ("septate uterus", Interpretation.ABNORMAL),
    ("submucosal fibroid", Interpretation.ABNORMAL),
    ("bicornuate uterus", Interpretation.ABNORMAL),
    ("endometrial polyp", Interpretation.ABNORMAL),
    ("arcuate uterus (minor indentation)", Interpretation.EQUIVOCAL),
)
_REARRANGEMENTS = (
    "t(11;22)(q23;q11.2)",
    "rob(13;14)(q10;q10)",
    "t(2;7)(p13;q22)",
    "inv(6)(p21q23)",
)
_ASSISTED_MODES = (
    (ConceptionMode.OVULATION_INDUCTION, 0.30),
    (ConceptionMode.IUI, 0.10),
    (ConceptionMode.IVF, 0.30),
    (ConceptionMode.ICSI, 0.25),
    (ConceptionMode.ASSISTED_OTHER, 0.05),
)


def _pick(rng: np.random.Generator, options: Sequence[tuple[Any, float]]) -> Any:
    weights = np.array([w for _, w in options], dtype=float)
    i = int(rng.choice(len(options), p=weights / weights.sum()))
    return options[i][0]


def _days(d: dt.date, n: float) -> dt.date:
    return d + dt.timedelta(days=int(round(n)))


def _antibody_interpretation(value: float) -> Interpretation:
    if value > APS_ANTIBODY_POSITIVE_ABOVE:
        return Interpretation.ABNORMAL
    if value >= APS_ANTIBODY_EQUIVOCAL_ABOVE:
        return Interpretation.EQUIVOCAL
    return Interpretation.NORMAL


def _range_interpretation(value: float, low: float, high: float) -> Interpretation:
    return Interpretation.NORMAL if low <= value <= high else Interpretation.ABNORMAL


def _hba1c_interpretation(value: float) -> Interpretation:
    if value >= HBA1C_DIABETES_MMOL_MOL:
        return Interpretation.ABNORMAL
    if value >= HBA1C_HIGH_RISK_MMOL_MOL:
        return Interpretation.EQUIVOCAL
    return Interpretation.NORMAL


@dataclass(frozen=True)
class _Draw:
    """How a laboratory value is drawn (synthetic assumption).

    Uniform on ``[low, high]``; or, when ``median`` is given, log-normal with that
    median and log-scale SD ``sdlog``, clipped to ``[low, high]``.
    """

    low: float
    high: float
    median: float | None = None
    sdlog: float = 0.0

    def sample(self, rng: np.random.Generator) -> float:
        if self.median is None:
            return rng.uniform(self.low, self.high)
        return float(
            np.clip(np.exp(rng.normal(np.log(self.median), self.sdlog)), self.low, self.high)
        )


@dataclass(frozen=True)
class _LabTest:
    """A numeric laboratory test of the referral work-up.

    ``state`` names the woman's latent state that selects the draw (``thyroid``:
    hypo / hyper / none; ``tpo``: positive / negative; ``glycaemia``: diabetes /
    prediabetes / none); ``given`` is a test that must have been recorded first
    (free T4 is reported with a TSH). The recording probability is
    :data:`RECORDING_PROBABILITY` under the test's ``kind``.
    """

    kind: str
    state: str
    draws: Mapping[str, _Draw]
    decimals: int
    interpret: Callable[[float], Interpretation]
    given: str | None = None


def _tpo_interpretation(value: float) -> Interpretation:
    return Interpretation.ABNORMAL if value > TPO_POSITIVE_ABOVE_IU_ML else Interpretation.NORMAL


#: The numeric tests in the order they are drawn; the value distributions are
#: synthetic assumptions placed around the published reference ranges.
_LAB_TESTS: tuple[_LabTest, ...] = (
    _LabTest(
        "tsh",
        "thyroid",
        {"hypo": _Draw(4.2, 9.5), "hyper": _Draw(0.02, 0.3),
         "none": _Draw(0.45, 3.95, median=1.7, sdlog=0.4)},
        2,
        partial(_range_interpretation, low=TSH_REFERENCE_MIU_L[0], high=TSH_REFERENCE_MIU_L[1]),
    ),
    _LabTest(
        "free_t4",
        "thyroid",
        {"hypo": _Draw(10.0, 13.5), "hyper": _Draw(23.0, 35.0), "none": _Draw(12.5, 21.0)},
        1,
        partial(
            _range_interpretation,
            low=FREE_T4_REFERENCE_PMOL_L[0],
            high=FREE_T4_REFERENCE_PMOL_L[1],
        ),
        given="tsh",
    ),
    _LabTest(
        "tpo_antibodies",
        "tpo",
        {"positive": _Draw(40.0, 600.0), "negative": _Draw(1.0, 33.9, median=8.0, sdlog=0.6)},
        1,
        _tpo_interpretation,
    ),
    _LabTest(
        "hba1c",
        "glycaemia",
        {"diabetes": _Draw(48.0, 70.0), "prediabetes": _Draw(42.0, 47.4),
         "none": _Draw(28.0, 41.4)},
        0,
        _hba1c_interpretation,
    ),
)

#: Antiphospholipid panels in the order they are drawn: (recording key, tests).
#: The beta-2 glycoprotein I panel is recorded only with the first; a woman with
#: APS has every panel, on two dates >= 12 weeks apart.
_APS_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("aps_panel", ("lupus_anticoagulant", "anticardiolipin_igg", "anticardiolipin_igm")),
    ("anti_b2gp1", ("anti_b2gp1_igg", "anti_b2gp1_igm")),
)


def _aneuploid_karyotype(rng: np.random.Generator) -> str:
    template = _pick(rng, _ANEUPLOIDIES)
    male = rng.random() < 0.5
    return template.format(sex="XY" if male else "XX", y="Y" if male else "X")


def _conception_mode(rng: np.random.Generator, age: float) -> ConceptionMode:
    """Conception mode (synthetic assumption: ~5% assisted, ~13% from age 35)."""
    u = rng.random()
    p_assisted = 0.05 + (0.08 if age >= 35 else 0.0)
    if u < 0.02:
        return ConceptionMode.UNKNOWN
    if u < 0.02 + p_assisted:
        return _pick(rng, _ASSISTED_MODES)
    return ConceptionMode.SPONTANEOUS


def _choose_points(
    rng: np.random.Generator,
    eligible: np.ndarray,
    n: int,
    exclude: np.ndarray,
    what: str,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n`` women with an eligible cut point, and her cut point.

    Without ``weight``, women are equally likely and the cut point is a random
    eligible one. With ``weight`` (women x points), the cut is her latest
    eligible point (a referral after her most recent loss) and women are drawn
    with probability proportional to ``weight`` at that point.
    """
    has = eligible.any(axis=1)
    has[exclude] = False
    candidates = np.flatnonzero(has)
    if len(candidates) < n:
        raise InputError(
            f"the simulated population holds only {len(candidates)} women eligible as "
            f"{what}, fewer than the {n} requested; increase n_population"
        )
    if weight is None:
        keys = np.where(eligible[candidates], rng.random(eligible[candidates].shape), -1.0)
        cuts = np.argmax(keys, axis=1)
        p = None
    else:
        k = eligible.shape[1]
        cuts = k - 1 - np.argmax(eligible[candidates, ::-1], axis=1)
        w = weight[candidates, cuts].astype(float)
        p = w / w.sum()
    pick = np.sort(rng.choice(len(candidates), size=n, replace=False, p=p))
    return candidates[pick], cuts[pick]


class _ClinicBuilder:
    """Accumulates the clinic's rows woman by woman (all draws from one rng)."""

    def __init__(
        self,
        rng: np.random.Generator,
        params: CohortParams,
        sim: dict[str, np.ndarray],
        theta: np.ndarray,
        knots: np.ndarray,
    ) -> None:
        self.rng = rng
        self.params = params
        self.sim = sim
        self.theta = theta
        self.knots = knots
        self.anchor = dt.date.fromisoformat(params.anchor_date)
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_COLUMNS}

    # -- one woman ---------------------------------------------------------
    def add_woman(
        self, pid: str, woman: int, cut: int, group: str, trial_arm: str | None, scratch: bool
    ) -> None:
        rng, sim = self.rng, self.sim
        g = 0 if group == "rpl" else 1
        theta = float(self.theta[woman])
        window = (REFERRAL_WINDOW[1] - REFERRAL_WINDOW[0]).days
        referral = _days(REFERRAL_WINDOW[0], rng.integers(0, window + 1))
        age_ref = float(sim["end_age"][woman, cut]) + rng.uniform(0.15, 1.2)
        birth = _days(referral, -age_ref * _DAYS_PER_YEAR)

        self.rows["patients"].append(
            {
                "patient_id": pid,
                "year_of_birth": birth.year,
                "bmi": round(float(np.clip(np.exp(rng.normal(np.log(25.0), 0.18)), 17, 45)), 1),
                "ethnicity": _pick(rng, _ETHNICITIES),
                "study_group": group,
                **self._consents(),
            }
        )

        # Obstetric history up to the referral.
        n_loss = 0
        run = 0
        for j in range(cut + 1):
            code = int(sim["outcome"][woman, j])
            outcome = _OUTCOME_CODES[code]
            conception = _days(birth, sim["conc_age"][woman, j] * _DAYS_PER_YEAR)
            gw = float(sim["gest"][woman, j])
            end = _days(conception, (gw - 2.0) * 7.0)
            is_loss = outcome in (Outcome.MISCARRIAGE, Outcome.BIOCHEMICAL)
            n_loss += is_loss
            run = run + 1 if is_loss else (0 if outcome is Outcome.LIVE_BIRTH else run)
            route = list(_POP_LOSS_CODES)[int(sim["route"][woman, j])] if is_loss else "none"
            p_test = 0.5 if n_loss >= 3 else 0.2
            self._pregnancy(
                pid,
                j + 1,
                outcome,
                gw,
                _conception_mode(rng, float(sim["conc_age"][woman, j])),
                end,
                route,
                bool(sim["aneuploid"][woman, j]),
                p_test,
            )

        latent = self._investigations(pid, g, referral)
        arm_start, arm_end, last_event = self._biopsies(pid, g, theta, referral, trial_arm)
        if trial_arm is not None:
            active = trial_arm == "sitagliptin"
            kind = InterventionKind.SITAGLIPTIN if active else InterventionKind.PLACEBO
            dose = TEWARY_2020_DOSE if active else "matching placebo daily"
            self._intervention(pid, kind, arm_start, arm_end, dose, trial_arm)
        if scratch:
            last_event = _days(last_event, rng.integers(20, 40))
            self._intervention(pid, InterventionKind.ENDOMETRIAL_SCRATCH, last_event, last_event)
        self._next_pregnancy(pid, g, cut + 2, birth, theta, last_event, n_loss, latent["aps"])

        self.rows["patient_truth"].append(
            {
                "patient_id": pid,
                "study_group": group,
                "theta": round(theta, 5),
                "referral_date": referral.isoformat(),
                "age_at_referral": round(age_ref, 2),
                "losses_at_referral": n_loss,
                "consecutive_losses_at_referral": run,
                **latent,
            }
        )

    def _consents(self) -> dict[str, bool]:
        rng = self.rng
        research = bool(rng.random() < 0.95)
        return {
            "consent_research": research,
            "consent_biobank": bool(research and rng.random() < 0.88),
            "consent_contact": bool(rng.random() < 0.70),
        }

    # -- pregnancies -------------------------------------------------------
    def _pregnancy(
        self,
        pid: str,
        order: int,
        outcome: Outcome,
        gw: float,
        mode: ConceptionMode,
        outcome_date: dt.date | None,
        route: str,
        aneuploid: bool,
        p_test: float,
    ) -> None:
        rng = self.rng
        karyotype, detail = KaryotypeResult.NOT_TESTED, ""
        if outcome is Outcome.MISCARRIAGE and outcome_date is not None and rng.random() < p_test:
            if rng.random() < 0.08:
                karyotype = KaryotypeResult.FAILED
            elif aneuploid:
                karyotype, detail = KaryotypeResult.ABNORMAL, _aneuploid_karyotype(rng)
            else:
                karyotype = KaryotypeResult.NORMAL
            interp = {
                KaryotypeResult.FAILED: Interpretation.EQUIVOCAL,
                KaryotypeResult.ABNORMAL: Interpretation.ABNORMAL,
                KaryotypeResult.NORMAL: Interpretation.NORMAL,
            }[karyotype]
            text = {
                KaryotypeResult.FAILED: f"pregnancy {order}: no result (culture failed)",
                KaryotypeResult.ABNORMAL: f"pregnancy {order}: {detail}",
                KaryotypeResult.NORMAL: f"pregnancy {order}: no imbalance detected",
            }[karyotype]
            self._investigation(pid, "pregnancy_tissue_karyotype", outcome_date, None, interp, text)
        self.rows["pregnancies"].append(
            {
                "patient_id": pid,
                "order": order,
                "outcome": outcome.value,
                "gestation_weeks": gw,
                "conception": mode.value,
                "karyotype": karyotype.value,
                "karyotype_detail": detail,
                "outcome_date": outcome_date.isoformat() if outcome_date else "",
            }
        )
        self.rows["pregnancy_truth"].append(
            {"patient_id": pid, "order": order, "loss_route": route, "aneuploid": aneuploid}
        )

    def _next_pregnancy(
        self,
        pid: str,
        g: int,
        order: int,
        birth: dt.date,
        theta: float,
        after: dt.date,
        n_loss: int,
        aps: bool,
    ) -> None:
        """A next pregnancy after the biopsies, its outcome drawn from the two-route model."""
        rng = self.rng
        if rng.random() >= (0.65, 0.50)[g]:
            return
        conception = _days(after, 14 + rng.exponential(150.0))
        if _days(conception, 21) > self.anchor:
            return  # not yet known to the clinic at the anchor date
        age = (conception - birth).days / _DAYS_PER_YEAR
        u = rng.random()
        age_loss = bool(rng.random() < float(age_route_probability(age, self.knots)))
        dec_loss = bool(rng.random() < theta)
        if u < ECTOPIC_PROBABILITY:
            code = 3
        elif u < ECTOPIC_PROBABILITY + MOLAR_PROBABILITY:
            code = 4
        elif age_loss or dec_loss:
            code = 2 if rng.random() < BIOCHEMICAL_SHARE_OF_LOSSES else 1
        else:
            code = 0
        is_loss = code in (1, 2)
        route = ("age" if age_loss else "decidual") if is_loss else "none"
        aneuploid = is_loss and age_loss and rng.random() < AGE_ROUTE_ANEUPLOID_FRACTION
        gw = float(_gestation_weeks(np.array([code]), rng.beta(1.4, 5.0, 1), rng.random(1))[0])
        outcome = _OUTCOME_CODES[code]
        end: dt.date | None = _days(conception, (gw - 2.0) * 7.0)
        if end is not None and end > self.anchor:
            outcome, end = Outcome.ONGOING, None
            gw = round((self.anchor - conception).days / 7.0 + 2.0, 1)
        self._pregnancy(
            pid, order, outcome, gw, _conception_mode(rng, age), end, route, aneuploid, 0.6
        )
        # Progesterone for bleeding in early pregnancy after a previous loss (PRISM).
        if g == 0 and n_loss >= 1 and gw >= 6.0 and rng.random() < 0.3:
            start = _days(conception, 28)
            stop = _days(conception, (PRISM_2019_END_WEEKS - 2.0) * 7.0)
            if end is not None:
                stop = min(stop, end)
            self._intervention(
                pid,
                InterventionKind.PROGESTERONE,
                start,
                stop if stop <= self.anchor else None,
                PRISM_2019_DOSE,
            )
        # Aspirin + heparin for antiphospholipid syndrome (ESHRE 2022), from the
        # positive pregnancy test (~4 weeks) if the pregnancy was still going then.
        start = _days(conception, 14)
        if aps and (end is None or end >= start):
            stop = None if end is None else _days(end, 42 if outcome is Outcome.LIVE_BIRTH else 0)
            self._intervention(
                pid,
                InterventionKind.ASPIRIN_HEPARIN,
                start,
                stop if stop is not None and stop <= self.anchor else None,
                "aspirin 75 mg daily + enoxaparin 40 mg daily",
            )

    # -- investigations ----------------------------------------------------
    def _investigation(
        self,
        pid: str,
        kind: str,
        date: dt.date,
        value: float | None,
        interpretation: Interpretation,
        text: str = "",
    ) -> None:
        info = INVESTIGATION_KINDS[kind]
        self.rows["investigations"].append(
            {
                "patient_id": pid,
                "kind": kind,
                "date": date.isoformat(),
                "value": np.nan if value is None else value,
                "unit": (info.unit or "") if value is not None else "",
                "interpretation": interpretation.value,
                "text": text,
            }
        )

    def _antibody(self, positive: bool) -> float:
        rng = self.rng
        if positive:
            return round(float(rng.uniform(41.0, 120.0)), 1)
        if rng.random() < 0.03:
            return round(float(rng.uniform(20.0, 40.0)), 1)
        return round(float(np.clip(np.exp(rng.normal(np.log(4.0), 0.6)), 0.5, 19.9)), 1)

    def _aps_test(self, pid: str, kind: str, date: dt.date, positive: bool) -> None:
        """One antiphospholipid test: lupus anticoagulant is qualitative, the rest titres."""
        if kind == "lupus_anticoagulant":
            self._investigation(
                pid,
                kind,
                date,
                None,
                Interpretation.ABNORMAL if positive else Interpretation.NORMAL,
                "positive (dRVVT)" if positive else "negative",
            )
        else:
            v = self._antibody(positive)
            self._investigation(pid, kind, date, v, _antibody_interpretation(v))

    def _investigations(self, pid: str, g: int, referral: dt.date) -> dict[str, Any]:
        rng = self.rng

        def has(name: str) -> bool:
            return bool(rng.random() < PREVALENCE[name][g])

        def recorded(name: str) -> bool:
            return bool(rng.random() < RECORDING_PROBABILITY[name][g])

        aps, tpo = has("aps"), has("tpo_positive")
        u = rng.random()
        thyroid = "hypo" if u < (0.15 if tpo else 0.03) else ("hyper" if u > 0.99 else "none")
        anomaly = None
        if has("uterine_anomaly"):
            anomaly = _UTERINE_FINDINGS[int(rng.integers(len(_UTERINE_FINDINGS)))]
        rearr_f = has("parental_rearrangement_female")
        rearr_m = has("parental_rearrangement_male")
        glyc = "diabetes" if has("diabetes") else ("prediabetes" if has("prediabetes") else "none")
        blood = _days(referral, rng.integers(7, 45))

        # Antiphospholipid antibodies: persistent positives are repeated >= 12 weeks later.
        la_pos = acl_pos = b2_pos = False
        if aps:
            la_pos, acl_pos, b2_pos = (bool(x) for x in rng.random(3) < (0.5, 0.4, 0.35))
            la_pos = la_pos or not (acl_pos or b2_pos)
        positive = {"lupus_anticoagulant": la_pos, "anticardiolipin_igg": acl_pos,
                    "anti_b2gp1_igg": b2_pos}
        repeat = _days(blood, APS_REPEAT_WEEKS * 7 + rng.integers(0, 21))
        for panel, kinds in _APS_PANELS:
            if not (aps or recorded(panel)):
                break
            for date in (blood, repeat) if aps else (blood,):
                for kind in kinds:
                    self._aps_test(pid, kind, date, positive.get(kind, False))

        # Numeric laboratory tests, each drawn from the woman's latent state.
        state = {"thyroid": thyroid, "tpo": "positive" if tpo else "negative", "glycaemia": glyc}
        done: set[str] = set()
        for test in _LAB_TESTS:
            if (test.given is not None and test.given not in done) or not recorded(test.kind):
                continue
            v = round(float(test.draws[state[test.state]].sample(rng)), test.decimals)
            self._investigation(pid, test.kind, blood, v, test.interpret(v))
            done.add(test.kind)
        if recorded("full_blood_count"):
            anaemia = rng.random() < 0.05
            self._investigation(
                pid,
                "full_blood_count",
                blood,
                None,
                Interpretation.ABNORMAL if anaemia else Interpretation.NORMAL,
                "haemoglobin below reference (anaemia)" if anaemia else "within reference ranges",
            )
        if anomaly is not None or recorded("uterine_imaging"):
            finding, interp = anomaly or ("normal uterine cavity", Interpretation.NORMAL)
            self._investigation(
                pid,
                "uterine_imaging",
                _days(referral, rng.integers(14, 90)),
                None,
                interp,
                f"3D transvaginal ultrasound: {finding}",
            )
        if recorded("parental_karyotypes"):
            date = _days(referral, rng.integers(14, 60))
            for kind, sex, rearr in (
                ("parental_karyotype_female", "XX", rearr_f),
                ("parental_karyotype_male", "XY", rearr_m),
            ):
                text = f"46,{sex},{rng.choice(_REARRANGEMENTS)}" if rearr else f"46,{sex}"
                interp = Interpretation.ABNORMAL if rearr else Interpretation.NORMAL
                self._investigation(pid, kind, date, None, interp, text)
        return {
            "aps": aps,
            "tpo_positive": tpo,
            "thyroid_dysfunction": thyroid,
            "uterine_anomaly": anomaly[0] if anomaly else "",
            "parental_rearrangement": rearr_f or rearr_m,
        }

    # -- biopsies and interventions ---------------------------------------
    def _biopsies(
        self, pid: str, g: int, theta: float, referral: dt.date, trial_arm: str | None
    ) -> tuple[dt.date, dt.date, dt.date]:
        """1-3 biopsies in different cycles; returns (trial start, trial end, last event)."""
        rng, p = self.rng, self.params
        n = int(rng.choice(3, p=(N_BIOPSY_PROBS_RPL, N_BIOPSY_PROBS_CONTROL)[g])) + 1
        if trial_arm is not None:
            n = max(n, 2)
        cycle_start = _days(referral, rng.integers(20, 100))
        trial_start = trial_end = referral
        last = referral
        for b in range(1, n + 1):
            cycle_len = int(rng.integers(26, 33))
            lh = _days(cycle_start, rng.integers(12, 17))
            day = int(rng.choice(LH_DAYS, p=LH_DAY_WEIGHTS / LH_DAY_WEIGHTS.sum()))
            biopsy = _days(lh, day)
            true_day = round(day + float(rng.normal(0.0, p.lh_day_sd)), 2)
            defective = bool(rng.random() < theta)
            u = rng.random()
            abnormal = u < p.call_sensitivity if defective else u < 1.0 - p.call_specificity
            on_treatment = trial_arm is not None and b == 2
            bid = f"{pid}-B{b}"
            self.rows["biopsies"].append(
                {
                    "biopsy_id": bid,
                    "patient_id": pid,
                    "cycle_number": b,
                    "lh_surge_date": lh.isoformat(),
                    "biopsy_date": biopsy.isoformat(),
                    "on_treatment": on_treatment,
                    "clinic_call": (
                        DecidualCall.ABNORMAL if abnormal else DecidualCall.NORMAL
                    ).value,
                }
            )
            self.rows["truth"].append(
                {
                    "biopsy_id": bid,
                    "patient_id": pid,
                    "theta": round(theta, 5),
                    "defective_cycle": defective,
                    "true_lh_day": true_day,
                }
            )
            last = biopsy
            if trial_arm is not None and b == 1:
                # Treatment from the next menses for three cycles (Tewary 2020);
                # the second biopsy falls in the third treated cycle.
                trial_start = _days(cycle_start, cycle_len)
                trial_end = _days(trial_start, TEWARY_2020_CYCLES * 30 - 1)
                cycle_start = _days(trial_start, 56)
            elif trial_arm is not None and b == 2:
                cycle_start = _days(trial_end, rng.integers(1, 29))
            else:
                cycle_start = _days(cycle_start, cycle_len * int(rng.integers(1, 5)))
        if trial_arm is not None:
            last = max(last, trial_end)
        return trial_start, trial_end, last

    def _intervention(
        self,
        pid: str,
        kind: InterventionKind,
        start: dt.date,
        end: dt.date | None,
        dose: str = "",
        trial_arm: str | None = None,
    ) -> None:
        self.rows["interventions"].append(
            {
                "patient_id": pid,
                "kind": kind.value,
                "start_date": start.isoformat(),
                "end_date": end.isoformat() if end else "",
                "dose": dose,
                "trial_arm": trial_arm or "",
            }
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        sort_keys = {
            "patients": ["patient_id"],
            "pregnancies": ["patient_id", "order"],
            "investigations": ["patient_id", "date", "kind"],
            "biopsies": ["patient_id", "cycle_number"],
            "interventions": ["patient_id", "start_date", "kind"],
            "truth": ["patient_id", "biopsy_id"],
            "patient_truth": ["patient_id"],
            "pregnancy_truth": ["patient_id", "order"],
        }
        for name, cols in TABLE_COLUMNS.items():
            df = pd.DataFrame(self.rows[name], columns=list(cols))
            out[name] = df.sort_values(sort_keys[name], kind="stable").reset_index(drop=True)
        return out


def _sample_clinic(
    rng: np.random.Generator,
    params: CohortParams,
    sim: dict[str, np.ndarray],
    theta: np.ndarray,
    knots: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """Sample the clinic's women from a simulated population and build their tables.

    Parameters
    ----------
    rng
        The clinic stage's generator (every draw of this stage comes from it).
    params
        Parameters of the run (group sizes, trial and scratch sizes, call accuracy).
    sim
        The calibrated population, as returned by :func:`~decidua.synthetic.population._calibrate`.
    theta
        Per-woman defective-cycle frequency of the population.
    knots
        The calibrated age-route knots (for next pregnancies).

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables of :data:`~decidua.synthetic.tables.TABLE_COLUMNS`, sorted.

    Raises
    ------
    InputError
        If the population holds too few eligible women for the sample asked.
    """
    exists = sim["exists"]
    is_loss = exists & np.isin(sim["outcome"], (1, 2))
    cum_loss = np.cumsum(is_loss, axis=1)
    end_age = np.nan_to_num(sim["end_age"], nan=-1.0)
    rpl_ok = is_loss & (cum_loss >= ESHRE_2022_RPL_MIN_LOSSES) & (end_age >= 20) & (end_age <= 43.5)
    ctl_ok = exists & (cum_loss <= 1) & (end_age >= 22) & (end_age <= 42)
    none = np.zeros(len(exists), dtype=bool)
    # Women with more losses are more likely to reach an implantation clinic
    # (synthetic assumption: referral odds proportional to losses beyond the first).
    rpl_w, rpl_cut = _choose_points(
        rng, rpl_ok, params.n_rpl, none, "RPL referrals", weight=cum_loss - 1
    )
    taken = none.copy()
    taken[rpl_w] = True
    ctl_w, ctl_cut = _choose_points(rng, ctl_ok, params.n_controls, taken, "controls")

    women = np.concatenate([rpl_w, ctl_w])
    cuts = np.concatenate([rpl_cut, ctl_cut])
    groups = ["rpl"] * len(rpl_w) + ["control"] * len(ctl_w)
    ids = [f"DEC-{i + 1:04d}" for i in rng.permutation(len(women))]

    # Trial (>= 3 losses at referral) and scratch allocations among RPL women.
    losses_at_cut = cum_loss[rpl_w, rpl_cut]
    trial_pool = np.flatnonzero(losses_at_cut >= TEWARY_2020_MIN_LOSSES)
    n_trial = min(params.n_trial, len(trial_pool))
    trial_idx = rng.choice(trial_pool, size=n_trial, replace=False)
    arms = np.where(rng.permutation(n_trial) < n_trial // 2, "sitagliptin", "placebo")
    trial_arm: dict[int, str] = {int(i): str(a) for i, a in zip(trial_idx, arms, strict=True)}
    rest = np.setdiff1d(np.arange(len(rpl_w)), trial_idx)
    scratch = set(rng.choice(rest, size=min(params.n_scratch, len(rest)), replace=False).tolist())

    builder = _ClinicBuilder(rng, params, sim, theta, knots)
    for k, (w, cut, group) in enumerate(zip(women, cuts, groups, strict=True)):
        builder.add_woman(ids[k], int(w), int(cut), group, trial_arm.get(k), k in scratch)
    return builder.frames()
