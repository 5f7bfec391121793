"""Intervention monitoring: for each intervention with a biopsy before and after it,
every marker before/after with the change and its interval, the call and the risk.

Decidua records interventions and compares assays before and after; it never
recommends one (research use only; not a diagnostic device).

Pairing: the *before* biopsy is her latest biopsy dated before the intervention's
start; the *after* biopsy is her first biopsy dated on or after the start (during
or after the course). Changes are after - before:

- CFU: the rate ratio of colony-forming rates after/before with its exact
  conditional (Clopper-Pearson) interval (``decidua.assays.clonogenicity.stats.
  compare_rates``; Tewary et al. 2020 analysed CFU counts as rates);
- uNK %: the difference in percentage points with a Wald interval from the two
  beta-binomial intervals (their half-widths combined in quadrature) and, where
  both have a centile against the same reference, the centile shift;
- qPCR markers: the ΔCq change (no interval: ΔCq carries technical replicate SDs
  only, not a biological interval) and the centile shift;
- timing: the offset of the estimated from the reported LH day, before and after.

The call is each biopsy's newest stored call (computed now when none is stored).
The risk *before* uses her history and the calls of untreated biopsies up to the
before biopsy; *after* adds the after biopsy's call even when it was taken on
treatment (the risk model leaves treated biopsies out; the note says so).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from decidua import RESEARCH_USE_LABEL

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Normal quantile of a 95 % interval (for the uNK difference).
Z95 = 1.959963984540054


def _call_doc(session: Session, code: str, stored: dict[int, Any], bid: int) -> dict[str, Any]:
    from decidua.services.biopsies import compute_call

    c = stored.get(bid)
    if c is not None:
        return {"call": c.call, "reasons": list(c.reasons), "components": list(c.components),
                "evidence": c.evidence, "stored": True, "call_id": c.id}
    d = compute_call(session, code)
    return {"call": d["call"], "reasons": d["reasons"], "components": d["components"],
            "evidence": d["evidence"], "stored": False, "call_id": None}


def _component(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in doc["components"] if c["name"] == name), None)


def _shift(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or a.get("centile") is None or b.get("centile") is None:
        return None
    if a.get("reference") != b.get("reference"):
        return None
    return round(b["centile"] - a["centile"], 4)


def _markers(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    from decidua.assays.clonogenicity.stats import compare_rates

    out: list[dict[str, Any]] = []
    eb, ea = before["evidence"], after["evidence"]
    cb, ca = eb.get("cfu"), ea.get("cfu")
    if cb or ca:
        row: dict[str, Any] = {"marker": "cfu_pct", "before": cb and cb["cfu_pct"],
                               "after": ca and ca["cfu_pct"], "change": None,
                               "interval": None, "centile_shift": None}
        if cb and ca:
            try:
                rr = compare_rates(cb["colonies"], cb["cells_seeded"], ca["colonies"],
                                   ca["cells_seeded"])
                row["change"] = {"rate_ratio": rr.ratio, "p_value": rr.p_value}
                row["interval"] = rr.interval.to_dict()
            except Exception as exc:  # noqa: BLE001 - no colonies at all: say so
                row["note"] = str(exc)
            row["centile_shift"] = _shift(_component(before, "cfu"), _component(after, "cfu"))
        out.append(row)
    ub, ua = eb.get("unk"), ea.get("unk")
    if ub or ua:
        row = {"marker": "unk_pct", "before": ub and ub["unk_pct"],
               "after": ua and ua["unk_pct"], "change": None, "interval": None,
               "centile_shift": None}
        if ub and ua:
            if ub.get("protocol") != ua.get("protocol"):
                row["note"] = (f"counted under different protocols ({ub.get('protocol')} vs "
                               f"{ua.get('protocol')}): not compared")
            else:
                d = ua["unk_pct"] - ub["unk_pct"]
                hb = (ub["interval"]["high"] - ub["interval"]["low"]) / (2 * Z95)
                ha = (ua["interval"]["high"] - ua["interval"]["low"]) / (2 * Z95)
                se = math.hypot(hb, ha)
                row["change"] = {"difference_points": d}
                row["interval"] = {"estimate": d, "low": d - Z95 * se, "high": d + Z95 * se,
                                   "level": 0.95, "method": "Wald, beta-binomial SEs combined"}
                row["centile_shift"] = _shift(_component(before, "unk"),
                                              _component(after, "unk"))
        out.append(row)
    genes = sorted(set(eb.get("markers", {})) | set(ea.get("markers", {})))
    for g in genes:
        mb, ma = eb.get("markers", {}).get(g), ea.get("markers", {}).get(g)
        row = {"marker": f"{g} dCq", "before": mb and mb["delta_cq"],
               "after": ma and ma["delta_cq"], "change": None, "interval": None,
               "centile_shift": None}
        if mb and ma and mb["delta_cq"] is not None and ma["delta_cq"] is not None:
            row["change"] = {"delta_cq_change": ma["delta_cq"] - mb["delta_cq"]}
            row["centile_shift"] = _shift(mb, ma)
            row["note"] = "no interval: ΔCq carries technical replicate SDs only"
        out.append(row)
    tb, ta = _component(before, "timing"), _component(after, "timing")
    if tb or ta:
        def off(c: dict[str, Any] | None, lh: Any) -> float | None:
            if not c or c.get("value") is None or lh is None:
                return None
            return round(c["value"] - lh, 3)

        out.append({"marker": "timing offset (estimated - reported LH day)",
                    "before": off(tb, eb.get("lh_day")), "after": off(ta, ea.get("lh_day")),
                    "change": None, "interval": None, "centile_shift": None})
    return out


def monitor_patient(session: Session, patient_id: str, *, on: dt.date | None = None
                    ) -> dict[str, Any]:
    """The ``patient monitor --json`` document of one woman.

    Raises
    ------
    NotFoundError
        For an unknown id.
    """
    from sqlalchemy import select

    from decidua.risk import predict_record
    from decidua.services.biopsies import calls_for_risk, latest_calls
    from decidua.services.patients import load_record
    from decidua.store import models as m

    day = on or dt.date.today()
    record = load_record(session, patient_id)
    risk_record, rows = calls_for_risk(session, record)
    calls = {r["biopsy"]: r for r in rows}
    codes = [b.biopsy_id for b in record.biopsies]
    ids = {b.code: b.id for b in session.scalars(
        select(m.Biopsy).where(m.Biopsy.code.in_(codes)))} if codes else {}
    stored = latest_calls(session, list(ids.values()))
    biopsies = sorted(risk_record.biopsies, key=lambda b: (b.biopsy_date, b.biopsy_id))
    out = []
    for iv in record.interventions:
        entry: dict[str, Any] = {
            "kind": iv.kind.value if hasattr(iv.kind, "value") else str(iv.kind),
            "dose": iv.dose, "start_date": iv.start_date.isoformat(),
            "end_date": iv.end_date.isoformat() if iv.end_date else None,
            "trial_arm": iv.trial_arm}
        before = [b for b in biopsies if b.biopsy_date < iv.start_date]
        after = [b for b in biopsies if b.biopsy_date >= iv.start_date]
        if not before or not after:
            entry["comparable"] = False
            entry["note"] = ("no biopsy before the start" if not before
                             else "no biopsy on or after the start")
            out.append(entry)
            continue
        bb, ba = before[-1], after[0]
        db = _call_doc(session, bb.biopsy_id, stored, ids[bb.biopsy_id])
        da = _call_doc(session, ba.biopsy_id, stored, ids[ba.biopsy_id])
        db["evidence"]["lh_day"] = bb.lh_day
        da["evidence"]["lh_day"] = ba.lh_day
        used_before = tuple(b for b in before if calls[b.biopsy_id]["used"])
        p_before = predict_record(dataclasses.replace(risk_record, biopsies=used_before), day)
        with_after = used_before + ((ba,) if ba.clinic_call is not None else ())
        p_after = predict_record(dataclasses.replace(risk_record, biopsies=with_after), day)
        entry.update({
            "comparable": True,
            "before": {"biopsy": bb.biopsy_id, "date": bb.biopsy_date.isoformat(),
                       "lh_day": bb.lh_day, "on_treatment": bb.on_treatment},
            "after": {"biopsy": ba.biopsy_id, "date": ba.biopsy_date.isoformat(),
                      "lh_day": ba.lh_day, "on_treatment": ba.on_treatment},
            "markers": _markers(db, da),
            "call": {"before": db["call"], "after": da["call"],
                     "before_source": calls[bb.biopsy_id]["source"],
                     "after_source": calls[ba.biopsy_id]["source"]},
            "risk": {"before": {"p_loss": p_before.p_loss,
                                "interval": list(p_before.interval)},
                     "after": {"p_loss": p_after.p_loss, "interval": list(p_after.interval)},
                     "change": p_after.p_loss - p_before.p_loss,
                     "note": ("the after biopsy's call counted as one more cycle's evidence"
                              + (" although taken on treatment (the risk model leaves "
                                 "treated biopsies out)" if ba.on_treatment else "")
                              if ba.clinic_call is not None else
                              "the after biopsy has no usable call: risk unchanged")},
        })
        out.append(entry)
    return {"patient_id": record.patient_id, "on": day.isoformat(), "interventions": out,
            "label": RESEARCH_USE_LABEL}
