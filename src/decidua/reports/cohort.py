"""The cohort report for researchers (pseudonymised: aggregates only, no identifier).

:func:`build_cohort_report` takes every woman's record (and, where stored, the newest
screening call of each biopsy) and returns a :class:`CohortReport`: women and biopsies
by study group, clinic and screening calls, the risk of losing the next pregnancy across
the cohort (the shipped model, vectorised), and the screening call against the outcome
of the next pregnancy where it is known.

Call against outcome, per woman: the *index biopsy* is her latest biopsy not on
treatment with a clinic call that precedes a later pregnancy with a known outcome; the
*next pregnancy* is the first one ending after it. A loss is the event: sensitivity =
abnormal calls among next-pregnancy losses, specificity = normal calls among live
births (pregnancies with other outcomes are left out), each with an exact
(Clopper-Pearson) 95% interval.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from decidua import RESEARCH_USE_LABEL, domain
from decidua.reports.model import Footer, Plot, Row, Table, footer, sha256_of
from decidua.stats import Interval


def clopper_pearson(k: int, n: int, level: float = 0.95) -> Interval:
    """Exact binomial interval of a proportion ``k / n`` (Clopper & Pearson, Biometrika
    1934;26:404-413), from beta quantiles.

    Examples
    --------
    >>> iv = clopper_pearson(7, 10)
    >>> round(iv.estimate, 2), round(iv.low, 4), round(iv.high, 4)
    (0.7, 0.3475, 0.9333)
    """
    from scipy import stats

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0 (k={k}, n={n})")
    a = 1 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return Interval(k / n, lo, hi, level, "exact binomial (Clopper-Pearson)")


@dataclass(frozen=True)
class CallOutcome:
    """2x2 table of the index call against the next pregnancy's outcome."""

    abnormal_loss: int
    abnormal_birth: int
    normal_loss: int
    normal_birth: int

    @property
    def sensitivity(self) -> Interval | None:
        n = self.abnormal_loss + self.normal_loss
        return clopper_pearson(self.abnormal_loss, n) if n else None

    @property
    def specificity(self) -> Interval | None:
        n = self.normal_birth + self.abnormal_birth
        return clopper_pearson(self.normal_birth, n) if n else None


@dataclass(frozen=True)
class CohortReport:
    """A cohort report: tables, plots and the footer (no identifier)."""

    subject: str
    assessed_on: str
    n_women: int
    n_biopsies: int
    groups: Table
    calls: Table
    risk: Table
    call_outcome: CallOutcome
    accuracy: Table
    plots: tuple[Plot, ...]
    footer: Footer
    risk_model_version: str
    screening_accuracy: Table = Table("", (), ())
    discrimination: Table = Table("", (), ())
    auc: Interval | None = None
    centiles: Table = Table("", (), ())
    trials: Table = Table("", (), ())
    title: str = "Cohort report"
    label: str = RESEARCH_USE_LABEL
    pseudonymised: bool = True

    def to_dict(self) -> dict[str, Any]:
        co = self.call_outcome
        return {"title": self.title, "n_women": self.n_women, "n_biopsies": self.n_biopsies,
                "groups": self.groups.to_dict(), "calls": self.calls.to_dict(),
                "risk": self.risk.to_dict(), "call_outcome": {
                    "abnormal_loss": co.abnormal_loss, "abnormal_birth": co.abnormal_birth,
                    "normal_loss": co.normal_loss, "normal_birth": co.normal_birth},
                "accuracy": self.accuracy.to_dict(),
                "screening_accuracy": self.screening_accuracy.to_dict(),
                "discrimination": self.discrimination.to_dict(),
                "auc": self.auc.to_dict() if self.auc else None,
                "centiles": self.centiles.to_dict(), "trials": self.trials.to_dict(),
                "footer": self.footer.to_dict(),
                "label": self.label}


