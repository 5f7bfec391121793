"""The per-biopsy screening call: a pure engine over the versioned table ``rules.yaml``.

Evidence in (plain records: the timing placement, CFU %, uNK %, marker ΔCq, each
with its centile, reference and QC state), a :class:`ScreeningCall` out: ``normal``,
``abnormal`` with the components that made it so, or ``uncallable`` with the
reasons. Never ``normal`` by default: a required component that could not be
assessed makes the call ``uncallable`` unless another component is abnormal.

Research use only; not a diagnostic device.

Examples
--------
>>> rules = default_rules()
>>> ev = BiopsyEvidence("B1", lh_day=8, timing=TimingEvidence(8.3, 7.1, 9.4, False))
>>> evaluate(ev, rules).call
'normal'
>>> evaluate(BiopsyEvidence("B2", lh_day=8), rules).call
'uncallable'
>>> late = BiopsyEvidence("B3", lh_day=9, timing=TimingEvidence(5.5, 4.6, 6.8, False))
>>> c = evaluate(late, rules)
>>> c.call, c.reasons[0]
('abnormal', 'timing: delayed (estimated LH+5.5, 95% 4.6-6.8, reported LH+9)')

Asynchronous expression says the timing estimate is unreliable (EndoTime), not that the
cycle is abnormal: the timing is uninterpretable, so without another abnormal component
the call is ``uncallable``:

>>> odd = BiopsyEvidence("B4", lh_day=8, timing=TimingEvidence(8.3, 7.1, 9.4, True))
>>> c = evaluate(odd, rules)
>>> c.call, c.reasons[0][:40]
('uncallable', 'timing: timing uninterpretable: asynchro')

Each tested component (timing, CFU, uNK, the decidual markers) gets an equal share of
the call's family-wise false-positive rate:

>>> rules.value("family_false_positive_rate"), rules.component_level
(0.2, 0.05)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from decidua.errors import InputError

#: The calls the engine gives.
CALLS = ("normal", "abnormal", "uncallable")
#: Components the engine knows, in display order.
COMPONENTS = ("timing", "asynchrony", "cfu", "unk", "markers")
#: Thresholds the engine needs from the table.
THRESHOLDS = ("timing_offset_days", "family_false_positive_rate", "unk_range")
#: What the asynchrony flag does: ``interpretability`` (rule 2026.12-2 on: an asynchronous
#: biopsy's timing is uninterpretable) or ``abnormal`` (rule 2026.12-1: abnormal by itself).
ASYNCHRONY_ROLES = ("interpretability", "abnormal")
#: Directions a marker may have.
DIRECTIONS = ("blunted", "senescent")
#: Bases a threshold may have.
BASES = ("published", "local assumption")


@dataclass(frozen=True)
class Threshold:
    """One named threshold of the table, with its basis and source."""

    name: str
    value: Any
    basis: str
    note: str
    source: str | None


@dataclass(frozen=True)
class ScreeningRules:
    """A validated, versioned screening table (:func:`default_rules` or :meth:`load`)."""

    version: str
    thresholds: dict[str, Threshold]
    required: tuple[str, ...]
    directions: dict[str, str]
    usable_qc: tuple[str, ...]
    sources: dict[str, str]
    #: Components that test the biopsy against a reference and share the family-wise
    #: false-positive rate (``tested: true`` in the table).
    tested: tuple[str, ...] = ("timing", "cfu", "unk", "markers")
    asynchrony_role: str = "interpretability"

    def value(self, name: str) -> Any:
        return self.thresholds[name].value

    @property
    def component_level(self) -> float:
        """False-positive rate allowed to each tested component (Bonferroni share of
        ``family_false_positive_rate``): the centile tail of CFU and of the markers group,
        and the level of the timing and uNK interval tests."""
        return float(self.value("family_false_positive_rate")) / len(self.tested)

    @classmethod
    def from_mapping(cls, data: Any, origin: str = "<rules>") -> ScreeningRules:
        """Validate a parsed YAML mapping; every problem is reported at once."""
        if not isinstance(data, dict):
            raise InputError("screening rule file must be a mapping", file=origin)
        problems: list[str] = []
        version = data.get("version")
        if not isinstance(version, str) or not version:
            problems.append("missing 'version'")
        sources = {str(k): " ".join(str(v).split()) for k, v in (data.get("sources") or {}).items()}
        thresholds: dict[str, Threshold] = {}
        for name, t in (data.get("thresholds") or {}).items():
            if not isinstance(t, dict) or "value" not in t:
                problems.append(f"threshold {name!r}: needs a value")
                continue
            basis = t.get("basis")
            if basis not in BASES:
                problems.append(f"threshold {name!r}: basis must be one of {BASES}")
            src = t.get("source")
            if src is not None and src not in sources:
                problems.append(f"threshold {name!r}: unknown source {src!r}")
            if basis == "published" and src is None:
                problems.append(f"threshold {name!r}: a published threshold needs a source")
            thresholds[name] = Threshold(name, t["value"], str(basis),
                                         " ".join(str(t.get("note", "")).split()), src)
        for name in THRESHOLDS:
            if name not in thresholds:
                problems.append(f"missing threshold {name!r}")
        comps = data.get("components") or {}
        required, tested = [], []
        for name, c in comps.items():
            if name not in COMPONENTS:
                problems.append(f"unknown component {name!r}")
                continue
            if (c or {}).get("required"):
                required.append(name)
            if (c or {}).get("tested"):
                tested.append(name)
        role = (comps.get("asynchrony") or {}).get("role", "abnormal")
        if role not in ASYNCHRONY_ROLES:
            problems.append(f"asynchrony: role must be one of {ASYNCHRONY_ROLES}")
        if not tested:
            problems.append("no component is `tested: true` (the family-wise rate is shared "
                            "among them)")
        fam = thresholds.get("family_false_positive_rate")
        if fam is not None and not (isinstance(fam.value, (int, float))
                                    and 0 < float(fam.value) < 1):
            problems.append("threshold 'family_false_positive_rate': must be between 0 and 1")
        directions = dict((comps.get("markers") or {}).get("direction") or {})
        for g, d in directions.items():
            if d not in DIRECTIONS:
                problems.append(f"marker {g!r}: direction must be one of {DIRECTIONS}")
        usable = tuple(data.get("usable_qc") or ("pass",))
        if problems:
            raise InputError("; ".join(problems), file=origin)
        return cls(version, thresholds, tuple(required),
                   {str(k).upper(): str(v) for k, v in directions.items()}, usable, sources,
                   tuple(tested), str(role))

    @classmethod
    def load(cls, path: str | Path) -> ScreeningRules:
        p = Path(path)
        if not p.exists():
            raise InputError("screening rule file not found", file=str(p))
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML: {exc}", file=str(p)) from None
        return cls.from_mapping(data, str(p))


def default_rules() -> ScreeningRules:
    """The shipped ``rules.yaml``."""
    text = resources.files("decidua.screening").joinpath("rules.yaml").read_text("utf-8")
    return ScreeningRules.from_mapping(yaml.safe_load(text), "decidua/screening/rules.yaml")


@dataclass(frozen=True)
class TimingEvidence:
    """A stored timing placement (estimated LH day with its interval, asynchrony)."""

    estimated_lh_day: float
    low: float
    high: float
    asynchronous: bool
    callable: bool = True
    reason: str | None = None
    qc_status: str = "pass"
    reference: str | None = None


@dataclass(frozen=True)
class MarkerEvidence:
    """One measured marker (CFU %, uNK %, a gene's ΔCq) read against a reference.

    ``centile`` is 0-1 (``None`` when the reference gives none); ``range_flag`` is the
    verdict of a range reference (``"low"``, ``"high"`` or ``None``); ``reason`` says why
    the value cannot be read against a reference (no reference, another protocol, a day
    outside the reference).
    """

    name: str
    value: float | None
    centile: float | None = None
    reference: str | None = None
    qc_status: str = "pass"
    range_flag: str | None = None
    reason: str | None = None
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class BiopsyEvidence:
    """Everything the call may use for one biopsy (plain data)."""

    biopsy: str
    lh_day: float | None = None
    timing: TimingEvidence | None = None
    cfu: MarkerEvidence | None = None
    unk: MarkerEvidence | None = None
    markers: tuple[MarkerEvidence, ...] = ()
    #: Results shown beside the call and not used by the rule (ELISA secretion, the
    #: pro-senescent index): each becomes an ``info`` component.
    info: tuple[MarkerEvidence, ...] = ()


@dataclass(frozen=True)
class Component:
    """One line of the call: what was measured and what it says.

    ``status``: ``normal``, ``abnormal``, ``uncallable`` (could not be assessed) or
    ``info`` (shown, not used by the rule). ``flag``: the abnormality (``delayed``,
    ``advanced``, ``asynchronous``, ``low``, ``high``, ``blunted``, ``senescent``), or for
    an uncallable component ``uncallable``; ``None`` when normal.
    """

    name: str
    value: float | None
    centile: float | None
    reference: str | None
    flag: str | None
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "centile": self.centile,
                "reference": self.reference, "flag": self.flag, "status": self.status,
                "detail": self.detail}


@dataclass(frozen=True)
class ScreeningCall:
    """The call on one biopsy with the components and reasons behind it."""

    biopsy: str
    call: str
    reasons: tuple[str, ...]
    components: tuple[Component, ...]
    rule_version: str
    thresholds: dict[str, Any] = field(default_factory=dict)

    @property
    def abnormal_components(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components if c.status == "abnormal")

    def to_dict(self) -> dict[str, Any]:
        return {"biopsy": self.biopsy, "call": self.call, "reasons": list(self.reasons),
                "components": [c.to_dict() for c in self.components],
                "rule_version": self.rule_version}


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _timing(ev: BiopsyEvidence, rules: ScreeningRules) -> list[Component]:
    t = ev.timing
    if t is None:
        reason = "assay missing: no timing placement (qPCR of the six timing genes)"
        return [Component("timing", None, None, None, "uncallable", "uncallable", reason),
                Component("asynchrony", None, None, None, "uncallable", "uncallable", reason)]
    value = _num(t.estimated_lh_day)
    unusable = None
    if t.qc_status not in rules.usable_qc:
        unusable = f"QC not passed ({t.qc_status})"
    if not t.callable:
        unusable = f"timing uninterpretable: {t.reason or 'placement not callable'}"
    if value is None:
        unusable = "timing uninterpretable: no estimate"
    out = []
    if unusable:
        out.append(Component("timing", value, None, t.reference, "uncallable", "uncallable",
                             unusable))
        out.append(Component("asynchrony", None, None, t.reference, "uncallable",
                             "uncallable", unusable))
        return out
    if t.asynchronous and rules.asynchrony_role == "interpretability":
        why = ("timing uninterpretable: asynchronous expression across the six genes "
               "(EndoTime: the estimate is unreliable; asynchrony is not itself a finding)")
        return [Component("timing", value, None, t.reference, "uncallable", "uncallable", why),
                Component("asynchrony", 1.0, None, t.reference, "asynchronous", "uncallable",
                          "EndoTime asynchrony threshold of the reference: the timing "
                          "estimate is unreliable")]
    lh = _num(ev.lh_day)
    if lh is None:
        out.append(Component("timing", value, None, t.reference, "uncallable", "uncallable",
                             "timing uninterpretable: no LH-surge date, so no reported LH day "
                             "to compare the estimate with"))
    else:
        cut = float(rules.value("timing_offset_days"))
        offset = value - lh
        detail = (f"estimated LH+{value:.1f}, 95% {t.low:.1f}-{t.high:.1f}, reported "
                  f"LH+{lh:g}")
        flag = None
        if offset < -cut and t.high < lh:
            flag = "delayed"
        elif offset > cut and t.low > lh:
            flag = "advanced"
        out.append(Component("timing", value, None, t.reference, flag,
                             "abnormal" if flag else "normal", detail))
    out.append(Component("asynchrony", 1.0 if t.asynchronous else 0.0, None, t.reference,
                         "asynchronous" if t.asynchronous else None,
                         "abnormal" if t.asynchronous else "normal",
                         "EndoTime asynchrony threshold of the reference"))
    return out


def _usable(m: MarkerEvidence, rules: ScreeningRules) -> str | None:
    if m.value is None or _num(m.value) is None:
        return "no value"
    if m.qc_status not in rules.usable_qc:
        return f"QC not passed ({m.qc_status})"
    return m.reason


def _cfu(ev: BiopsyEvidence, rules: ScreeningRules) -> Component:
    m = ev.cfu
    if m is None:
        return Component("cfu", None, None, None, "uncallable", "uncallable",
                         "assay missing: no CFU counts")
    why = _usable(m, rules)
    if why is None and m.centile is None:
        why = "no CFU reference for this protocol (fit one with `decidua reference fit cfu`)"
    if why:
        return Component("cfu", _num(m.value), None, m.reference, "uncallable", "uncallable",
                         why)
    cut = rules.component_level
    low = m.centile < cut
    return Component("cfu", float(m.value), float(m.centile), m.reference,
                     "low" if low else None, "abnormal" if low else "normal",
                     f"CFU % at centile {100 * m.centile:.0f} (low below {100 * cut:g})")


def _unk(ev: BiopsyEvidence, rules: ScreeningRules) -> Component:
    m = ev.unk
    if m is None:
        return Component("unk", None, None, None, "uncallable", "uncallable",
                         "assay missing: no uNK counts")
    why = _usable(m, rules)
    if why:
        return Component("unk", _num(m.value), _num(m.centile), m.reference, "uncallable",
                         "uncallable", why)
    flag = m.range_flag
    if m.centile is not None:  # a fitted (clinic) reference of the same protocol
        half = rules.component_level / 2
        lo_c, hi_c = half, 1 - half
        flag = "low" if m.centile < lo_c else ("high" if m.centile > hi_c else None)
        where = f"centile {100 * m.centile:.0f} (range {100 * lo_c:g}-{100 * hi_c:g})"
    else:
        lo, hi = rules.value("unk_range")
        where = f"published range {lo}-{hi}%"
        if flag and m.interval is not None:
            # a range of women's values: out of range only when the biopsy's own 95 %
            # interval lies outside it (counting error cannot explain the difference)
            ilo, ihi = (float(x) for x in m.interval)
            where += f", 95% {ilo:.1f}-{ihi:.1f}"
            if (flag == "high" and ilo <= hi) or (flag == "low" and ihi >= lo):
                where += ": interval overlaps the range"
                flag = None
    return Component("unk", float(m.value), _num(m.centile), m.reference, flag,
                     "abnormal" if flag else "normal",
                     f"uNK {float(m.value):.1f}% of stromal cells, {where}"
                     + (f": out of range ({flag})" if flag else ""))


def _markers(ev: BiopsyEvidence, rules: ScreeningRules) -> list[Component]:
    out = []
    # the markers group's share of the family-wise rate, split over the directional markers
    # this biopsy has a usable centile for (Bonferroni within the group)
    n_tested = sum(1 for m in ev.markers if rules.directions.get(m.name.upper())
                   and _usable(m, rules) is None and m.centile is not None)
    blunt = rules.component_level / max(1, n_tested)
    sen = 1.0 - blunt
    for m in ev.markers:
        name = f"{m.name} dCq"
        direction = rules.directions.get(m.name.upper())
        why = _usable(m, rules)
        if why is None and m.centile is None:
            why = "no reference centiles for this marker"
        if why:
            out.append(Component(name, _num(m.value), None, m.reference,
                                 "uncallable" if direction else None,
                                 "uncallable" if direction else "info", why))
            continue
        c = float(m.centile)
        # dCq centile: high dCq = low expression
        expr = 1.0 - c
        flag = None
        if direction == "blunted" and expr < blunt:
            flag = "blunted"
        elif direction == "senescent" and expr > sen:
            flag = "senescent"
        status = ("abnormal" if flag else "normal") if direction else "info"
        out.append(Component(name, float(m.value), c, m.reference, flag, status,
                             f"expression at centile {100 * expr:.0f} for the day"
                             + (f" ({direction} beyond {100 * blunt:.3g} / {100 * sen:.3g})"
                                if direction else " (shown, not used by the rule)")))
    return out


def _info(ev: BiopsyEvidence) -> list[Component]:
    """Shown, not used by the rule: the value, its centile when a reference gives one, or why
    not (``reason``), and the QC state.

    Examples
    --------
    >>> (c,) = _info(BiopsyEvidence("B1", info=(MarkerEvidence(
    ...     "PRL ELISA day 8", 412.0, reason="no reference"),)))
    >>> c.status, c.flag, c.centile, c.detail
    ('info', None, None, 'no reference (shown, not used by the rule)')
    """
    out = []
    for m in ev.info:
        c = _num(m.centile)
        if m.reason:
            detail = m.reason
        elif c is not None:
            detail = f"centile {100 * c:.0f} for the day"
        else:
            detail = "no reference"
        if m.qc_status != "pass":
            detail += f"; QC {m.qc_status}"
        out.append(Component(m.name, _num(m.value), c, m.reference, None, "info",
                             detail + " (shown, not used by the rule)"))
    return out


def evaluate(evidence: BiopsyEvidence, rules: ScreeningRules | None = None) -> ScreeningCall:
    """The screening call on one biopsy.

    Parameters
    ----------
    evidence
        The biopsy's usable results, each with its centile and reference.
    rules
        Screening table (default: the shipped ``rules.yaml``).

    Returns
    -------
    ScreeningCall
        ``abnormal`` if any component is abnormal (reasons: those components);
        otherwise ``uncallable`` if a required component could not be assessed
        (reasons: why); otherwise ``normal``.
    """
    rules = rules or default_rules()
    comps: list[Component] = [*_timing(evidence, rules), _cfu(evidence, rules),
                              _unk(evidence, rules), *_markers(evidence, rules),
                              *_info(evidence)]
    abnormal = [c for c in comps if c.status == "abnormal"]
    if abnormal:
        reasons = tuple(f"{c.name}: {c.flag} ({c.detail})" for c in abnormal)
        call = "abnormal"
    else:
        def group(c: Component) -> str:
            return "markers" if c.name.endswith(" dCq") else c.name

        missing = [c for c in comps if c.status == "uncallable" and group(c) in rules.required]
        if missing:
            call = "uncallable"
            reasons = tuple(f"{c.name}: {c.detail}" for c in missing)
        else:
            call = "normal"
            used = sorted({group(c) for c in comps if c.status == "normal"})
            reasons = (f"no component abnormal ({', '.join(used)} assessed)",)
    return ScreeningCall(evidence.biopsy, call, reasons, tuple(comps), rules.version,
                         {**{k: t.value for k, t in rules.thresholds.items()},
                          "component_level": rules.component_level})
