"""A small rule engine over the care-pathway table in ``rules.yaml``.

The rules (data, versioned, each with its citation) encode the graded model of care of
Coomarasamy et al., Lancet 2021 (after 1 / 2 / >= 3 losses) and the ESHRE 2022 guideline
on recurrent pregnancy loss. The engine computes a handful of facts from a
:class:`~decidua.domain.PatientRecord`, evaluates each rule's conditions and returns the
steps that apply, the guideline line behind each, and what is missing from the record.

Research use only; not a diagnostic device. Decidua lists what guidelines support; it does
not prescribe.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from decidua import RESEARCH_USE_LABEL
from decidua.domain import (
    INVESTIGATION_KINDS,
    Interpretation,
    KaryotypeResult,
    Outcome,
    PatientRecord,
    PregnancyRecord,
)
from decidua.errors import InputError, ModelError
from decidua.literature import MIYAKIS_2006_APS_PERSISTENCE_WEEKS, is_rpl

#: Kinds of step a rule can produce, in display order.
STEP_KINDS = ("care", "investigation", "treatment", "research", "not_recommended")

#: Strength of a rule as its guideline grades it. ``strong`` is shown as "offer",
#: ``conditional`` and ``good_practice_point`` as "consider"; a ``not_recommended`` rule is
#: shown as "not recommended" whatever its strength. ESHRE 2022 uses exactly these three
#: (strong / conditional / GPP); for RCOG Green-top 17 (grades A-D, GPP) we map the wording
#: of the recommendation ("should be offered" -> strong, "may be offered" / "should be
#: considered" -> conditional, [GPP] -> good practice point).
STRENGTHS = ("strong", "conditional", "good_practice_point")

#: Facts a rule condition may use (see the header of rules.yaml).
FACTS = (
    "losses",
    "consecutive_losses",
    "live_births",
    "first_trimester_losses",
    "second_trimester_losses",
    "later_losses",
    "aps_positive",
    "aps_unconfirmed",
    "aps_tested_negative",
    "thyroid_abnormal",
    "thyroid_status",
    "unbalanced_tissue_result",
    "tissue_result_available",
    "pregnant",
    "early_pregnancy_bleeding",
    "intrauterine_pregnancy_confirmed",
    "research_biopsy_available",
)

#: Gestation (completed weeks) from which a loss is a second-trimester loss, and from which
#: it is a stillbirth rather than a miscarriage (UK definitions used by RCOG Green-top 17,
#: 2023: miscarriage = loss before 24 weeks; first trimester = before 12+0 weeks).
SECOND_TRIMESTER_WEEKS = 12.0
STILLBIRTH_WEEKS = 24.0

#: TSH above which a raised TSH with normal free T4 is subclinical hypothyroidism, and below
#: which an abnormal TSH is low (mIU/L). 4.0 mIU/L: lower bound of "mild-moderate SCH (TSH
#: 4.0-10.0 mIU/l)" in the RCOG Scientific Impact Paper on subclinical hypothyroidism and
#: thyroid autoimmunity in subfertility and RPL (Dhillon-Smith et al., BJOG 2022, abstract).
#: 0.4 mIU/L: a usual laboratory lower limit (our assumption; use the lab's interpretation).
TSH_RAISED_MIU_L = 4.0
TSH_LOW_MIU_L = 0.4

#: Words in a pregnancy-tissue karyotype detail that mark an unbalanced structural
#: rearrangement (derivative chromosome, unbalanced translocation): RCOG 2023 then offers
#: parental karyotyping.
UNBALANCED_MARKERS = ("unbalanced", "der(")

_APS_KINDS = tuple(k for k, v in INVESTIGATION_KINDS.items() if v.group == "aps")
_THYROID_KINDS = ("tsh", "tpo_antibodies")
#: Antiphospholipid antibodies count only when persistent: positive on two occasions at
#: least 12 weeks apart (revised Sapporo/Sydney criteria, Miyakis et al., J Thromb Haemost
#: 2006;4:295-306; adopted by ESHRE 2022).
APS_PERSISTENCE_DAYS = MIYAKIS_2006_APS_PERSISTENCE_WEEKS * 7
_OPERATORS = ("ge", "le", "eq", "in")
_STATUS_OVERRIDES = ("plan",)


@dataclass(frozen=True)
class Rule:
    """One row of the rule table.

    Examples
    --------
    >>> rule = default_rules().rules[0]
    >>> rule.id, rule.action
    ('information_support', 'consider')
    """

    id: str
    kind: str
    when: dict[str, Any]
    step: str
    source: str
    line: str
    investigations: dict[str, str] = field(default_factory=dict)
    strength: str = "good_practice_point"
    recommendation: str = "to verify"
    when_any: tuple[dict[str, Any], ...] = ()
    status: str | None = None

    @property
    def action(self) -> str:
        """How the step is shown: "offer", "consider" or "not recommended"."""
        if self.kind == "not_recommended":
            return "not recommended"
        return "offer" if self.strength == "strong" else "consider"


def _check_conditions(when: dict[str, Any], where: str, problems: list[str]) -> None:
    for fact, cond in when.items():
        if fact not in FACTS:
            problems.append(f"{where}: unknown fact {fact!r}")
        if isinstance(cond, dict) and (len(cond) != 1 or next(iter(cond)) not in _OPERATORS):
            problems.append(f"{where}: condition on {fact!r} must use one of "
                            f"{', '.join(_OPERATORS)}")


@dataclass(frozen=True)
class RuleSet:
    """A validated, versioned rule table.

    Use :meth:`load` (a path) or :func:`default_rules` (the shipped ``rules.yaml``).

    Examples
    --------
    >>> rs = RuleSet.from_mapping({
    ...     "version": "t", "sources": {"s": {"citation": "C"}},
    ...     "rules": [{"id": "a", "kind": "care", "step": "x", "source": "s", "line": "l",
    ...                "strength": "strong"}]})
    >>> rs.version, rs.rules[0].action
    ('t', 'offer')
    """

    version: str
    rules: tuple[Rule, ...]
    sources: dict[str, str]
    settings: dict[str, Any]

    @classmethod
    def from_mapping(cls, data: Any, origin: str = "<rules>") -> RuleSet:
        """Validate a parsed YAML mapping; every problem is reported at once."""
        if not isinstance(data, dict):
            raise InputError("rule file must be a mapping", file=origin)
        problems: list[str] = []
        version = data.get("version")
        if not isinstance(version, str) or not version:
            problems.append("missing 'version'")
        sources_raw = data.get("sources") or {}
        if not isinstance(sources_raw, dict):
            problems.append("'sources' must be a mapping")
            sources_raw = {}
        rules_raw = data.get("rules") or []
        if not isinstance(rules_raw, list):
            problems.append("'rules' must be a list")
            rules_raw = []
        sources = {}
        for key, val in sources_raw.items():
            cit = val.get("citation") if isinstance(val, dict) else None
            if not isinstance(cit, str):
                problems.append(f"source {key!r} has no citation")
            else:
                sources[key] = " ".join(cit.split())
        settings = dict(data.get("settings") or {})
        rules = []
        seen = set()
        for i, raw in enumerate(rules_raw, start=1):
            where = f"rule {i} ({raw.get('id', '?') if isinstance(raw, dict) else '?'})"
            if not isinstance(raw, dict):
                problems.append(f"{where}: not a mapping")
                continue
            for req in ("id", "kind", "step", "source", "line"):
                if not isinstance(raw.get(req), str) or not raw.get(req):
                    problems.append(f"{where}: missing {req!r}")
            if raw.get("id") in seen:
                problems.append(f"{where}: duplicate id")
            seen.add(raw.get("id"))
            if raw.get("kind") not in STEP_KINDS:
                problems.append(f"{where}: kind must be one of {', '.join(STEP_KINDS)}")
            if raw.get("source") not in sources:
                problems.append(f"{where}: unknown source {raw.get('source')!r}")
            when = raw.get("when") or {}
            if not isinstance(when, dict):
                problems.append(f"{where}: 'when' must be a mapping")
                when = {}
            _check_conditions(when, where, problems)
            when_any = raw.get("when_any") or []
            if not isinstance(when_any, list) or not all(isinstance(w, dict) for w in when_any):
                problems.append(f"{where}: 'when_any' must be a list of condition mappings")
                when_any = []
            for alt in when_any:
                _check_conditions(alt, where, problems)
            strength = raw.get("strength", "good_practice_point")
            if strength not in STRENGTHS:
                problems.append(f"{where}: strength must be one of {', '.join(STRENGTHS)}")
            recommendation = raw.get("recommendation", "to verify")
            if not isinstance(recommendation, str) or not recommendation.strip():
                problems.append(f"{where}: 'recommendation' must be text (or 'to verify')")
                recommendation = "to verify"
            status = raw.get("status")
            if status is not None and status not in _STATUS_OVERRIDES:
                problems.append(f"{where}: status must be one of {', '.join(_STATUS_OVERRIDES)}")
            inv = raw.get("investigations") or {}
            if not isinstance(inv, dict):
                problems.append(f"{where}: 'investigations' must map codes to names")
                inv = {}
            for code in inv:
                if code not in INVESTIGATION_KINDS:
                    problems.append(f"{where}: unknown investigation code {code!r}")
            if problems and problems[-1].startswith(where):
                continue
            rules.append(Rule(id=raw["id"], kind=raw["kind"], when=dict(when),
                              step=" ".join(str(raw["step"]).split()), source=raw["source"],
                              line=" ".join(str(raw["line"]).split()),
                              investigations={str(k): str(v) for k, v in inv.items()},
                              strength=str(strength),
                              recommendation=" ".join(str(recommendation).split()),
                              when_any=tuple(dict(w) for w in when_any), status=status))
        if problems:
            raise InputError([InputError(p, file=origin).problems[0] for p in problems])
        return cls(version=str(version), rules=tuple(rules), sources=sources,
                   settings=settings)

    @classmethod
    def load(cls, path: str | Path) -> RuleSet:
        """Read and validate a rule file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read rule file: {exc}", file=str(path)) from exc
        return cls.from_yaml(text, origin=str(path))

    @classmethod
    def from_yaml(cls, text: str, origin: str = "<rules>") -> RuleSet:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"invalid YAML: {exc}", file=origin) from exc
        return cls.from_mapping(data, origin)


