"""Risk and care-pathway use cases: from inputs, for a stored woman, her history.

The science is in :mod:`decidua.risk` and :mod:`decidua.pathway`; this module
turns command inputs and stored records into their arguments and the results
into JSON-ready payloads shared by the CLI and the web application.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decidua import RESEARCH_USE_LABEL
from decidua.domain import DecidualCall, Outcome
from decidua.errors import InputError
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from decidua.domain import PatientRecord
    from decidua.pathway import PathwayResult
    from decidua.risk import BiopsyOutlook, RiskEstimate


@dataclass(frozen=True)
class Assessment:
    """A risk estimate and, when asked for, what one more biopsy could change."""

    estimate: RiskEstimate
    outlook: BiopsyOutlook | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``risk predict --json`` document."""
        out = self.estimate.to_dict()
        o = self.outlook
        if o is not None:
            out["next_biopsy"] = {
                "p_abnormal": o.p_abnormal,
                "if_abnormal": {"p_loss": o.if_abnormal.p_loss,
                                "interval": list(o.if_abnormal.interval)},
                "if_normal": {"p_loss": o.if_normal.p_loss,
                              "interval": list(o.if_normal.interval)},
            }  # fmt: skip
        return out


#: Largest counts accepted from the command line: plausibility bounds for data
#: entry (a woman's reproductive life holds far fewer pregnancies), not published
#: figures. A larger value is a typing error; the model is not extrapolated to it.
MAX_LOSSES = 20
MAX_LIVE_BIRTHS = 20
MAX_BIOPSIES = 20


def check_plausible_counts(losses: int, live_births: int, biopsies: int = 0) -> None:
    """Refuse counts beyond :data:`MAX_LOSSES` / :data:`MAX_LIVE_BIRTHS` / :data:`MAX_BIOPSIES`.

    Raises
    ------
    InputError
        Naming the option and the bound.
    """
    from decidua.errors import Problem

    problems = [
        Problem(f"{value} is not a plausible count (at most {bound})", column=name, value=value)
        for name, value, bound in (
            ("--losses", losses, MAX_LOSSES),
            ("--live-births", live_births, MAX_LIVE_BIRTHS),
            ("--biopsy", biopsies, MAX_BIOPSIES),
        )
        if value > bound
    ]
    if problems:
        raise InputError(problems)


def assess(
    age: float,
    losses: int = 0,
    live_births: int = 0,
    biopsies: Sequence[DecidualCall | str] = (),
    *,
    what_if: bool = False,
    second_trimester_losses: int = 0,
    losses_after_heart_activity: int = 0,
) -> Assessment:
    """Risk of losing the next pregnancy from counts (no database).

    Parameters
    ----------
    age
        Maternal age in years (12-60).
    losses
        Previous consecutive losses.
    live_births
        Live births before the run of losses.
    biopsies
        Clinic calls of pre-pregnancy biopsies.
    what_if
        Also compute the outlook of one more biopsy.
    second_trimester_losses, losses_after_heart_activity
        Of ``losses``: how many were at >= 12 weeks, and how many first-trimester losses
        came after fetal heart activity was seen (scored since model 2026.12-3).

    Raises
    ------
    InputError
        Negative counts, more second-trimester / after-heart-activity losses than
        ``losses``, age outside the model's range, unknown calls.
    """
    from decidua.domain import PregnancyRecord
    from decidua.risk import default_model, predict
    from decidua.risk.model import SECOND_TRIMESTER_WEEKS

    if losses < 0 or live_births < 0:
        raise InputError("--losses and --live-births cannot be negative")
    if second_trimester_losses < 0 or losses_after_heart_activity < 0:
        raise InputError("--second-trimester-losses and --losses-after-heart-activity cannot "
                         "be negative")
    if second_trimester_losses + losses_after_heart_activity > losses:
        raise InputError("--second-trimester-losses and --losses-after-heart-activity are "
                         f"losses of --losses ({losses}): together they cannot exceed it")
    check_plausible_counts(losses, live_births, len(biopsies))
    history: list[Any] = [Outcome.LIVE_BIRTH] * live_births
    if second_trimester_losses or losses_after_heart_activity:
        plain = losses - second_trimester_losses - losses_after_heart_activity
        kinds = ([(SECOND_TRIMESTER_WEEKS, None)] * second_trimester_losses
                 + [(None, True)] * losses_after_heart_activity + [(None, None)] * plain)
        history = [PregnancyRecord(i, o) for i, o in enumerate(history, 1)]
        history += [PregnancyRecord(len(history) + j, Outcome.MISCARRIAGE, g,
                                    fetal_heart_activity=f)
                    for j, (g, f) in enumerate(kinds, 1)]
    else:
        history += [Outcome.MISCARRIAGE] * losses
    calls = list(biopsies)
    est = predict(age, history, calls)
    outlook = default_model().biopsy_outlook(age, history, calls) if what_if else None
    return Assessment(est, outlook)