def _index(record: domain.PatientRecord, call_of: Any
           ) -> tuple[domain.BiopsyRecord, str, domain.PregnancyRecord] | None:
    """The index biopsy (latest, not on treatment, with a call, before a later dated
    pregnancy), its call, and that next pregnancy."""
    dated = sorted((p for p in record.pregnancies if p.outcome_date), key=lambda p: p.outcome_date)
    best = None
    for b in sorted(record.biopsies, key=lambda b: b.biopsy_date):
        call = None if b.on_treatment else call_of(b)
        if call is None:
            continue
        nxt = next((p for p in dated if p.outcome_date > b.biopsy_date), None)
        if nxt is not None:
            best = (b, call, nxt)
    return best


def index_call(record: domain.PatientRecord) -> tuple[str, domain.Outcome] | None:
    """``(index call, next-pregnancy outcome)`` of a woman (see the module notes), or ``None``.

    Examples
    --------
    >>> from decidua.domain import (BiopsyRecord, DecidualCall, Outcome, PatientRecord,
    ...                             PregnancyRecord)
    >>> rec = PatientRecord("P", 1990, pregnancies=(
    ...     PregnancyRecord(1, Outcome.MISCARRIAGE, outcome_date=dt.date(2020, 1, 1)),
    ...     PregnancyRecord(2, Outcome.LIVE_BIRTH, outcome_date=dt.date(2022, 1, 1))),
    ...     biopsies=(BiopsyRecord("B", dt.date(2020, 6, 1), clinic_call=DecidualCall.NORMAL),))
    >>> index_call(rec)
    ('normal', <Outcome.LIVE_BIRTH: 'live_birth'>)
    """
    found = _index(record, lambda b: b.clinic_call.value if b.clinic_call else None)
    return None if found is None else (found[1], found[2].outcome)


def _tally(found: Sequence[tuple[str, domain.Outcome]]) -> CallOutcome:
    t: Counter[tuple[str, str]] = Counter()
    for call, outcome in found:
        if outcome in domain.LOSS_OUTCOMES:
            t[(call, "loss")] += 1
        elif outcome is domain.Outcome.LIVE_BIRTH:
            t[(call, "birth")] += 1
    return CallOutcome(t[("abnormal", "loss")], t[("abnormal", "birth")],
                       t[("normal", "loss")], t[("normal", "birth")])


def _accuracy_rows(name: str, co: CallOutcome) -> list[Row]:
    rows = [Row((f"{name}: abnormal", str(co.abnormal_loss), str(co.abnormal_birth))),
            Row((f"{name}: normal", str(co.normal_loss), str(co.normal_birth)))]
    for what, iv in (("sensitivity", co.sensitivity), ("specificity", co.specificity)):
        text = "not estimable" if iv is None else (
            f"{100 * iv.estimate:.1f}% (95% CI {100 * iv.low:.1f}% to {100 * iv.high:.1f}%)")
        rows.append(Row((f"{name}: {what}", text, "")))
    return rows


def _index_risk(records: Sequence[domain.PatientRecord], model: Any
                ) -> tuple[list[float], list[int]]:
    """Per woman with a known next-pregnancy outcome after her index clinic call: the risk
    the model gave at the index biopsy (age on that day, pregnancies ended before it, the
    calls of untreated biopsies up to it) and the outcome (1 = loss)."""
    import numpy as np

    from decidua.risk.model import encode_biopsies, encode_history

    rows, ys = [], []
    for r in records:
        found = _index(r, lambda b: b.clinic_call.value if b.clinic_call else None)
        if found is None:
            continue
        b, _, nxt = found
        if nxt.outcome in domain.LOSS_OUTCOMES:
            y = 1
        elif nxt.outcome is domain.Outcome.LIVE_BIRTH:
            y = 0
        else:
            continue
        day = b.biopsy_date
        preg = [p for p in sorted(r.pregnancies, key=lambda p: p.order)
                if p.outcome_date is not None and p.outcome_date <= day]
        ev = encode_history(preg)
        abn, nor = encode_biopsies([x for x in r.biopsies if x.biopsy_date <= day])
        rows.append((min(max(r.age_on(day), 12.0), 60.0), ev.n_loss, ev.n_live_births, abn,
                     nor, ev.n_loss_karyotype_abnormal, ev.n_loss_karyotype_normal,
                     ev.n_loss_earlier, ev.n_live_births_earlier,
                     ev.n_loss_karyotype_normal_earlier))
        ys.append(y)
    if not rows:
        return [], []
    a = np.asarray(rows, float)
    i = a[:, 1:].astype(int)
    risk = model.predict_many(a[:, 0], i[:, 0], i[:, 1], i[:, 2], i[:, 3], i[:, 4], i[:, 5],
                              interval=None, n_losses_earlier=i[:, 6],
                              n_live_births_earlier=i[:, 7],
                              n_loss_karyotype_normal_earlier=i[:, 8])
    return [float(x) for x in risk.p_loss], ys