_DEFAULT: RuleSet | None = None


def default_rules() -> RuleSet:
    """The shipped rule table (``decidua/pathway/rules.yaml``), cached.

    Examples
    --------
    >>> default_rules().version
    '2026.12-1'
    """
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("decidua.pathway").joinpath("rules.yaml").read_text("utf-8")
        try:
            _DEFAULT = RuleSet.from_yaml(text, origin="decidua/pathway/rules.yaml")
        except InputError as exc:  # a broken shipped file is our bug, not the user's
            raise ModelError(f"shipped pathway rules are invalid: {exc}") from exc
    return _DEFAULT


@dataclass(frozen=True)
class Step:
    """One recommended (or explicitly not recommended) step.

    Examples
    --------
    >>> from decidua.domain import Outcome, PatientRecord, PregnancyRecord
    >>> rec = PatientRecord("P", 1990, pregnancies=(PregnancyRecord(1, Outcome.MISCARRIAGE),))
    >>> s = next_steps(rec).step("information_support")
    >>> s.text.startswith("Consider:"), s.strength
    (True, 'good_practice_point')
    """

    id: str
    kind: str
    text: str
    status: str  # "recommended", "done", "not_recommended", "offer", "plan"
    source: str
    citation: str
    line: str
    missing: tuple[str, ...] = ()
    strength: str = "good_practice_point"
    action: str = "consider"  # "offer", "consider" or "not recommended"
    recommendation: str = "to verify"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text, "status": self.status,
                "action": self.action, "strength": self.strength,
                "recommendation": self.recommendation,
                "source": self.source, "citation": self.citation, "line": self.line,
                "missing": list(self.missing)}


