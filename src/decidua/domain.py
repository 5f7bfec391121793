"""Clinical vocabulary and plain patient records shared by every layer.

This module is pure: no database, web or CLI imports. The store maps its rows
to these records (``decidua.store.records``); the risk engine and the
care-pathway rules read them. Derived facts (age at a date, consecutive losses
before a date, LH+ day) are computed here, never stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """Outcome of a pregnancy."""

    LIVE_BIRTH = "live_birth"
    MISCARRIAGE = "miscarriage"
    BIOCHEMICAL = "biochemical"
    ECTOPIC = "ectopic"
    MOLAR = "molar"
    TERMINATION = "termination"
    ONGOING = "ongoing"
    #: Fetal death at or after 24 completed weeks (UK definition; RCOG Green-top 17, 2023:
    #: miscarriage is a loss before 24 weeks). Not a pregnancy loss for RPL counting.
    STILLBIRTH = "stillbirth"


#: Outcomes counted as a pregnancy loss for recurrent pregnancy loss.
#: ESHRE guideline "Recurrent pregnancy loss" (2022 update), recommendation on
#: definitions: biochemical losses count, ectopic and molar pregnancies do not; a
#: stillbirth (>= 24 weeks) is not a pregnancy loss in that sense either.
LOSS_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.MISCARRIAGE, Outcome.BIOCHEMICAL})

#: Completed weeks before which a live birth is preterm (WHO definition).
PRETERM_BEFORE_WEEKS = 37.0

#: Outcomes that end a run of consecutive losses (a pregnancy that reached birth).
RUN_BREAKING_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.LIVE_BIRTH})


class ConceptionMode(StrEnum):
    """How a pregnancy was conceived."""

    SPONTANEOUS = "spontaneous"
    OVULATION_INDUCTION = "ovulation_induction"
    IUI = "iui"
    IVF = "ivf"
    ICSI = "icsi"
    ASSISTED_OTHER = "assisted_other"
    UNKNOWN = "unknown"


class KaryotypeResult(StrEnum):
    """Result of a karyotype / genetic test of pregnancy tissue or a parent."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"
    FAILED = "failed"
    NOT_TESTED = "not_tested"


class Interpretation(StrEnum):
    """Clinical interpretation of an investigation result."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"
    EQUIVOCAL = "equivocal"


class DecidualCall(StrEnum):
    """The clinic's call on a biopsy's decidual reaction (input to the risk model)."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"


@dataclass(frozen=True)
class InvestigationKindInfo:
    """Metadata of one coded investigation kind."""

    code: str
    label: str
    group: str
    numeric: bool
    unit: str | None = None


_KINDS = [
    # Antiphospholipid antibodies (ESHRE 2022: test LA, aCL, anti-β2GPI).
    InvestigationKindInfo("lupus_anticoagulant", "Lupus anticoagulant", "aps", False),
    InvestigationKindInfo("anticardiolipin_igg", "Anticardiolipin IgG", "aps", True, "GPL/mL"),
    InvestigationKindInfo("anticardiolipin_igm", "Anticardiolipin IgM", "aps", True, "MPL/mL"),
    InvestigationKindInfo("anti_b2gp1_igg", "Anti-β2-glycoprotein I IgG", "aps", True, "U/mL"),
    InvestigationKindInfo("anti_b2gp1_igm", "Anti-β2-glycoprotein I IgM", "aps", True, "U/mL"),
    # Thyroid (ESHRE 2022: TSH and TPO antibodies).
    InvestigationKindInfo("tsh", "Thyroid-stimulating hormone", "thyroid", True, "mIU/L"),
    InvestigationKindInfo("free_t4", "Free thyroxine", "thyroid", True, "pmol/L"),
    InvestigationKindInfo(
        "tpo_antibodies", "Thyroid peroxidase antibodies", "thyroid", True, "IU/mL"
    ),
    # Metabolic / general.
    InvestigationKindInfo("hba1c", "HbA1c", "metabolic", True, "mmol/mol"),
    InvestigationKindInfo("full_blood_count", "Full blood count", "haematology", False),
    InvestigationKindInfo("prolactin", "Prolactin", "endocrine", True, "mIU/L"),
    InvestigationKindInfo("vitamin_d", "25-hydroxy vitamin D", "metabolic", True, "nmol/L"),
    InvestigationKindInfo(
        "inherited_thrombophilia", "Inherited thrombophilia screen", "haematology", False
    ),
    # Anatomy.
    InvestigationKindInfo("uterine_imaging", "Uterine imaging (ultrasound)", "anatomy", False),
    InvestigationKindInfo("hysteroscopy", "Hysteroscopy", "anatomy", False),
    # Genetics.
    InvestigationKindInfo("parental_karyotype_female", "Karyotype (woman)", "genetic", False),
    InvestigationKindInfo("parental_karyotype_male", "Karyotype (partner)", "genetic", False),
    InvestigationKindInfo(
        "pregnancy_tissue_karyotype", "Pregnancy-tissue genetics", "genetic", False
    ),
    # Research / not recommended outside research (ESHRE 2022).
    InvestigationKindInfo("uterine_nk_cells", "Uterine NK-cell density", "research", True, "%"),
]

