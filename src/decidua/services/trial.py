"""Cohort trial analysis over stored results: the arm effect on one marker.

For every intervention recorded with a ``trial_arm``, the woman's *baseline*
biopsy is her latest biopsy dated before the start and her *follow-up* biopsy
her first on or after it (the pairing of ``patient monitor``). The marker's two
values, her age at the start (start year - year of birth) and the arm go into
:func:`decidua.stats.trial.fit_arm_effect`:

- ``cfu``: colonies pooled over the biopsy's count wells, exposure = cells
  seeded at follow-up (negative binomial by default; Tewary et al. 2020);
- ``unk``: CD56+ cells pooled over fields, exposure = stromal cells counted
  (negative binomial by default); both biopsies must share the counting protocol;
- any other name: a qPCR marker's ΔCq (linear).

Arms: ``treated`` names the treated arm's ``trial_arm`` text; without it an arm
whose text contains "placebo" (any case) is control and every other arm treated.
Women without both biopsies or without the marker on both are listed as excluded
with the reason. Read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from decidua import RESEARCH_USE_LABEL
from decidua.errors import InputError, ModelError
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Default model family of each marker kind.
DEFAULT_FAMILY = {"cfu": "negbin", "unk": "negbin"}


def _value(marker: str, rows: list[Any]) -> tuple[float, float | None, str | None] | None:
    """(value, exposure, protocol) of a marker in one biopsy's stored results, or None."""
    from decidua.services.biopsies import pooled_cfu, pooled_unk

    if marker == "cfu":
        p = pooled_cfu([r for r in rows if r.kind == "cfu"])
        return None if p is None else (float(p["colonies"]), float(p["cells_seeded"]), None)
    if marker == "unk":
        fields = [r for r in rows if r.kind == "unk" and "cd56_positive" in r.values
                  and "unk_pct" not in r.values]
        p = pooled_unk(fields)
        if p is None:
            return None
        return (float(sum(int(r.values["cd56_positive"]) for r in fields)),
                float(sum(int(r.values["stromal_cells"]) for r in fields)), p["protocol"])
    for r in reversed(rows):
        if r.kind == "qpcr":
            v = r.values.get("markers", {}).get(marker)
            if v and v.get("delta_cq") is not None:
                return float(v["delta_cq"]), None, None
    return None


def analyse_trial(session: Session, marker: str, *, family: str | None = None,
                  treated: str | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """The ``trial analyse MARKER --json`` document.

    Raises
    ------
    InputError
        An unknown family, or a ``treated`` arm no intervention has.
    ModelError
        Too few paired women (or one arm only) to fit.
    """
    import pandas as pd
    from sqlalchemy import select

    from decidua.services.biopsies import _results_by_biopsy
    from decidua.stats.trial import fit_arm_effect
    from decidua.store import models as m

    require_schema(session)
    fam = family or DEFAULT_FAMILY.get(marker, "linear")
    ivs = session.execute(
        select(m.Intervention, m.Patient.pseudonym, m.Patient.year_of_birth)
        .join(m.Patient, m.Intervention.patient_id == m.Patient.id)
        .where(m.Intervention.trial_arm.is_not(None))
        .order_by(m.Patient.pseudonym, m.Intervention.start_date)).all()
    arms = sorted({iv.trial_arm for iv, _, _ in ivs})
    if treated is not None and treated not in arms:
        raise InputError(f"no intervention has trial arm {treated!r} (arms: "
                         f"{', '.join(arms) or 'none'})", column="treated")
    pids = sorted({iv.patient_id for iv, _, _ in ivs})
    biopsies: dict[int, list[Any]] = {p: [] for p in pids}
    if pids:
        for b in session.scalars(select(m.Biopsy).where(m.Biopsy.patient_id.in_(pids))
                                 .order_by(m.Biopsy.biopsy_date, m.Biopsy.code)):
            biopsies[b.patient_id].append(b)
    results = _results_by_biopsy(session, [b.id for bs in biopsies.values() for b in bs])
    rows, excluded = [], []
    for iv, pseudonym, yob in ivs:
        arm = (int(iv.trial_arm == treated) if treated is not None
               else int("placebo" not in iv.trial_arm.lower()))
        bs = biopsies[iv.patient_id]
        before = [b for b in bs if b.biopsy_date < iv.start_date]
        after = [b for b in bs if b.biopsy_date >= iv.start_date]
        if not before or not after:
            excluded.append({"patient": pseudonym, "reason": "no biopsy before the start"
                             if not before else "no biopsy on or after the start"})
            continue
        bb, ba = before[-1], after[0]
        vb, va = _value(marker, results[bb.id]), _value(marker, results[ba.id])
        if vb is None or va is None:
            excluded.append({"patient": pseudonym,
                             "reason": f"no {marker} result on {(bb if vb is None else ba).code}"})
            continue
        if vb[2] != va[2]:
            excluded.append({"patient": pseudonym, "reason": "counted under different protocols"})
            continue
        rows.append({"participant": pseudonym, "arm": arm, "trial_arm": iv.trial_arm,
                     "age": iv.start_date.year - yob, "baseline": vb[0], "followup": va[0],
                     "exposure": va[1] if va[1] is not None else 1.0,
                     "baseline_biopsy": bb.code, "followup_biopsy": ba.code})
    frame = pd.DataFrame(rows, columns=["participant", "arm", "trial_arm", "age", "baseline",
                                        "followup", "exposure", "baseline_biopsy",
                                        "followup_biopsy"])
    if frame.empty:
        raise ModelError(f"no woman in a trial arm has {marker} before and after the start")
    fit = fit_arm_effect(frame.drop(columns=["trial_arm", "baseline_biopsy",
                                             "followup_biopsy"]),
                         fam, confidence=confidence)
    treated_arms = sorted(set(frame.loc[frame["arm"] == 1, "trial_arm"]))
    control_arms = sorted(set(frame.loc[frame["arm"] == 0, "trial_arm"]))
    return {"marker": marker, "treated_arms": treated_arms, "control_arms": control_arms,
            **fit.to_dict(), "participants": frame.to_dict("records"), "excluded": excluded,
            "label": RESEARCH_USE_LABEL}
