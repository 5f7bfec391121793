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
                "accuracy": self.accuracy.to_dict(), "footer": self.footer.to_dict(),
                "label": self.label}


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
    dated = sorted((p for p in record.pregnancies if p.outcome_date), key=lambda p: p.outcome_date)
    best = None
    for b in sorted(record.biopsies, key=lambda b: b.biopsy_date):
        if b.on_treatment or b.clinic_call is None:
            continue
        nxt = next((p for p in dated if p.outcome_date > b.biopsy_date), None)
        if nxt is None:
            continue
        best = (b, nxt)  # biopsies by date: the last one kept
    if best is None:
        return None
    return best[0].clinic_call.value, best[1].outcome


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
    tally: Counter[tuple[str, str]] = Counter()
    for r in records:
        found = index_call(r)
        if found is None:
            continue
        call, outcome = found
        if outcome in domain.LOSS_OUTCOMES:
            tally[(call, "loss")] += 1
        elif outcome is domain.Outcome.LIVE_BIRTH:
            tally[(call, "birth")] += 1
    co = CallOutcome(tally[("abnormal", "loss")], tally[("abnormal", "birth")],
                     tally[("normal", "loss")], tally[("normal", "birth")])
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

    plots = (Plot("risk_hist", "Risk of losing the next pregnancy by study group",
                  {"groups": {g: [p[i] for i, r in enumerate(records)
                                  if group_of[r.patient_id] == g] for g in names}},
                  caption="Histogram of each woman's risk on the assessment day."),)
    inputs = {"records": list(records), "groups": dict(sorted(group_of.items())),
              "screening_calls": dict(sorted(screening_calls.items())), "on": on}
    foot = footer(versions=[("risk model", model.model_version)],
                  checksums=[("records", sha256_of(inputs))], generated_at=generated_at,
                  decidua_version=decidua_version)
    return CohortReport(subject=f"{len(records)} women (pseudonymised)",
                        assessed_on=on.isoformat(), n_women=len(records),
                        n_biopsies=sum(len(r.biopsies) for r in records), groups=group_table,
                        calls=calls, risk=risk_table, call_outcome=co, accuracy=accuracy,
                        plots=plots, footer=foot, risk_model_version=model.model_version)