@dataclass(frozen=True)
class PatientAssessment:
    """The risk of a stored woman on a day; ``saved`` when it was stored."""

    record: PatientRecord
    estimate: RiskEstimate
    on: dt.date
    saved: bool
    #: Per biopsy: the call used and its source (computed / clinic), and how much it
    #: moved the estimate (``decidua.services.biopsies.calls_for_risk``).
    biopsies: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``risk patient --json`` document."""
        return {"patient_id": self.record.patient_id, **self.estimate.to_dict(),
                "biopsy_calls": list(self.biopsies)}


def check_model_age(record: Any, day: dt.date) -> None:
    """Refuse, naming the woman and the day, an age on ``day`` that the risk model does not
    cover (the model's own message names only an ``age`` value).

    Raises
    ------
    InputError
        If her age on ``day`` is outside :data:`decidua.risk.model.MIN_AGE`-``MAX_AGE``.
    """
    from decidua.risk.model import MAX_AGE, MIN_AGE

    age = record.age_on(day)
    if not MIN_AGE <= age <= MAX_AGE:
        # no year of birth or exact age in the text: the web shows it to researchers too
        raise InputError(
            f"{record.patient_id}: her age on {day.isoformat()} is outside the ages the risk "
            f"model covers ({MIN_AGE:g}-{MAX_AGE:g} years); check her year of birth"
            f"{' or the assessment day' if day != dt.date.today() else ''}")


def assess_patient(
    session: Session,
    actor: str,
    patient_id: str,
    *,
    save: bool = False,
    on: dt.date | None = None,
) -> PatientAssessment:
    """Risk for a stored woman: age on ``on`` (default today), full history,
    untreated biopsies with a clinic call; stored with its inputs when ``save``.

    Raises
    ------
    NotFoundError
        For an unknown id.
    InputError
        If the schema is missing or out of date, or her age on ``on`` is outside the
        risk model's range.
    """
    from decidua.risk import predict_record
    from decidua.services.biopsies import biopsy_contributions, calls_for_risk
    from decidua.services.patients import load_record
    from decidua.store.assessments import save_assessment

    day = on or dt.date.today()
    record = load_record(session, patient_id)
    # each biopsy's computed call where one exists, else its typed clinic call
    record, calls = calls_for_risk(session, record)
    check_model_age(record, day)
    est = predict_record(record, day)
    biopsy_contributions(record, calls, day, predict_record)
    if save:
        save_assessment(session, record, {**est.to_dict(), "biopsy_calls": calls}, on=day,
                        actor=actor)
    return PatientAssessment(record, est, day, save, tuple(calls))


@dataclass(frozen=True)
class RiskHistory:
    """A woman's stored assessments, oldest first."""

    patient_id: str
    assessments: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The ``risk history --json`` document."""
        return {
            "patient_id": self.patient_id,
            "assessments": self.assessments,
            "label": RESEARCH_USE_LABEL,
        }


def risk_history(session: Session, actor: str, patient_id: str) -> RiskHistory:
    """Stored risk assessments of a woman: ``at, by, model_version, p_loss, interval``.

    Raises
    ------
    NotFoundError
        For an unknown id.
    """
    from decidua.services.patients import stored_patient
    from decidua.store.assessments import list_assessments

    stored_patient(session, patient_id)  # NotFoundError for an unknown id
    rows = [
        {
            "at": a.created_at.isoformat(),
            "by": a.actor,
            "model_version": a.model_version,
            "p_loss": a.p_loss,
            "interval": [a.interval_low, a.interval_high],
        }
        for a in list_assessments(session, patient_id)
    ]
    return RiskHistory(patient_id, rows)


def pathway_for_patient(
    session: Session,
    actor: str,
    patient_id: str,
    *,
    pregnant: bool = False,
    bleeding: bool = False,
    intrauterine_confirmed: bool = False,
    research_biopsy: bool | None = None,
) -> PathwayResult:
    """Next care steps for a stored woman, with the guideline line behind each.

    Parameters
    ----------
    pregnant, bleeding
        She is pregnant now; pregnant and bleeding now.
    intrauterine_confirmed
        A scan has confirmed an intrauterine pregnancy (NICE NG126 1.5.2: progesterone is
        offered for bleeding only then; otherwise the step is "confirm by scan").
    research_biopsy
        The clinic runs a research biopsy programme (``None``: the rule file's default).

    Raises
    ------
    NotFoundError
        For an unknown id.
    """
    from decidua.pathway import next_steps
    from decidua.services.patients import load_record

    record = load_record(session, patient_id)
    return next_steps(
        record,
        pregnant=pregnant,
        early_pregnancy_bleeding=bleeding,
        intrauterine_pregnancy_confirmed=intrauterine_confirmed,
        research_biopsy_available=research_biopsy,
    )


#: Step statuses that mean "still to do" for the patient-list filter.
DUE_STATUSES = frozenset({"recommended", "plan"})


def pathway_step_choices() -> list[tuple[str, str]]:
    """``(rule id, step text)`` of every care rule a woman can have due (the list filter's
    choices; "not recommended" rules are left out)."""
    from decidua.pathway import default_rules

    return [(r.id, r.step) for r in default_rules().rules if r.kind != "not_recommended"]


def check_step(step_id: str) -> None:
    """Raise :class:`InputError` unless ``step_id`` is a care rule's id."""
    from decidua.pathway import default_rules

    if step_id not in {r.id for r in default_rules().rules}:
        raise InputError(f"unknown pathway step {step_id!r}", column="step", value=step_id)


def due_steps(
    session: Session, actor: str, *, on: dt.date | None = None,
    patients: Collection[str] | None = None,
) -> dict[str, frozenset[str]]:
    """For each woman (all, or the ids in ``patients``; unknown ids are left out): the
    ids of the care-pathway steps still to do (:data:`DUE_STATUSES`), assessed on ``on``.

    Her pathway reads only her own record (row, pregnancies, investigations, biopsies,
    interventions), so a caller may keep this map and recompute only the women
    :func:`~decidua.services.patients.patients_changed_since` names. Records are loaded
    in one query per relation (no query per woman).
    """  # fmt: skip
    from decidua.pathway import default_rules, next_steps
    from decidua.services.patients import patients_query
    from decidua.store import models as m
    from decidua.store.records import to_record

    require_schema(session)
    rules = default_rules()
    query = patients_query()
    if patients is not None:
        if not patients:
            return {}
        query = query.where(m.Patient.pseudonym.in_(list(patients)))
    out = {}
    for p in session.scalars(query):
        res = next_steps(to_record(p), on=on, rules=rules)
        first: dict[str, str] = {}
        for step in res.steps:  # a step's status is its first listing's (``res.step``)
            first.setdefault(step.id, step.status)
        out[p.pseudonym] = frozenset(k for k, v in first.items() if v in DUE_STATUSES)
    return out
