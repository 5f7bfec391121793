"""The patient report: a clinician's summary and a plain-language page for the woman.

:func:`build_patient_report` takes a woman's :class:`~decidua.domain.PatientRecord`
and what is stored on each of her biopsies (plain dicts, as the use-case layer
reads them), computes her risk (:mod:`decidua.risk`) and care pathway
(:mod:`decidua.pathway`) on the assessment day, and returns a frozen
:class:`PatientReport` of text tables, plot data and the footer. Nothing here
reads a database or a clock other than the ``generated_at`` it is given.

Pseudonymised (``pseudonym`` given): no identification block; the id becomes
the pseudonym, biopsy codes become "Biopsy 1, 2, …", dates become days from
the first dated event of the record ("day 0", "day 212"), the year of birth,
ethnicity, free text and source file names are left out.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from decidua import RESEARCH_USE_LABEL, domain
from decidua.reports.model import Footer, Plot, Row, Table, footer, sha256_of
from decidua.reports.plain import plain_summary

#: How the risk's interval is named everywhere in the report.
INTERVAL_NAME = "95% credible interval"


def pct(x: float) -> str:
    """A probability as a percentage with one decimal.

    Examples
    --------
    >>> pct(0.4123)
    '41.2%'
    """
    return f"{100 * x:.1f}%"


@dataclass(frozen=True)
class RiskPoint:
    """The risk after the first ``n_biopsies`` biopsies that the model uses."""

    label: str
    n_biopsies: int
    p_loss: float
    low: float
    high: float


@dataclass(frozen=True)
class PatientReport:
    """Everything a patient report shows, as text and plot data.

    Attributes
    ----------
    subject
        The woman's id, or her pseudonym.
    pseudonymised
        Whether identifiers were left out.
    identification
        ``(label, value)`` pairs; empty when pseudonymised.
    assessed_on
        The assessment day as shown (a date, or "day N" when pseudonymised).
    losses, consecutive_losses, live_births
        Counts from the record.
    history, investigations, biopsies, components, pathway
        Tables.
    missing
        What the care pathway needs and the record lacks.
    risk
        The current risk (all biopsies the model uses) and its interval.
    risk_series
        The risk before any biopsy and after each one (same age and history).
    risk_model_version, rules_version, stage
        Versions and the pathway stage.
    summary
        Plain-language sentences for the woman.
    plots
        Figures to draw at render time.
    monitoring
        Before / after each intervention (``patient monitor``).
    footer
        Versions, input checksums, generation time.
    """

    subject: str
    pseudonymised: bool
    identification: tuple[tuple[str, str], ...]
    assessed_on: str
    losses: int
    consecutive_losses: int
    live_births: int
    history: Table
    investigations: Table
    missing: tuple[str, ...]
    biopsies: Table
    components: Table
    risk: RiskPoint
    risk_series: tuple[RiskPoint, ...]
    risk_model_version: str
    risk_components: tuple[tuple[str, str], ...]
    stage: str
    rules_version: str
    pathway: Table
    summary: tuple[str, ...]
    plots: tuple[Plot, ...]
    footer: Footer
    monitoring: Table = Table("Before and after an intervention", (), ())
    title: str = "Patient report"
    label: str = RESEARCH_USE_LABEL

    @property
    def risk_text(self) -> str:
        """``41.2% (95% credible interval 30.1% to 52.9%)``."""
        r = self.risk
        return f"{pct(r.p_loss)} ({INTERVAL_NAME} {pct(r.low)} to {pct(r.high)})"

    @property
    def summary_text(self) -> str:
        """The plain-language summary as one paragraph."""
        return " ".join(self.summary)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (what the templates print)."""
        return {
            "title": self.title, "subject": self.subject, "pseudonymised": self.pseudonymised,
            "identification": [list(x) for x in self.identification],
            "assessed_on": self.assessed_on, "losses": self.losses,
            "consecutive_losses": self.consecutive_losses, "live_births": self.live_births,
            "history": self.history.to_dict(), "investigations": self.investigations.to_dict(),
            "missing": list(self.missing), "biopsies": self.biopsies.to_dict(),
            "components": self.components.to_dict(),
            "risk": {"p_loss": self.risk.p_loss, "interval": [self.risk.low, self.risk.high],
                     "model_version": self.risk_model_version},
            "risk_series": [{"label": p.label, "n_biopsies": p.n_biopsies, "p_loss": p.p_loss,
                             "interval": [p.low, p.high]} for p in self.risk_series],
            "stage": self.stage, "rules_version": self.rules_version,
            "pathway": self.pathway.to_dict(), "summary": list(self.summary),
            "monitoring": self.monitoring.to_dict(),
            "footer": self.footer.to_dict(), "label": self.label,
        }