#: The coded investigation vocabulary, keyed by code.
INVESTIGATION_KINDS: dict[str, InvestigationKindInfo] = {k.code: k for k in _KINDS}


class InterventionKind(StrEnum):
    """Interventions recorded (Decidua records them; it never recommends a drug)."""

    SITAGLIPTIN = "sitagliptin"
    ENDOMETRIAL_SCRATCH = "endometrial_scratch"
    PROGESTERONE = "progesterone"
    ASPIRIN = "aspirin"
    HEPARIN = "heparin"
    ASPIRIN_HEPARIN = "aspirin_heparin"
    PLACEBO = "placebo"
    OTHER = "other"


class AssayKind(StrEnum):
    """Assays whose results attach to a biopsy."""

    TIMING = "timing"
    CFU = "cfu"
    METHYLATION = "methylation"
    DECIDUALIZATION = "decidualization"
    UNK = "unk"
    QPCR = "qpcr"
    ELISA = "elisa"
    SENESCENCE = "senescence"


def is_elisa_result(kind: str, values: object) -> bool:
    """Whether a stored assay result is an ELISA concentration (``decidua import elisa``).

    Kind ``elisa`` since schema revision 0008; before it the importer stored kind
    ``decidualization`` with ``values["assay"] == "elisa"``, still read alike.

    Examples
    --------
    >>> is_elisa_result("elisa", {}), is_elisa_result("decidualization", {"assay": "elisa"})
    (True, True)
    >>> is_elisa_result("decidualization", {"assay": "time_course"})
    False
    """
    if kind == AssayKind.ELISA:
        return True
    return (kind == AssayKind.DECIDUALIZATION and isinstance(values, dict)
            and values.get("assay") == "elisa")


class QCStatus(StrEnum):
    """Quality-control state of an assay result."""

    PENDING = "pending"
    PASS = "pass"
    FAIL = "fail"


class Role(StrEnum):
    """User roles."""

    ADMIN = "admin"
    CLINICIAN = "clinician"
    SCIENTIST = "scientist"
    RESEARCHER = "researcher"


def lh_day(lh_surge_date: dt.date, biopsy_date: dt.date) -> int:
    """Days from the LH surge to the biopsy (the "LH+ day").

    Parameters
    ----------
    lh_surge_date
        Date of the positive urinary LH test.
    biopsy_date
        Date of the endometrial biopsy.

    Returns
    -------
    int
        ``(biopsy_date - lh_surge_date).days``; LH+7 is the classic
        mid-secretory window.
    """
    return (biopsy_date - lh_surge_date).days


def age_at(year_of_birth: int, on: dt.date) -> float:
    """Approximate age in years on a date, knowing only the year of birth.

    Only the year of birth is stored (data minimisation), so the birthday is
    taken as 1 July: the error is at most half a year.
    """
    return (on - dt.date(year_of_birth, 7, 1)).days / 365.25