#: Bins of the cohort calibration plot (equal width on 0-1; few women per bin otherwise).
CALIBRATION_BINS = 5
def _centile_table(records: Sequence[domain.PatientRecord], group_of: Mapping[str, str],
                   components: Mapping[str, Sequence[Mapping[str, Any]]]
                   ) -> tuple[Table, dict[str, Any]]:
    import numpy as np

    by: dict[str, dict[str, list[float]]] = {}
    for r in records:
        g = group_of[r.patient_id]
        for b in r.biopsies:
            for c in components.get(b.biopsy_id) or ():
                if c.get("centile") is None:
                    continue
                by.setdefault(str(c["name"]), {}).setdefault(g, []).append(
                    100 * float(c["centile"]))
    rows = []
    for name in sorted(by):
        for g in sorted(by[name]):
            xs = np.asarray(by[name][g])
            q = np.quantile(xs, [0.25, 0.5, 0.75])
            rows.append(Row((name, g, str(len(xs)), f"{q[1]:.0f} ({q[0]:.0f} to {q[2]:.0f})",
                             f"{100 * float(np.mean(xs < 10)):.0f}%",
                             f"{100 * float(np.mean(xs > 90)):.0f}%")))
    table = Table("Marker centiles by study group (stored screening calls)",
                  ("component", "group", "biopsies", "median centile (25th to 75th)",
                   "below 10th", "above 90th"), tuple(rows),
                  empty="No stored screening call carries a centile (`decidua biopsy "
                        "analyse`).")
    return table, {"markers": {k: {g: [round(x, 3) for x in v] for g, v in sorted(d.items())}
                               for k, d in sorted(by.items())}}


def _trial_table(trials: Sequence[Mapping[str, Any]]) -> tuple[Table, dict[str, Any]]:
    import numpy as np

    rows, panels = [], []
    for t in trials:
        marker = str(t.get("marker"))
        if t.get("error"):
            rows.append(Row((marker, "", "", "", "not estimable", ""), note=str(t["error"])))
            continue
        parts = t.get("participants") or []
        eff = t.get("effect") or {}
        arms_txt = []
        panel: dict[str, Any] = {"marker": marker, "arms": {}}
        for arm, name in ((1, "treated"), (0, "control")):
            ps = [p for p in parts if p.get("arm") == arm]
            if not ps:
                continue
            b = np.median([p["baseline"] for p in ps])
            f = np.median([p["followup"] for p in ps])
            arms_txt.append(f"{name} n={len(ps)}: median {b:.3g} before, {f:.3g} after")
            panel["arms"][name] = [[float(p["baseline"]), float(p["followup"])] for p in ps]
        label = ", ".join(t.get("treated_arms") or []) + " vs " + ", ".join(
            t.get("control_arms") or [])
        rows.append(Row((marker, label, str(t.get("n", "")), "; ".join(arms_txt),
                         f"{t.get('scale')} {eff.get('estimate', float('nan')):.3g} (95% CI "
                         f"{eff.get('low', float('nan')):.3g} to "
                         f"{eff.get('high', float('nan')):.3g})",
                         f"{t.get('p_value', float('nan')):.3g}"),
                        note=f"{t.get('model', '')}; excluded: {len(t.get('excluded') or [])}"))
        panel["effect"] = (f"{t.get('scale')} {eff.get('estimate', float('nan')):.2f} "
                           f"({eff.get('low', float('nan')):.2f}-"
                           f"{eff.get('high', float('nan')):.2f})")
        panels.append(panel)
    table = Table("Intervention arms before and after (trial analyse)",
                  ("marker", "arms", "women", "before / after by arm",
                   "arm effect, adjusted for baseline and age", "p"), tuple(rows),
                  empty="No intervention with a trial arm has biopsies before and after.")
    return table, {"panels": panels}