def _history_data(record: domain.PatientRecord, anchor: dt.date | None) -> dict[str, Any]:
    """Plot data of the history timeline: days from ``anchor`` (no dates)."""
    def x(d: dt.date | None) -> int | None:
        return None if d is None or anchor is None else (d - anchor).days

    def group(p: domain.PregnancyRecord) -> str:
        if p.is_loss:
            return "loss"
        return "live birth" if p.outcome is domain.Outcome.LIVE_BIRTH else "other"

    return {
        "x_label": "years from the first dated event",
        "pregnancies": [{"x": x(p.outcome_date), "label": str(p.order), "group": group(p)}
                        for p in record.pregnancies if p.outcome_date],
        "biopsies": [{"x": x(b.biopsy_date), "label": ""} for b in record.biopsies],
        "interventions": [{"x0": x(v.start_date), "x1": x(v.end_date or v.start_date),
                           "label": v.kind.value.replace("_", " ")}
                          for v in record.interventions],
    }


class _Dates:
    """Dates as shown: ISO, or days from an anchor when pseudonymised."""

    def __init__(self, record: domain.PatientRecord, pseudonymised: bool) -> None:
        self.pseudonymised = pseudonymised
        dates = [p.outcome_date for p in record.pregnancies if p.outcome_date]
        dates += [i.date for i in record.investigations if i.date]
        dates += [b.biopsy_date for b in record.biopsies]
        dates += [v.start_date for v in record.interventions]
        self.anchor = min(dates) if dates else None

    def __call__(self, d: dt.date | None) -> str:
        if d is None:
            return "unknown"
        if not self.pseudonymised:
            return d.isoformat()
        anchor = self.anchor or d
        return f"day {(d - anchor).days}"


def _num(x: Any, fmt: str = "{:.2f}") -> str:
    return "" if x is None else fmt.format(x)


def _pct(centile: float | None) -> str:
    """A 0-1 centile as a whole-number centile (0.42 -> "42")."""
    return "" if centile is None else f"{100 * centile:.0f}"



#: Centiles drawn on a marker's centile chart (lines; 25th-75th shaded, the quartile bands
#: of Warwick's public CentileGraph).
CHART_CENTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
#: Axis label of a marker's centile chart (qPCR markers: ΔCq).
Y_LABELS = {"unk": "uNK % of stromal cells", "cfu": "CFU %"}
#: Step of the day grid a centile chart's lines are drawn on (LH+ days).
CHART_DAY_STEP = 0.25


def reference_version(label: str | None) -> str | None:
    """The reference version at the head of a component's reference label
    (``"IGFBP1 sha256:0ec52c194ffd (clinic-population centile by LH day; by LH day)"`` ->
    ``"IGFBP1 sha256:0ec52c194ffd"``).

    Examples
    --------
    >>> reference_version("IGFBP1 sha256:0ec5 (clinic-population centile; by LH day)")
    'IGFBP1 sha256:0ec5'
    >>> reference_version(None) is None
    True
    """
    if not label:
        return None
    return label.split(" (", 1)[0].strip() or None


def _component_day(label: str, lh_day: int | None, doc: Mapping[str, Any]) -> float | None:
    """The cycle day a component was read on: the estimated LH+ day when its label says
    so (the evidence's ``day``, else the stored placement), else the LH+ day from dates."""
    if "by estimated LH day" in label:
        ev = doc.get("evidence") or {}
        t = doc.get("timing") or {}
        day = ev.get("day") if ev.get("day") is not None else t.get("estimated_lh_day")
        return None if day is None else float(day)
    return None if lh_day is None else float(lh_day)


