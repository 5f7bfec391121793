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
)
from decidua.errors import InputError, ModelError

#: Kinds of step a rule can produce, in display order.
STEP_KINDS = ("care", "investigation", "treatment", "research", "not_recommended")

#: Facts a rule condition may use (see the header of rules.yaml).
FACTS = (
    "losses",
    "consecutive_losses",
    "live_births",
    "aps_positive",
    "aps_unconfirmed",
    "thyroid_abnormal",
    "pregnant",
    "early_pregnancy_bleeding",
    "research_biopsy_available",
)

_APS_KINDS = tuple(k for k, v in INVESTIGATION_KINDS.items() if v.group == "aps")
_THYROID_KINDS = ("tsh", "tpo_antibodies")
#: Antiphospholipid antibodies count only when persistent: positive on two occasions at
#: least 12 weeks apart (revised Sapporo/Sydney criteria, Miyakis et al., J Thromb Haemost
#: 2006;4:295-306; adopted by ESHRE 2022).
APS_PERSISTENCE_DAYS = 84
_OPERATORS = ("ge", "le", "eq")


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    id: str
    kind: str
    when: dict[str, Any]
    step: str
    source: str
    line: str
    investigations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleSet:
    """A validated, versioned rule table.

    Use :meth:`load` (a path) or :func:`default_rules` (the shipped ``rules.yaml``).
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
            for fact, cond in when.items():
                if fact not in FACTS:
                    problems.append(f"{where}: unknown fact {fact!r}")
                if isinstance(cond, dict) and (len(cond) != 1 or next(iter(cond))
                                               not in _OPERATORS):
                    problems.append(f"{where}: condition on {fact!r} must use one of "
                                    f"{', '.join(_OPERATORS)}")
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
                              investigations={str(k): str(v) for k, v in inv.items()}))
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
    """The shipped rule table (``decidua/pathway/rules.yaml``), cached."""
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
    """One recommended (or explicitly not recommended) step."""

    id: str
    kind: str
    text: str
    status: str  # "recommended", "done", "not_recommended", "offer"
    source: str
    citation: str
    line: str
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text, "status": self.status,
                "source": self.source, "citation": self.citation, "line": self.line,
                "missing": list(self.missing)}


@dataclass(frozen=True)
class PathwayResult:
    """Output of :func:`next_steps`."""

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
    :data:`APS_PERSISTENCE_DAYS` apart; a single positive, or positives closer
    together, is ``"unconfirmed"`` (repeat the test). The latest result of an
    antibody decides whether it is still positive.
    """
    tested = False
    unconfirmed = False
    for kind in _APS_KINDS:
        results = sorted(
            (i for i in record.investigations if i.kind == kind and i.date is not None),
            key=lambda i: i.date,
        )
        if not results:
            continue
        tested = True
        if results[-1].interpretation is not Interpretation.ABNORMAL:
            continue
        positive_dates = [i.date for i in results if i.interpretation is Interpretation.ABNORMAL]
        if (positive_dates[-1] - positive_dates[0]).days >= APS_PERSISTENCE_DAYS:
            return "persistent"
        unconfirmed = True
    if unconfirmed:
        return "unconfirmed"
    return "negative" if tested else None


def compute_facts(record: PatientRecord, *, on: dt.date | None = None,
                  pregnant: bool = False, early_pregnancy_bleeding: bool = False,
                  settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts the rules can test, computed from the record and call context."""
    settings = settings or {}
    pregs = [p for p in record.pregnancies
             if on is None or p.outcome_date is None or p.outcome_date < on]
    losses = sum(p.is_loss for p in pregs)
    ongoing = any(p.outcome is Outcome.ONGOING for p in record.pregnancies)
    aps = aps_status(record)
    thyroid = _any_abnormal(record, _THYROID_KINDS)
    return {
        "losses": losses,
        "consecutive_losses": record.consecutive_losses(before=on),
        "live_births": sum(p.outcome is Outcome.LIVE_BIRTH for p in pregs),
        "aps_positive": aps == "persistent",
        "aps_unconfirmed": aps == "unconfirmed",
        "thyroid_abnormal": bool(thyroid),
        "pregnant": bool(pregnant or early_pregnancy_bleeding or ongoing),
        "early_pregnancy_bleeding": bool(early_pregnancy_bleeding),
        "research_biopsy_available": bool(settings.get("research_biopsy_available", False)),
    }


def _holds(cond: Any, value: Any) -> bool:
    if isinstance(cond, dict):
        op, target = next(iter(cond.items()))
        if op == "ge":
            return value >= target
        if op == "le":
            return value <= target
        return value == target
    return value == cond


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
    research_biopsy_available
        The clinic runs a research pre-pregnancy biopsy programme; ``None`` uses the rule
        file's setting.
    rules
        Rule table; default the shipped ``rules.yaml``.

    Returns
    -------
    PathwayResult
        Steps in rule-table order grouped by kind, and ``missing`` messages such as
        ``"TSH not recorded"``.
    """
    rs = rules if rules is not None else default_rules()
    settings = dict(rs.settings)
    if research_biopsy_available is not None:
        settings["research_biopsy_available"] = research_biopsy_available
    facts = compute_facts(record, on=on, pregnant=pregnant,
                          early_pregnancy_bleeding=early_pregnancy_bleeding, settings=settings)
    steps: list[Step] = []
    missing: list[str] = []
    for rule in rs.rules:
        if not all(_holds(c, facts[f]) for f, c in rule.when.items()):
            continue
        rule_missing = tuple(f"{name} not recorded" for code, name in rule.investigations.items()
                             if not _recorded(record, code))
        if rule.kind == "investigation":
            status = "recommended" if rule_missing else "done"
        elif rule.kind == "not_recommended":
            status = "not_recommended"
        elif rule.kind == "research":
            status = "offer"
        else:
            status = "recommended"
        for m in rule_missing:
            if m not in missing:
                missing.append(m)
        steps.append(Step(id=rule.id, kind=rule.kind, text=rule.step, status=status,
                          source=rule.source, citation=rs.sources[rule.source],
                          line=rule.line, missing=rule_missing))
    steps.sort(key=lambda s: STEP_KINDS.index(s.kind))
    return PathwayResult(
        patient_id=record.patient_id,
        losses=facts["losses"],
        consecutive_losses=facts["consecutive_losses"],
        rpl=facts["losses"] >= 2,
        stage=_stage(facts["losses"]),
        steps=tuple(steps),
        missing=tuple(missing),
        facts=facts,
        rules_version=rs.version,
    )
