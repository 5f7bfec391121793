"""`decidua trial analyse MARKER`: the cohort arm effect on one stored marker."""

from __future__ import annotations

import typer

app = typer.Typer(help="Cohort trial analysis over stored results.", no_args_is_help=True)


@app.command("analyse")
def analyse_command(
    marker: str = typer.Argument(..., help="cfu, unk, or a qPCR marker (its ΔCq)."),
    family: str = typer.Option(None, "--family",
                               help="poisson, negbin or linear (default: negbin for cfu/unk, "
                                    "linear otherwise)."),
    treated: str = typer.Option(None, "--treated",
                                help="The treated arm's trial_arm text (default: every arm "
                                     "not containing 'placebo')."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Arm effect on a marker's follow-up value, adjusted for baseline and age (rate ratio
    for counts, difference for continuous markers), over women with a biopsy before and after
    a trial intervention.

    Example: decidua trial analyse cfu --json
    """
    from decidua.cli.output import console, echo_json
    from decidua.services.trial import analyse_trial
    from decidua.store.session import session_scope

    with session_scope() as s:
        doc = analyse_trial(s, marker, family=family, treated=treated)
    if as_json:
        echo_json(doc)
        return
    e = doc["effect"]
    console.print(f"{doc['marker']}: {doc['model']}; n = {doc['n']} "
                  f"(treated {', '.join(doc['treated_arms'])}; control "
                  f"{', '.join(doc['control_arms']) or '-'})")
    console.print(f"  {doc['scale']} {e['estimate']:.3g} ({100 * e['level']:.0f}% "
                  f"{e['low']:.3g}-{e['high']:.3g}), p = {doc['p_value']:.3g}")
    for x in doc["excluded"]:
        console.print(f"  excluded {x['patient']}: {x['reason']}")
    console.print(doc["label"])