def _marker_panels(record: domain.PatientRecord, biopsy_results: Mapping[str, Any],
                   references: Mapping[str, Any], codes: Mapping[str, str]
                   ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """One centile-chart panel per (marker, reference) with each biopsy's value at its day,
    and the ``(what, version)`` of the references drawn.

    A :class:`~decidua.reference.centiles.DayCentiles` reference gives the centile lines
    (:meth:`~decidua.reference.centiles.DayCentiles.value_at` on a day grid); a
    :class:`~decidua.reference.centiles.RangeReference` its published range over its days.
    """
    import numpy as np

    from decidua.reference.centiles import DayCentiles, RangeReference

    panels: dict[tuple[str, str], dict[str, Any]] = {}
    order = {b.biopsy_id: k for k, b in enumerate(record.biopsies, start=1)}
    for b in record.biopsies:
        doc = biopsy_results.get(b.biopsy_id) or {}
        for c in doc.get("components") or []:
            version = reference_version(c.get("reference"))
            ref = references.get(version) if version else None
            if ref is None or c.get("value") is None:
                continue
            if isinstance(ref, DayCentiles) and c.get("centile") is None:
                continue
            day = _component_day(str(c["reference"]), b.lh_day, doc)
            if day is None:
                continue
            name = str(c.get("name", ""))
            key = (name, str(version))
            if key not in panels:
                panel: dict[str, Any] = {"marker": name, "reference": version,
                                         "points": []}
                if isinstance(ref, DayCentiles):
                    p = ref.params
                    days = np.arange(p.day_min, p.day_max + 1e-9, CHART_DAY_STEP)
                    panel["days"] = [round(float(d), 4) for d in days]
                    panel["centiles"] = {f"{round(100 * q)}": [
                        round(float(v), 6) for v in ref.value_at(days, q)]
                        for q in CHART_CENTILES}
                    panel["reference_label"] = ref.info.label
                elif isinstance(ref, RangeReference):
                    panel["range"] = {"low": ref.low, "high": ref.high,
                                      "day_min": ref.day_min, "day_max": ref.day_max}
                    panel["reference_label"] = ref.info.label
                else:
                    continue
                panel["y_label"] = Y_LABELS.get(name, "ΔCq (higher = less expressed)"
                                                if name.endswith("dCq") else name)
                panels[key] = panel
            panels[key]["points"].append({
                "label": f"B{order[b.biopsy_id]}", "day": day, "value": float(c["value"]),
                "centile": c.get("centile")})
    used = [("reference", k[1]) for k in panels]
    return list(panels.values()), used


def _fmt(x: Any, fmt: str = "{:.3g}") -> str:
    return "" if x is None else fmt.format(x)


def _change_text(m: Mapping[str, Any]) -> str:
    """A monitored marker's change with its interval where there is one."""
    ch, iv = m.get("change") or {}, m.get("interval") or {}
    tail = (f" ({_fmt(iv.get('low'))} to {_fmt(iv.get('high'))})"
            if iv.get("low") is not None and iv.get("high") is not None else "")
    if "rate_ratio" in ch:
        return f"rate ratio {_fmt(ch['rate_ratio'])}{tail}"
    if "difference_points" in ch:
        return f"{ch['difference_points']:+.2f} points{tail}"
    if "delta_cq_change" in ch:
        return f"{ch['delta_cq_change']:+.3f}"
    return str(m.get("note") or "")


def _monitoring(monitoring: Sequence[Mapping[str, Any]], biopsy_results: Mapping[str, Any],
                codes: Mapping[str, str], when: _Dates) -> tuple[Table, dict[str, Any] | None]:
    """The before/after table of each intervention (``patient monitor``) and its plot data
    (risk before/after with its interval; each marker's centile at both biopsies)."""
    def day(iso: str | None) -> str:
        return when(dt.date.fromisoformat(iso)) if iso else "unknown"

    def centiles(code: str) -> dict[str, float]:
        return {str(c["name"]): float(c["centile"])
                for c in (biopsy_results.get(code) or {}).get("components") or []
                if c.get("centile") is not None}

    rows, plot = [], {"interventions": []}
    for iv in monitoring:
        what = f"{str(iv.get('kind', '')).replace('_', ' ')} from {day(iv.get('start_date'))}"
        if iv.get("trial_arm") and not when.pseudonymised:  # free text: never pseudonymised
            what += f" (trial arm {iv['trial_arm']})"
        if not iv.get("comparable"):
            rows.append(Row((what, "not compared", "", "", "", ""),
                            note=str(iv.get("note") or "")))
            continue
        bb, ba = iv["before"]["biopsy"], iv["after"]["biopsy"]
        head = (f"{what}: {codes.get(bb, bb)} ({day(iv['before'].get('date'))}) then "
                f"{codes.get(ba, ba)} ({day(iv['after'].get('date'))})")
        call, risk = iv.get("call") or {}, iv.get("risk") or {}
        rb, ra = risk.get("before") or {}, risk.get("after") or {}

        def rtext(r: Mapping[str, Any]) -> str:
            lo, hi = (r.get("interval") or [None, None])[:2]
            return f"{pct(r['p_loss'])} ({pct(lo)} to {pct(hi)})" if r.get("p_loss") is not None \
                and lo is not None else ""

        rows.append(Row((head, "screening call", str(call.get("before") or ""),
                         str(call.get("after") or ""), "", "")))
        rows.append(Row((head, "risk of loss", rtext(rb), rtext(ra),
                         (f"{100 * risk['change']:+.1f} points" if risk.get("change")
                          is not None else ""), ""), note=str(risk.get("note") or "")))
        for m in iv.get("markers") or []:
            shift = m.get("centile_shift")
            rows.append(Row((head, str(m.get("marker", "")), _fmt(m.get("before"), "{:.4g}"),
                             _fmt(m.get("after"), "{:.4g}"), _change_text(m),
                             "" if shift is None else f"{100 * shift:+.0f}")))
        cb, ca = centiles(bb), centiles(ba)
        plot["interventions"].append({
            "label": f"{str(iv.get('kind', '')).replace('_', ' ')}: {codes.get(bb, bb)} -> "
                     f"{codes.get(ba, ba)}",
            "risk": {"before": [rb.get("p_loss"), *(rb.get("interval") or [None, None])[:2]],
                     "after": [ra.get("p_loss"), *(ra.get("interval") or [None, None])[:2]]},
            "centiles": {k: [cb[k], ca[k]] for k in sorted(set(cb) & set(ca))}})
    table = Table("Before and after an intervention",
                  ("intervention and biopsies", "measure", "before", "after",
                   "change (95% interval)", "centile shift"), tuple(rows),
                  empty="No intervention recorded.")
    comparable = [x for x in plot["interventions"] if x["risk"]["before"][0] is not None]
    return table, ({"interventions": comparable} if comparable else None)


def build_patient_report(
    record: domain.PatientRecord,
    biopsy_results: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    on: dt.date,
    study_group: str | None = None,
    pseudonym: str | None = None,
    research_biopsy: bool | None = None,
    risk_calls: Mapping[str, Mapping[str, Any]] | None = None,
    references: Mapping[str, Any] | None = None,
    monitoring: Sequence[Mapping[str, Any]] | None = None,
    generated_at: dt.datetime | str | None = None,
    decidua_version: str | None = None,
) -> PatientReport:
    """Build a woman's report from her record and her biopsies' stored results.

    Parameters
    ----------
    record
        The woman's record.
    biopsy_results
        Per biopsy code, what is stored on it: ``call``, ``reasons``,
        ``components`` (``name, value, centile, reference, flag``),
        ``rule_version``, ``timing`` (the newest placement: ``estimated_lh_day``,
        ``interval``, ``callable``) and ``results`` (``kind, result_key,
        qc_status, source_file, source_sha256, importer_version,
        analysis_version``) — the document of ``decidua biopsy show --json``.
        Biopsies without an entry have no stored result.
    on
        Assessment day: her age and the pregnancies counted are as of this day.
    study_group
        Shown in the identification block.
    pseudonym
        Build the pseudonymised variant under this name (no identifiers).
    research_biopsy
        The clinic runs a research biopsy programme (``None``: the rule file's default).
    risk_calls
        Per biopsy code, the call the risk uses and why (``call``, ``used``, ``note``:
        the rows of :func:`decidua.services.biopsies.calls_for_risk`, as ``risk patient``
        uses them: the newest computed call, else the typed clinic call). ``None``: the
        typed clinic call of every biopsy not on treatment.
    references
        The centile references the components were read against, by version
        (``ref.version``: :class:`~decidua.reference.centiles.DayCentiles` or
        :class:`~decidua.reference.centiles.RangeReference`): each component whose
        reference is here is drawn on that reference's centile chart at its day.
    monitoring
        The interventions of ``decidua patient monitor --json`` (``interventions``): each
        with a biopsy before and after gives a before/after table and plot.
    generated_at
        Generation time (default now, UTC): the only field that differs between
        two builds from the same records.
    decidua_version
        Default: the installed version.

    Returns
    -------
    PatientReport

    Raises
    ------
    decidua.errors.InputError
        If the risk model refuses her inputs (age outside 12-60).

    Examples
    --------
    >>> from decidua.domain import (BiopsyRecord, DecidualCall, Outcome, PatientRecord,
    ...                             PregnancyRecord)
    >>> rec = PatientRecord("P1", 1990, pregnancies=tuple(
    ...     PregnancyRecord(i, Outcome.MISCARRIAGE, 8.0) for i in (1, 2, 3)),
    ...     biopsies=(BiopsyRecord("P1-B1", dt.date(2024, 3, 9), dt.date(2024, 3, 1),
    ...                            clinic_call=DecidualCall.ABNORMAL),))
    >>> r = build_patient_report(rec, on=dt.date(2025, 1, 1),
    ...                          generated_at="2025-01-01T00:00:00Z")
    >>> r.losses, len(r.risk_series), r.risk.p_loss == r.risk_series[-1].p_loss
    (3, 2, True)
    """
    from decidua.pathway import next_steps
    from decidua.risk import default_model, predict_record

    biopsy_results = dict(biopsy_results or {})
    anon = pseudonym is not None
    when = _Dates(record, anon)
    age = record.age_on(on)
    model = default_model()
    pregnancies = [p for p in sorted(record.pregnancies, key=lambda p: p.order)
                   if p.outcome_date is None or p.outcome_date < on]

    # identification
    ident: tuple[tuple[str, str], ...] = ()
    if not anon:
        ident = (("Patient id", record.patient_id), ("Year of birth", str(record.year_of_birth)),
                 ("Age on the assessment day", f"{age:.0f} years"),
                 ("BMI", _num(record.bmi, "{:.1f}") or "not recorded"),
                 ("Ethnicity", record.ethnicity or "not recorded"),
                 ("Study group", study_group or "not recorded"))

    # obstetric history
    hist_rows = []
    for p in sorted(record.pregnancies, key=lambda p: p.order):
        karyo = "" if p.karyotype is domain.KaryotypeResult.NOT_TESTED else p.karyotype.value
        if p.karyotype_detail and not anon:
            karyo += f" ({p.karyotype_detail})"
        heart = ("" if p.fetal_heart_activity is None or not p.is_loss
                 else "seen" if p.fetal_heart_activity else "not seen")
        hist_rows.append(Row((str(p.order), when(p.outcome_date),
                              p.outcome.value.replace("_", " "),
                              _num(p.gestation_weeks, "{:g}"), heart,
                              p.conception.value.replace("_", " "), karyo or "not tested")))
    history = Table("Obstetric history",
                    ("#", "date", "outcome", "weeks", "fetal heart (losses)", "conception",
                     "karyotype"),
                    tuple(hist_rows))

    # investigations and what is missing
    inv_rows = []
    for i in record.investigations:
        info = domain.INVESTIGATION_KINDS.get(i.kind)
        value = f"{i.value:g} {i.unit or ''}".strip() if i.value is not None else ""
        inv_rows.append(Row((when(i.date), info.label if info else i.kind, value,
                             i.interpretation.value, "" if anon else (i.text or ""))))
    investigations = Table("Investigations", ("date", "investigation", "value",
                                              "interpretation", "note"), tuple(inv_rows))

    pathway = next_steps(record, on=on, research_biopsy_available=research_biopsy)

    # biopsies
    codes = {b.biopsy_id: (f"Biopsy {k}" if anon else b.biopsy_id)
             for k, b in enumerate(record.biopsies, start=1)}
    bx_rows, comp_rows = [], []
    versions: list[tuple[str, str | None]] = [("risk model", model.model_version),
                                              ("care-pathway rules", pathway.rules_version)]
    file_sums: list[tuple[str, str | None]] = []
    used = []
    tplot: dict[str, list[Any]] = {"labels": [], "lh_day": [], "estimate": [], "low": [],
                                   "high": []}
    for b in record.biopsies:
        doc = biopsy_results.get(b.biopsy_id, {})
        t = doc.get("timing") or None
        tl, th = ((t.get("interval") or [None, None])[:2] if t else (None, None))
        tplot["labels"].append(codes[b.biopsy_id])
        tplot["lh_day"].append(b.lh_day)
        tplot["estimate"].append(t.get("estimated_lh_day") if t else None)
        tplot["low"].append(tl)
        tplot["high"].append(th)
        if t and t.get("estimated_lh_day") is not None:
            lo, hi = (t.get("interval") or [None, None])[:2]
            est = f"LH+{t['estimated_lh_day']:.1f}"
            if lo is not None and hi is not None:
                est += f" ({lo:.1f} to {hi:.1f})"
            if t.get("callable") is False:
                est += ", uncallable"
        else:
            est = "not measured"
        call = doc.get("call") or "not analysed"
        reasons = "; ".join(doc.get("reasons") or [])
        rc = (risk_calls or {}).get(b.biopsy_id)
        if risk_calls is None:
            uses, why = b.clinic_call is not None and not b.on_treatment, ""
            risk_b = b
        else:
            uses = bool(rc and rc.get("used"))
            why = str(rc.get("note") or "") if rc else "no call"
            call_used = rc.get("call") if rc else None
            risk_b = dataclasses.replace(
                b, clinic_call=domain.DecidualCall(call_used) if call_used else None)
        if uses:
            used.append(risk_b)
        bx_rows.append(Row(
            (codes[b.biopsy_id], when(b.biopsy_date), str(b.cycle_number or ""),
             f"LH+{b.lh_day}" if b.lh_day is not None else "unknown", est,
             b.clinic_call.value if b.clinic_call else "not recorded",
             "yes" if b.on_treatment else "no", call),
            note="; ".join(x for x in (
                (f"risk uses: {risk_b.clinic_call.value} ({why})" if uses and why else ""),
                ("" if uses else "not used by the risk model ("
                 + (why or ("on treatment" if b.on_treatment else "no clinic call")) + ")"),
                reasons) if x)))
        for c in doc.get("components") or []:
            comp_rows.append(Row((codes[b.biopsy_id], str(c.get("name", "")),
                                  _num(c.get("value"), "{:.3f}"),
                                  _pct(c.get("centile")),
                                  c.get("flag") or "")))
        versions.append(("screening rules", doc.get("rule_version")))
        for r in doc.get("results") or []:
            versions.append((f"{r.get('kind')} importer", r.get("importer_version")))
            if r.get("analysis_version"):
                versions.append((f"{r.get('kind')} reference", r.get("analysis_version")))
            name = "input file" if anon else f"file {r.get('source_file') or '?'}"
            file_sums.append((name, r.get("source_sha256")))
    biopsies = Table("Biopsies", ("biopsy", "date", "cycle", "LH+ day", "timing estimate",
                                  "clinic call", "treated", "screening call"), tuple(bx_rows))
    components = Table("Screening components", ("biopsy", "component", "value", "centile",
                                                "flag"), tuple(comp_rows),
                       empty="No assay results stored.")

    # risk now, and before / after each biopsy (same age and history)
    series = []
    for k in range(len(used) + 1):
        est_k = predict_record(dataclasses.replace(
            record, pregnancies=tuple(pregnancies), biopsies=tuple(used[:k])), on, model=model)
        label = "before biopsies" if k == 0 else f"after {codes[used[k - 1].biopsy_id]}"
        series.append(RiskPoint(label, k, est_k.p_loss, *est_k.interval))
    risk = series[-1]
    final = est_k  # all the biopsies the model uses: the current risk
    risk_components = (("embryonic (age-related)", pct(final.components.embryonic)),
                       ("not embryonic", pct(final.components.non_embryonic)))

    step_rows = []
    for s in pathway.steps:
        step_rows.append(Row((s.kind.replace("_", " "), s.action, s.text, s.line),
                             note="; ".join(s.missing)))
    pathway_table = Table("Care pathway", ("kind", "action", "step", "guideline line"),
                          tuple(step_rows))

    summary = plain_summary(
        losses=record.n_losses, live_births=record.n_live_births,
        n_biopsies=len(record.biopsies),
        n_abnormal=sum(b.clinic_call is domain.DecidualCall.ABNORMAL for b in used),
        n_normal=sum(b.clinic_call is domain.DecidualCall.NORMAL for b in used),
        p_loss=risk.p_loss, low=risk.low, high=risk.high, n_missing=len(pathway.missing),
        n_offered=sum(s.action == "offer" and s.status != "done" for s in pathway.steps))

    plots = (Plot("risk_series", "Risk of losing the next pregnancy, before and after "
                  "each biopsy",
                  {"labels": [p.label for p in series], "p_loss": [p.p_loss for p in series],
                   "low": [p.low for p in series], "high": [p.high for p in series]},
                  caption=f"Dots: risk; bars: {INTERVAL_NAME}. Same age and history at "
                          "every point: only the biopsies change."),
             Plot("history", "Obstetric history as a timeline",
                  _history_data(record, when.anchor),
                  caption="Pregnancies by outcome (number = order), biopsies and treatment "
                          "courses; years from the first dated event."))
    if any(e is not None for e in tplot["estimate"]):
        plots += (Plot("timing", "Timing of each biopsy against the reference", tplot,
                       caption="Squares: estimated LH+ day from gene expression on the "
                               "timing reference, with its interval; circles: LH+ day from "
                               "the dates; shaded: LH+5 to LH+9."),)

    panels, ref_versions = _marker_panels(record, biopsy_results, dict(references or {}), codes)
    versions.extend(ref_versions)
    if panels:
        plots += (Plot("marker_centiles", "Each marker on its centile chart for the cycle day",
                       {"panels": panels},
                       caption="Lines: the reference's 10th, 25th, 50th, 75th and 90th "
                               "centiles by LH+ day (25th to 75th shaded; a published range "
                               "as a box); dots: this woman's biopsies (B1, B2, … in the "
                               "order of the biopsies table) at the day each was read "
                               "on. Clinic-population references, not healthy controls."),)
    monitor_table, monitor_plot = _monitoring(list(monitoring or ()), biopsy_results, codes,
                                              when)
    if monitor_plot is not None:
        plots += (Plot("before_after", "Before and after an intervention", monitor_plot,
                       caption="Left: risk of losing the next pregnancy with its "
                               f"{INTERVAL_NAME} at the biopsy before and the biopsy after; "
                               "right: each marker's centile at the two biopsies."),)
    used_refs = {v: references[v].to_dict() if hasattr(references[v], "to_dict")
                 else references[v] for _, v in ref_versions} if references else {}
    inputs = {"record": record, "biopsy_results": biopsy_results, "on": on,
              "references": used_refs, "monitoring": list(monitoring or ()),
              "risk_calls": dict(risk_calls) if risk_calls is not None else None,
              "study_group": study_group, "pseudonym": pseudonym,
              "research_biopsy": research_biopsy}
    foot = footer(versions=versions,
                  checksums=[("records", sha256_of(inputs)), *file_sums],
                  generated_at=generated_at, decidua_version=decidua_version)
    return PatientReport(
        subject=pseudonym if anon else record.patient_id, pseudonymised=anon,
        identification=ident, assessed_on=when(on), losses=record.n_losses,
        consecutive_losses=record.consecutive_losses(), live_births=record.n_live_births,
        history=history, investigations=investigations, missing=tuple(pathway.missing),
        biopsies=biopsies, components=components, risk=risk, risk_series=tuple(series),
        risk_model_version=model.model_version, risk_components=risk_components,
        stage=pathway.stage, rules_version=pathway.rules_version, pathway=pathway_table,
        summary=summary, plots=plots, footer=foot, monitoring=monitor_table)