@dataclass(frozen=True)
class PathwayResult:
    """Output of :func:`next_steps`.

    Examples
    --------
    >>> from decidua.domain import Outcome, PatientRecord, PregnancyRecord
    >>> rec = PatientRecord("P", 1990, pregnancies=tuple(
    ...     PregnancyRecord(i, Outcome.MISCARRIAGE) for i in (1, 2)))
    >>> res = next_steps(rec)
    >>> res.rpl, res.stage
    (True, 'after two losses (RPL, ESHRE 2022)')
    """

    patient_id: str
    losses: int
    consecutive_losses: int
    rpl: bool
    stage: str
    steps: tuple[Step, ...]
    missing: tuple[str, ...]
    facts: dict[str, Any]
    rules_version: str
    label: str = RESEARCH_USE_LABEL

    def by_kind(self, kind: str) -> tuple[Step, ...]:
        """Steps of one kind."""
        return tuple(s for s in self.steps if s.kind == kind)

    def step(self, step_id: str) -> Step | None:
        """The step with this id, or ``None`` if the rule did not apply."""
        return next((s for s in self.steps if s.id == step_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"patient_id": self.patient_id, "losses": self.losses,
                "consecutive_losses": self.consecutive_losses, "rpl": self.rpl,
                "stage": self.stage, "steps": [s.to_dict() for s in self.steps],
                "missing": list(self.missing), "facts": dict(self.facts),
                "rules_version": self.rules_version, "label": self.label}


def _any_abnormal(record: PatientRecord, kinds: tuple[str, ...]) -> bool | None:
    found = [record.latest_investigation(k) for k in kinds]
    found = [f for f in found if f is not None]
    if not found:
        return None
    return any(f.interpretation is Interpretation.ABNORMAL for f in found)


def aps_status(record: PatientRecord) -> str | None:
    """Antiphospholipid antibody status: ``"persistent"``, ``"unconfirmed"``, ``"negative"``
    or ``None`` (not tested).

    ``"persistent"`` needs one antibody abnormal on two dates at least
    :data:`APS_PERSISTENCE_DAYS` apart; a single positive, positives closer together, or a
    positive **without a date** (persistence cannot be shown) is ``"unconfirmed"`` (repeat
    the test). The latest dated result of an antibody decides whether it is still positive;
    an undated positive is never overruled by a dated negative (its order is unknown).

    Examples
    --------
    >>> import datetime as dt
    >>> from decidua.domain import Interpretation, InvestigationRecord, PatientRecord
    >>> la = InvestigationRecord("lupus_anticoagulant", Interpretation.ABNORMAL)
    >>> aps_status(PatientRecord("P", 1990, investigations=(la,)))
    'unconfirmed'
    """
    tested = False
    unconfirmed = False
    for kind in _APS_KINDS:
        all_results = [i for i in record.investigations if i.kind == kind]
        if not all_results:
            continue
        tested = True
        if any(i.date is None and i.interpretation is Interpretation.ABNORMAL
               for i in all_results):
            unconfirmed = True
        results = sorted((i for i in all_results if i.date is not None), key=lambda i: i.date)
        if not results or results[-1].interpretation is not Interpretation.ABNORMAL:
            continue
        positive_dates = [i.date for i in results if i.interpretation is Interpretation.ABNORMAL]
        if (positive_dates[-1] - positive_dates[0]).days >= APS_PERSISTENCE_DAYS:
            return "persistent"
        unconfirmed = True
    if unconfirmed:
        return "unconfirmed"
    return "negative" if tested else None


#: The antibody groups that must all have been tested before APS counts as "tested
#: negative": lupus anticoagulant, anticardiolipin (IgG or IgM) and anti-beta2-glycoprotein I
#: (IgG or IgM), the panel ESHRE 2022 recommends.
APS_PANEL = (("lupus_anticoagulant",), ("anticardiolipin_igg", "anticardiolipin_igm"),
             ("anti_b2gp1_igg", "anti_b2gp1_igm"))


def aps_tested_negative(record: PatientRecord) -> bool:
    """True when every antibody group of :data:`APS_PANEL` was tested and none is positive.

    Examples
    --------
    >>> from decidua.domain import Interpretation, InvestigationRecord, PatientRecord
    >>> la = InvestigationRecord("lupus_anticoagulant", Interpretation.NORMAL)
    >>> aps_tested_negative(PatientRecord("P", 1990, investigations=(la,)))
    False
    """
    if aps_status(record) != "negative":
        return False
    return all(any(record.latest_investigation(k) is not None for k in group)
               for group in APS_PANEL)


def thyroid_status(record: PatientRecord) -> str | None:
    """Thyroid state from the latest TSH, free T4 and TPO antibody results.

    Returns one of ``"overt_hypothyroidism"`` (TSH raised, free T4 abnormal),
    ``"subclinical_hypothyroidism"`` (TSH raised, free T4 normal or not recorded),
    ``"tsh_low"``, ``"tsh_abnormal"`` (abnormal, direction unknown: no value recorded),
    ``"tpo_positive_euthyroid"`` (TSH normal, TPO antibodies positive), ``"normal"``, or
    ``None`` (no TSH or TPO result). "Raised" / "low" use the recorded value against
    :data:`TSH_RAISED_MIU_L` / :data:`TSH_LOW_MIU_L`; the laboratory's interpretation
    decides whether the TSH is abnormal at all.

    Examples
    --------
    >>> from decidua.domain import Interpretation, InvestigationRecord, PatientRecord
    >>> tsh = InvestigationRecord("tsh", Interpretation.ABNORMAL, value=6.1)
    >>> thyroid_status(PatientRecord("P", 1990, investigations=(tsh,)))
    'subclinical_hypothyroidism'
    """
    tsh = record.latest_investigation("tsh")
    ft4 = record.latest_investigation("free_t4")
    tpo = record.latest_investigation("tpo_antibodies")
    if tsh is None and tpo is None:
        return None
    if tsh is not None and tsh.interpretation is Interpretation.ABNORMAL:
        if tsh.value is None:
            return "tsh_abnormal"
        if tsh.value < TSH_LOW_MIU_L:
            return "tsh_low"
        if tsh.value >= TSH_RAISED_MIU_L:
            if ft4 is not None and ft4.interpretation is Interpretation.ABNORMAL:
                return "overt_hypothyroidism"
            return "subclinical_hypothyroidism"
        return "tsh_abnormal"
    if tpo is not None and tpo.interpretation is Interpretation.ABNORMAL:
        return "tpo_positive_euthyroid" if tsh is not None else "tpo_positive"
    return "normal"


def loss_trimester(p: PregnancyRecord) -> str | None:
    """``"first"``, ``"second"`` or ``"stillbirth"`` for a loss, ``None`` otherwise.

    A loss without a recorded gestation is counted as first-trimester (most are); a
    biochemical loss is first-trimester by definition.

    Examples
    --------
    >>> from decidua.domain import Outcome, PregnancyRecord
    >>> loss_trimester(PregnancyRecord(1, Outcome.MISCARRIAGE, gestation_weeks=15))
    'second'
    """
    if p.outcome == "stillbirth":  # Outcome.STILLBIRTH (string compare: older vocabularies)
        return "stillbirth"
    if not p.is_loss:
        return None
    g = p.gestation_weeks
    if g is None or p.outcome is Outcome.BIOCHEMICAL or g < SECOND_TRIMESTER_WEEKS:
        return "first"
    return "second" if g < STILLBIRTH_WEEKS else "stillbirth"


def _unbalanced(p: PregnancyRecord) -> bool:
    detail = (p.karyotype_detail or "").lower()
    return p.karyotype is KaryotypeResult.ABNORMAL and any(m in detail
                                                            for m in UNBALANCED_MARKERS)


def compute_facts(record: PatientRecord, *, on: dt.date | None = None,
                  pregnant: bool = False, early_pregnancy_bleeding: bool = False,
                  intrauterine_pregnancy_confirmed: bool = False,
                  settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts the rules can test, computed from the record and call context.

    Examples
    --------
    >>> from decidua.domain import Outcome, PatientRecord, PregnancyRecord
    >>> rec = PatientRecord("P", 1990, pregnancies=(
    ...     PregnancyRecord(1, Outcome.MISCARRIAGE, gestation_weeks=8),
    ...     PregnancyRecord(2, Outcome.MISCARRIAGE, gestation_weeks=17)))
    >>> f = compute_facts(rec)
    >>> f["losses"], f["first_trimester_losses"], f["second_trimester_losses"]
    (2, 1, 1)
    """
    settings = settings or {}
    pregs = [p for p in record.pregnancies
             if on is None or p.outcome_date is None or p.outcome_date < on]
    losses = sum(p.is_loss for p in pregs)
    trimesters = [loss_trimester(p) for p in pregs]
    ongoing = any(p.outcome is Outcome.ONGOING for p in record.pregnancies)
    aps = aps_status(record)
    thyroid = _any_abnormal(record, _THYROID_KINDS)
    return {
        "losses": losses,
        "consecutive_losses": record.consecutive_losses(before=on),
        "live_births": sum(p.outcome is Outcome.LIVE_BIRTH for p in pregs),
        "first_trimester_losses": trimesters.count("first"),
        "second_trimester_losses": trimesters.count("second"),
        "later_losses": trimesters.count("second") + trimesters.count("stillbirth"),
        "aps_positive": aps == "persistent",
        "aps_unconfirmed": aps == "unconfirmed",
        "aps_tested_negative": aps_tested_negative(record),
        "thyroid_abnormal": bool(thyroid),
        "thyroid_status": thyroid_status(record),
        "unbalanced_tissue_result": any(_unbalanced(p) for p in pregs),
        "tissue_result_available": any(p.karyotype in (KaryotypeResult.NORMAL,
                                                       KaryotypeResult.ABNORMAL)
                                       for p in pregs),
        "pregnant": bool(pregnant or early_pregnancy_bleeding or ongoing),
        "early_pregnancy_bleeding": bool(early_pregnancy_bleeding),
        "intrauterine_pregnancy_confirmed": bool(intrauterine_pregnancy_confirmed),
        "research_biopsy_available": bool(settings.get("research_biopsy_available", False)),
    }


def _holds(cond: Any, value: Any) -> bool:
    if isinstance(cond, dict):
        op, target = next(iter(cond.items()))
        if op == "in":
            return value in target
        if value is None:
            return False
        if op == "ge":
            return value >= target
        if op == "le":
            return value <= target
        return value == target
    return value == cond


def _applies(rule: Rule, facts: dict[str, Any]) -> bool:
    if not all(_holds(c, facts[f]) for f, c in rule.when.items()):
        return False
    if not rule.when_any:
        return True
    return any(all(_holds(c, facts[f]) for f, c in alt.items()) for alt in rule.when_any)


def _recorded(record: PatientRecord, code: str) -> bool:
    """Is an investigation recorded? Pregnancy-tissue genetics also counts when a pregnancy
    carries a karyotype result."""
    if record.latest_investigation(code) is not None:
        return True
    if code == "pregnancy_tissue_karyotype":
        return any(p.karyotype is not KaryotypeResult.NOT_TESTED for p in record.pregnancies)
    return False


def _stage(losses: int) -> str:
    if losses <= 0:
        return "no previous loss"
    if losses == 1:
        return "after one loss"
    if losses == 2:
        return "after two losses (RPL, ESHRE 2022)"
    return "after three or more losses"


def next_steps(
    record: PatientRecord,
    *,
    on: dt.date | None = None,
    pregnant: bool = False,
    early_pregnancy_bleeding: bool = False,
    intrauterine_pregnancy_confirmed: bool = False,
    research_biopsy_available: bool | None = None,
    rules: RuleSet | None = None,
) -> PathwayResult:
    """Next care steps for a woman, each with the guideline line that supports it.

    Parameters
    ----------
    record
        The woman's record (pregnancies and coded investigations are used).
    on
        Date of the assessment; pregnancies ending on or after it are ignored. ``None``
        uses the whole record.
    pregnant
        She is pregnant now (also true if an ongoing pregnancy is recorded).
    early_pregnancy_bleeding
        She is pregnant and bleeding now (the PRISM progesterone indication).
    intrauterine_pregnancy_confirmed
        A scan has confirmed an intrauterine pregnancy (NICE NG126 1.5.2 requires it before
        progesterone is offered; without it the step is "confirm by scan").
    research_biopsy_available
        The clinic runs a research pre-pregnancy biopsy programme; ``None`` uses the rule
        file's setting.
    rules
        Rule table; default the shipped ``rules.yaml``.

    Returns
    -------
    PathwayResult
        Steps in rule-table order grouped by kind, and ``missing`` messages such as
        ``"TSH not recorded"``. Each step's text starts with its action ("Offer",
        "Consider") from the rule's strength; ``not_recommended`` steps say so.

    Examples
    --------
    >>> from decidua.domain import Outcome, PatientRecord, PregnancyRecord
    >>> rec = PatientRecord("P", 1990, pregnancies=(PregnancyRecord(1, Outcome.MISCARRIAGE),))
    >>> res = next_steps(rec, early_pregnancy_bleeding=True,
    ...                  intrauterine_pregnancy_confirmed=True)
    >>> step = res.step("progesterone_bleeding")
    >>> step.action, step.strength
    ('offer', 'strong')
    >>> next_steps(rec, early_pregnancy_bleeding=True).step("progesterone_bleeding") is None
    True
    """
    rs = rules if rules is not None else default_rules()
    settings = dict(rs.settings)
    if research_biopsy_available is not None:
        settings["research_biopsy_available"] = research_biopsy_available
    facts = compute_facts(record, on=on, pregnant=pregnant,
                          early_pregnancy_bleeding=early_pregnancy_bleeding,
                          intrauterine_pregnancy_confirmed=intrauterine_pregnancy_confirmed,
                          settings=settings)
    steps: list[Step] = []
    missing: list[str] = []
    for rule in rs.rules:
        if not _applies(rule, facts):
            continue
        rule_missing = tuple(f"{name} not recorded" for code, name in rule.investigations.items()
                             if not _recorded(record, code))
        if rule.status == "plan":
            status, rule_missing = "plan", ()
        elif rule.kind == "investigation":
            status = "recommended" if (rule_missing or not rule.investigations) else "done"
        elif rule.kind == "not_recommended":
            status = "not_recommended"
        elif rule.kind == "research":
            status = "offer"
        else:
            status = "recommended"
        for m in rule_missing:
            if m not in missing:
                missing.append(m)
        action = rule.action
        text = (rule.step if rule.kind == "not_recommended"
                else f"{action.capitalize()}: {rule.step}")
        steps.append(Step(id=rule.id, kind=rule.kind, text=text, status=status,
                          source=rule.source, citation=rs.sources[rule.source],
                          line=rule.line, missing=rule_missing, strength=rule.strength,
                          action=action, recommendation=rule.recommendation))
    steps.sort(key=lambda s: STEP_KINDS.index(s.kind))
    return PathwayResult(
        patient_id=record.patient_id,
        losses=facts["losses"],
        consecutive_losses=facts["consecutive_losses"],
        rpl=is_rpl(facts["losses"]),  # ESHRE 2022: two or more losses
        stage=_stage(facts["losses"]),
        steps=tuple(steps),
        missing=tuple(missing),
        facts=facts,
        rules_version=rs.version,
    )