@dataclass(frozen=True)
class PregnancyRecord:
    """One pregnancy in a woman's history."""

    order: int
    outcome: Outcome
    gestation_weeks: float | None = None
    conception: ConceptionMode = ConceptionMode.UNKNOWN
    karyotype: KaryotypeResult = KaryotypeResult.NOT_TESTED
    karyotype_detail: str | None = None
    outcome_date: dt.date | None = None
    #: Fetal heart activity seen on ultrasound before the outcome (``None``: not known).
    #: The risk model scores a first-trimester loss after fetal heart activity apart from
    #: one before it (``decidua.risk``; docs/risk-model.md, "Gestation at loss").
    fetal_heart_activity: bool | None = None

    @property
    def is_loss(self) -> bool:
        return self.outcome in LOSS_OUTCOMES

    @property
    def preterm(self) -> bool | None:
        """A live birth before 37 completed weeks (derived, not stored); ``None`` when it
        is not a live birth or the gestation is not recorded."""
        if self.outcome is not Outcome.LIVE_BIRTH or self.gestation_weeks is None:
            return None
        return self.gestation_weeks < PRETERM_BEFORE_WEEKS


@dataclass(frozen=True)
class InvestigationRecord:
    """One investigation result (coded kind, value, interpretation, date)."""

    kind: str
    interpretation: Interpretation
    date: dt.date | None = None
    value: float | None = None
    unit: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class BiopsyRecord:
    """One endometrial biopsy and the cycle it was taken in."""

    biopsy_id: str
    biopsy_date: dt.date
    lh_surge_date: dt.date | None = None
    cycle_number: int | None = None
    on_treatment: bool = False
    clinic_call: DecidualCall | None = None
    #: Where ``clinic_call`` came from when the risk uses it: ``"computed"`` (Decidua's
    #: screening call) or ``"clinic"`` (typed clinic call); ``None``: unknown (scored
    #: with the computed call's accuracy prior).
    call_source: str | None = None

    @property
    def lh_day(self) -> int | None:
        if self.lh_surge_date is None:
            return None
        return lh_day(self.lh_surge_date, self.biopsy_date)


@dataclass(frozen=True)
class InterventionRecord:
    """One intervention course."""

    kind: InterventionKind
    start_date: dt.date
    end_date: dt.date | None = None
    dose: str | None = None
    trial_arm: str | None = None


@dataclass(frozen=True)
class PatientRecord:
    """Everything known about one woman, as plain data.

    Pregnancies are kept in ``order``; the derived facts below are computed.
    """

    patient_id: str
    year_of_birth: int
    bmi: float | None = None
    ethnicity: str | None = None
    pregnancies: tuple[PregnancyRecord, ...] = field(default_factory=tuple)
    investigations: tuple[InvestigationRecord, ...] = field(default_factory=tuple)
    biopsies: tuple[BiopsyRecord, ...] = field(default_factory=tuple)
    interventions: tuple[InterventionRecord, ...] = field(default_factory=tuple)

    def age_on(self, on: dt.date) -> float:
        """Age in years on ``on`` (see :func:`age_at`)."""
        return age_at(self.year_of_birth, on)

    @property
    def n_losses(self) -> int:
        """Total pregnancy losses (miscarriage + biochemical)."""
        return sum(p.is_loss for p in self.pregnancies)

    @property
    def n_live_births(self) -> int:
        return sum(p.outcome is Outcome.LIVE_BIRTH for p in self.pregnancies)

    def consecutive_losses(self, before: dt.date | None = None) -> int:
        """Losses since the last live birth, counting back from the latest pregnancy.

        Parameters
        ----------
        before
            Only pregnancies whose outcome date is before this date count
            (pregnancies without a date are kept). ``None`` uses all.

        Notes
        -----
        Ectopic, molar, terminated and ongoing pregnancies neither count nor
        break the run; a live birth breaks it.
        """
        run = 0
        for p in sorted(self.pregnancies, key=lambda p: p.order, reverse=True):
            if before is not None and p.outcome_date is not None and p.outcome_date >= before:
                continue
            if p.outcome in RUN_BREAKING_OUTCOMES:
                break
            if p.is_loss:
                run += 1
        return run

    def latest_investigation(self, kind: str) -> InvestigationRecord | None:
        """Most recent result of one investigation kind, or ``None`` if not recorded."""
        found = [i for i in self.investigations if i.kind == kind]
        if not found:
            return None
        return max(found, key=lambda i: i.date or dt.date.min)
