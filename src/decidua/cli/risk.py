"""`decidua risk …` and `decidua pathway …` commands: formatting over
:mod:`decidua.services.risk`.

Every printed risk carries its 95% credible interval and the research-use label.
"""

from __future__ import annotations

from typing import Annotated

import typer

from decidua import RESEARCH_USE_LABEL
from decidua.cli.output import console, echo_json
from decidua.domain import DecidualCall

app = typer.Typer(help="Recurrence-risk commands.", no_args_is_help=True)
pathway_app = typer.Typer(help="Care-pathway commands.", no_args_is_help=True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _print_estimate(est, header: str | None = None) -> None:  # type: ignore[no-untyped-def]
    lo, hi = est.interval
    if header:
        console.print(header)
    console.print(
        f"Risk of losing the next pregnancy: {_pct(est.p_loss)} "
        f"(95% credible interval {_pct(lo)} to {_pct(hi)})"
    )
    console.print(
        f"Share of this risk: embryonic (age-related) {_pct(est.components.embryonic)}, "
        f"non-embryonic (all other causes) {_pct(est.components.non_embryonic)}"
    )
    console.print(est.interval_meaning)
    ev = est.evidence
    console.print(
        f"Inputs: age {est.age:.1f}; losses {ev.n_losses_total}; live births "
        f"{ev.n_live_births_total}; biopsies abnormal {ev.n_biopsy_abnormal}, normal "
        f"{ev.n_biopsy_normal}. Model {est.model_version}."
    )
    console.print(RESEARCH_USE_LABEL)


@app.command("predict")
def predict_cmd(
    age: Annotated[float, typer.Option("--age", help="Maternal age in years (12-60).")],
    losses: Annotated[int, typer.Option("--losses", help="Previous consecutive losses.")] = 0,
    live_births: Annotated[
        int, typer.Option("--live-births", help="Live births before the run of losses.")
    ] = 0,
    biopsy: Annotated[
        list[DecidualCall] | None,
        typer.Option("--biopsy", help="Clinic call of a pre-pregnancy biopsy (repeatable)."),
    ] = None,
    what_if: Annotated[
        bool, typer.Option("--what-if", help="Also show what one more biopsy could change.")
    ] = False,
    second_trimester: Annotated[
        int, typer.Option("--second-trimester-losses",
                          help="Of --losses: how many at 12 weeks or later.")
    ] = 0,
    after_heart: Annotated[
        int, typer.Option("--losses-after-heart-activity",
                          help="Of --losses: first-trimester losses after fetal heart "
                               "activity was seen.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Risk of losing the next pregnancy, with a 95% credible interval.

    Example: decidua risk predict --age 34 --losses 3 --biopsy abnormal --biopsy normal --json
    """
    from decidua.services.risk import assess

    res = assess(age, losses, live_births, list(biopsy or []), what_if=what_if,
                 second_trimester_losses=second_trimester,
                 losses_after_heart_activity=after_heart)
    if as_json:
        echo_json(res.to_dict())
        return
    est, outlook = res.estimate, res.outlook
    _print_estimate(est)
    if outlook is not None:
        for name, e in (("abnormal", outlook.if_abnormal), ("normal", outlook.if_normal)):
            console.print(
                f"If one more biopsy is called {name}: {_pct(e.p_loss)} "
                f"(95% credible interval {_pct(e.interval[0])} to {_pct(e.interval[1])})"
            )
        console.print(
            f"Chance the next call is abnormal: {_pct(outlook.p_abnormal)}. " + RESEARCH_USE_LABEL
        )


@app.command("patient")
def patient_cmd(
    patient_id: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    save: Annotated[
        bool, typer.Option("--save", help="Store the assessment with its inputs (audited).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Risk of losing the next pregnancy for a stored woman (age today, full history,
    untreated biopsies with a clinic call).

    Example: decidua risk patient P001 --json
    """
    from decidua.cli.core import actor
    from decidua.services.risk import assess_patient
    from decidua.store.session import session_scope

    with session_scope() as session:
        res = assess_patient(session, actor(), patient_id, save=save)
    if as_json:
        echo_json(res.to_dict())
    else:
        _print_estimate(res.estimate, header=f"Patient {res.record.patient_id}")
        for b in res.biopsies:
            moved = (f": {100 * b['p_loss_before']:.1f}% -> {100 * b['p_loss_after']:.1f}% "
                     f"({100 * b['change']:+.1f} points)" if "change" in b else "")
            console.print(f"  biopsy {b['biopsy']} ({b['biopsy_date']}): "
                          f"{b['call'] or 'no call'} [{b['note']}]{moved}")
        if save:
            console.print("Assessment stored.")


@app.command("history")
def history_cmd(
    patient_id: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stored risk assessments of a woman (oldest first), each with its model version.

    Example: decidua risk history P001
    """
    from decidua.cli.core import actor
    from decidua.services.risk import risk_history
    from decidua.store.session import session_scope

    with session_scope() as session:
        hist = risk_history(session, actor(), patient_id)
    if as_json:
        echo_json(hist.to_dict())
        return
    rows = hist.assessments
    if not rows:
        console.print(f"No stored assessments for {patient_id}.")
    for r in rows:
        lo, hi = r["interval"]
        console.print(
            f"{r['at'][:16]}  {_pct(r['p_loss'])} ({_pct(lo)} to {_pct(hi)})"
            f"  model {r['model_version']}  by {r['by']}"
        )
    console.print(RESEARCH_USE_LABEL)


@pathway_app.command("patient")
def pathway_patient_cmd(
    patient_id: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    pregnant: Annotated[bool, typer.Option("--pregnant", help="She is pregnant now.")] = False,
    bleeding: Annotated[
        bool, typer.Option("--bleeding", help="She is pregnant and bleeding now.")
    ] = False,
    scan_confirmed_iup: Annotated[
        bool,
        typer.Option(
            "--scan-confirmed-iup",
            help="A scan has confirmed an intrauterine pregnancy (needed before progesterone "
            "is offered for bleeding, NICE NG126 1.5.2).",
        ),
    ] = False,
    research_biopsy: Annotated[
        bool | None,
        typer.Option(
            "--research-biopsy/--no-research-biopsy",
            help="The clinic runs a research biopsy programme (default: rule file).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Next care steps for a stored woman, with the guideline line behind each.

    Example: decidua pathway patient P001 --research-biopsy
    """
    from decidua.cli.core import actor
    from decidua.services.risk import pathway_for_patient
    from decidua.store.session import session_scope

    with session_scope() as session:
        res = pathway_for_patient(
            session, actor(), patient_id, pregnant=pregnant, bleeding=bleeding,
            intrauterine_confirmed=scan_confirmed_iup, research_biopsy=research_biopsy,
        )  # fmt: skip
    if as_json:
        echo_json(res.to_dict())
        return
    console.print(
        f"Patient {res.patient_id}: {res.losses} loss(es), {res.stage} (rules {res.rules_version})"
    )
    titles = {
        "care": "Care",
        "investigation": "Investigations",
        "treatment": "Treatment",
        "research": "Research",
        "not_recommended": "Not recommended outside research",
    }
    for kind, title in titles.items():
        steps = res.by_kind(kind)
        if not steps:
            continue
        console.print(f"\n{title}:")
        for s in steps:
            mark = {"done": "[done] ", "offer": "[offer] "}.get(s.status, "")
            console.print(f"  - {mark}{s.text}")
            console.print(f"      source: {s.line}")
    if res.missing:
        console.print("\nMissing from the record: " + "; ".join(res.missing))
    console.print("\n" + RESEARCH_USE_LABEL)
