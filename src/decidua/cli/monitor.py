"""`decidua patient monitor ID`: markers, call and risk before/after each intervention."""

from __future__ import annotations

import typer


def monitor_command(
    patient_id: str = typer.Argument(..., help="Pseudonymous patient id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Each intervention with a biopsy before and after: every marker before/after with the
    change and its interval, the call and the risk before/after.

    Example: decidua patient monitor DEC-0007 --json
    """
    from decidua.cli.output import console, echo_json
    from decidua.services.monitor import monitor_patient
    from decidua.store.session import session_scope

    with session_scope() as s:
        doc = monitor_patient(s, patient_id)
    if as_json:
        echo_json(doc)
        return
    console.print(f"Patient {doc['patient_id']}: {len(doc['interventions'])} interventions")
    for iv in doc["interventions"]:
        head = f"{iv['kind']} from {iv['start_date']}" + (
            f" ({iv['trial_arm']})" if iv.get("trial_arm") else "")
        if not iv["comparable"]:
            console.print(f"  {head}: not compared — {iv['note']}")
            continue
        b, a = iv["before"], iv["after"]
        console.print(f"  {head}: {b['biopsy']} ({b['date']}) -> {a['biopsy']} ({a['date']})")
        console.print(f"    call {iv['call']['before']} -> {iv['call']['after']}; risk "
                      f"{100 * iv['risk']['before']['p_loss']:.1f}% -> "
                      f"{100 * iv['risk']['after']['p_loss']:.1f}%")
        for mk in iv["markers"]:
            ch, ivl = mk.get("change"), mk.get("interval")
            txt = ""
            if ch:
                k, v = next(iter(ch.items()))
                txt = f"{k} {v:.3g}"
                if ivl:
                    txt += f" (95% {ivl['low']:.3g}-{ivl['high']:.3g})"
            if mk.get("centile_shift") is not None:
                txt += f", centile shift {100 * mk['centile_shift']:+.0f}"
            fmt = (lambda x: "-" if x is None else f"{x:.3g}")  # noqa: E731
            console.print(f"    {mk['marker']}: {fmt(mk['before'])} -> {fmt(mk['after'])} {txt}")
    console.print(doc["label"])