def _quantiles(xs: Sequence[float]) -> str:
    import numpy as np

    if not len(xs):
        return "-"
    q = np.quantile(np.asarray(xs, float), [0.25, 0.5, 0.75])
    return f"{100 * q[1]:.1f}% ({100 * q[0]:.1f}% to {100 * q[2]:.1f}%)"


def build_cohort_report(
    records: Sequence[domain.PatientRecord],
    groups: Mapping[str, str | None],
    *,
    screening_calls: Mapping[str, str] | None = None,
    screening_components: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    trials: Sequence[Mapping[str, Any]] | None = None,
    on: dt.date,
    generated_at: dt.datetime | str | None = None,
    decidua_version: str | None = None,
) -> CohortReport:
    """Build the cohort report.

    Parameters
    ----------
    records
        Every woman's record.
    groups
        Study group by patient id.
    screening_calls
        The newest stored screening call by biopsy code (``normal`` / ``abnormal`` /
        ``uncallable``), where one is stored.
    screening_components
        The components (``name``, ``centile``) of that call by biopsy code.
    trials
        Documents of ``decidua trial analyse MARKER --json`` (or ``{"marker", "error"}``
        where the fit was not possible).
    on
        Assessment day of the risk (ages on this day; pregnancies ending before it).

    Examples
    --------
    >>> from decidua.domain import Outcome, PatientRecord, PregnancyRecord
    >>> recs = [PatientRecord("P1", 1990, pregnancies=(PregnancyRecord(1, Outcome.MISCARRIAGE),))]
    >>> r = build_cohort_report(recs, {"P1": "rpl"}, on=dt.date(2025, 1, 1),
    ...                         generated_at="2025-01-01T00:00:00Z")
    >>> r.n_women, r.call_outcome.sensitivity is None
    (1, True)
    """
    import numpy as np

    from decidua.risk import default_model
    from decidua.risk.model import encode_biopsies, encode_history

    screening_calls = dict(screening_calls or {})
    model = default_model()
    group_of = {r.patient_id: (groups.get(r.patient_id) or "not recorded") for r in records}
    names = sorted(set(group_of.values()))

    # groups
    rows = []
    for g in names:
        rs = [r for r in records if group_of[r.patient_id] == g]
        rows.append(Row((g, str(len(rs)), str(sum(r.n_losses for r in rs)),
                         str(sum(r.n_live_births for r in rs)),
                         str(sum(len(r.biopsies) for r in rs)))))
    group_table = Table("Women by study group", ("group", "women", "losses", "live births",
                                                 "biopsies"), tuple(rows))

    # calls
    clinic = Counter((b.clinic_call.value if b.clinic_call else "not recorded")
                     for r in records for b in r.biopsies)
    screen = Counter(screening_calls.get(b.biopsy_id, "not computed")
                     for r in records for b in r.biopsies)
    call_rows = [Row(("clinic call (decidual reaction)", k, str(v)))
                 for k, v in sorted(clinic.items())]
    call_rows += [Row(("screening call (stored)", k, str(v))) for k, v in sorted(screen.items())]
    calls = Table("Biopsy calls", ("call", "value", "biopsies"), tuple(call_rows))

    # risk across the cohort (vectorised)
    ages, counts = [], []
    for r in records:
        preg = [p for p in sorted(r.pregnancies, key=lambda p: p.order)
                if p.outcome_date is None or p.outcome_date < on]
        ev = encode_history(preg)
        abn, nor = encode_biopsies(r.biopsies)
        ages.append(min(max(r.age_on(on), 12.0), 60.0))
        counts.append((ev.n_loss, ev.n_live_births, abn, nor, ev.n_loss_karyotype_abnormal,
                       ev.n_loss_karyotype_normal, ev.n_loss_earlier,
                       ev.n_live_births_earlier, ev.n_loss_karyotype_normal_earlier))
    c = np.asarray(counts, int).reshape(-1, 9)
    risk = model.predict_many(np.asarray(ages, float), c[:, 0], c[:, 1], c[:, 2], c[:, 3],
                              c[:, 4], c[:, 5], n_losses_earlier=c[:, 6],
                              n_live_births_earlier=c[:, 7],
                              n_loss_karyotype_normal_earlier=c[:, 8]) if records else None
    p = risk.p_loss.tolist() if risk is not None else []
    risk_rows = []
    for g in names:
        idx = [i for i, r in enumerate(records) if group_of[r.patient_id] == g]
        risk_rows.append(Row((g, str(len(idx)), _quantiles([p[i] for i in idx]))))
    for label, test in (("with an abnormal biopsy", lambda ab, no: ab > 0),
                        ("only normal biopsies", lambda ab, no: ab == 0 and no > 0),
                        ("no biopsy used", lambda ab, no: ab == 0 and no == 0)):
        idx = [i for i in range(len(records)) if test(c[i, 2], c[i, 3])]
        risk_rows.append(Row((label, str(len(idx)), _quantiles([p[i] for i in idx]))))
    risk_table = Table("Risk of losing the next pregnancy across the cohort",
                       ("women", "n", "median (25th to 75th centile)"), tuple(risk_rows))

    # index call against the next pregnancy's outcome
    found = [f for f in (index_call(r) for r in records) if f is not None]
    co = _tally(found)
    acc_rows = [Row(("abnormal", str(co.abnormal_loss), str(co.abnormal_birth))),
                Row(("normal", str(co.normal_loss), str(co.normal_birth)))]
    for name, iv in (("sensitivity", co.sensitivity), ("specificity", co.specificity)):
        text = "not estimable" if iv is None else (
            f"{100 * iv.estimate:.1f}% (95% CI {100 * iv.low:.1f}% to {100 * iv.high:.1f}%)")
        acc_rows.append(Row((name, text, "")))
    accuracy = Table("Index clinic call against the next pregnancy",
                     ("call", "next pregnancy lost", "next pregnancy live birth"),
                     tuple(acc_rows), empty="No woman has a later pregnancy with a known "
                     "outcome.")
    # the stored screening call (decidua biopsy analyse), same index rule
    def screened(b: domain.BiopsyRecord) -> str | None:
        c = screening_calls.get(b.biopsy_id)
        return c if c in ("normal", "abnormal") else None

    sfound = [(f[1], f[2].outcome) for f in (_index(r, screened) for r in records)
              if f is not None]
    sco = _tally(sfound)
    screening_accuracy = Table(
        "Index screening call (stored) against the next pregnancy",
        ("call", "next pregnancy lost", "next pregnancy live birth"),
        tuple(_accuracy_rows("screening call", sco)) if sfound else (),
        empty="No stored screening call precedes a later pregnancy with a known outcome.")

    # the risk at the index biopsy against the outcome: ROC (DeLong interval), calibration
    from decidua.stats.calibration import reliability
    from decidua.stats.roc import auc_delong, roc_curve

    scores, ys = _index_risk(records, model)
    auc = roc = calib = None
    disc_rows: list[Row] = []
    plots = (Plot("risk_hist", "Risk of losing the next pregnancy by study group",
                  {"groups": {g: [p[i] for i, r in enumerate(records)
                                  if group_of[r.patient_id] == g] for g in names}},
                  caption="Histogram of each woman's risk on the assessment day."),)
    if ys and 0 < sum(ys) < len(ys):
        auc = auc_delong(scores, ys)
        roc = roc_curve(scores, ys)
        calib = reliability(np.asarray(scores), np.asarray(ys), bins=CALIBRATION_BINS)
        disc_rows.append(Row(("women (losses / live births)",
                              f"{len(ys)} ({sum(ys)} / {len(ys) - sum(ys)})")))
        disc_rows.append(Row(("AUC of the risk at the index biopsy",
                              f"{auc.estimate:.3f} (95% CI {auc.low:.3f} to {auc.high:.3f}; "
                              "DeLong)")))
        disc_rows.append(Row(("Brier score", f"{calib.brier:.3f}")))
        disc_rows.append(Row(("calibration: expected calibration error",
                              f"{calib.ece:.3f}")))
        for b in calib.table:
            k = round(b.observed * b.n)
            iv = clopper_pearson(k, b.n)
            disc_rows.append(Row((f"predicted {100 * b.low:.0f}-{100 * b.high:.0f}%",
                                  f"n={b.n}: mean predicted {100 * b.mean_predicted:.1f}%, "
                                  f"observed {100 * b.observed:.1f}% ({100 * iv.low:.1f}% to "
                                  f"{100 * iv.high:.1f}%)")))
        plots += (
            Plot("roc", "ROC of the risk at the index biopsy against the next pregnancy",
                 {"fpr": list(roc.fpr), "tpr": list(roc.tpr), "auc": auc.estimate,
                  "low": auc.low, "high": auc.high,
                  "points": [{"label": name, "fpr": 1 - c.specificity.estimate,
                              "tpr": c.sensitivity.estimate}
                             for name, c in (("clinic call", co), ("screening call", sco))
                             if c.sensitivity is not None and c.specificity is not None]},
                 caption="Empirical ROC of the risk the model gave at each woman's index "
                         "biopsy; AUC with DeLong's 95% interval; dots: the index calls."),
            Plot("calibration", "Calibration of the risk at the index biopsy",
                 {"bins": [{"predicted": b.mean_predicted, "observed": b.observed, "n": b.n,
                            "low": clopper_pearson(round(b.observed * b.n), b.n).low,
                            "high": clopper_pearson(round(b.observed * b.n), b.n).high}
                           for b in calib.table]},
                 caption=f"Women grouped by predicted risk ({CALIBRATION_BINS} equal bins); "
                         "observed share of losses with its exact 95% interval; the "
                         "diagonal is perfect calibration."))
    discrimination = Table("Risk at the index biopsy against the next pregnancy",
                           ("measure", "value"), tuple(disc_rows),
                           empty="Not estimable: the next pregnancies known after an index "
                                 "biopsy are not both losses and live births.")

    centiles, cplot = _centile_table(records, group_of, dict(screening_components or {}))
    if cplot["markers"]:
        plots += (Plot("centile_groups", "Marker centiles by study group", cplot,
                       caption="Each stored screening component's centile for its day, by "
                               "study group (box: 25th to 75th; line: median)."),)
    trial_table, tplot = _trial_table(list(trials or ()))
    if tplot["panels"]:
        plots += (Plot("arms", "Intervention arms before and after", tplot,
                       caption="Each woman's marker at the biopsy before and the biopsy "
                               "after the start, by arm; the arm effect adjusted for "
                               "baseline and age above each panel."),)
    inputs = {"records": list(records), "groups": dict(sorted(group_of.items())),
              "screening_calls": dict(sorted(screening_calls.items())), "on": on,
              "screening_components": dict(sorted((screening_components or {}).items())),
              "trials": list(trials or ())}
    foot = footer(versions=[("risk model", model.model_version)],
                  checksums=[("records", sha256_of(inputs))], generated_at=generated_at,
                  decidua_version=decidua_version)
    return CohortReport(subject=f"{len(records)} women (pseudonymised)",
                        assessed_on=on.isoformat(), n_women=len(records),
                        n_biopsies=sum(len(r.biopsies) for r in records), groups=group_table,
                        calls=calls, risk=risk_table, call_outcome=co, accuracy=accuracy,
                        screening_accuracy=screening_accuracy, discrimination=discrimination,
                        auc=auc, centiles=centiles, trials=trial_table, plots=plots,
                        footer=foot, risk_model_version=model.model_version)
