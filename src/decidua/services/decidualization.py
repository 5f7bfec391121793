"""A biopsy's decidualization time course from its stored ELISA results, and its class.

The culture table is built from the biopsy's stored ELISA results (kind ``elisa``,
or, stored before schema revision 0008, ``decidualization`` with ``values.assay ==
"elisa"``; written by ``decidua import elisa``): culture
= biopsy code, marker = analyte, day = culture day, value = concentration.
Rows on day 0 are always used (the untreated baseline); rows on later days only
when their treatment is ``treatment`` (default ``cAMP+MPA``, compared without
case or spaces). Results with no concentration (beyond an asymptote) are left
out and named in ``warnings``; flagged ones (e.g. ``below_lloq``) are used and
named. Several results of one analyte on one day (re-imports of other plates)
are averaged as replicates.

``save=True`` stores the summary (and the call, with a reference) as a new
result of kind ``decidualization`` (``values.assay == "time_course"``) whose
``analysis_version`` names the reference; results are only ever added.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from decidua.domain import is_elisa_result
from decidua.errors import InputError, NotFoundError
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from decidua.assays.decidualization import DecidualizationReference

ANALYSIS_VERSION = "decidua.assays.decidualization/1"


def _norm(t: str | None) -> str:
    return "".join((t or "").lower().split())


def stored_course(
    session: Session,
    actor: str,
    code: str,
    *,
    reference: DecidualizationReference | None = None,
    treatment: str = "cAMP+MPA",
    save: bool = False,
) -> dict[str, Any]:
    """Time course (and class, with a reference) of one biopsy's stored ELISA results.

    Raises
    ------
    NotFoundError
        No biopsy with that code.
    InputError
        No stored ELISA result usable (none, or no day-0 baseline).
    """
    import pandas as pd
    from sqlalchemy import select

    from decidua.assays.decidualization import time_courses
    from decidua.store import audit
    from decidua.store import models as m

    require_schema(session)
    b = session.scalar(select(m.Biopsy).where(m.Biopsy.code == code))
    if b is None:
        raise NotFoundError(f"no biopsy {code!r}")
    results = list(session.scalars(select(m.AssayResult).where(
        m.AssayResult.biopsy_id == b.id,
        m.AssayResult.kind.in_(("elisa", "decidualization"))).order_by(m.AssayResult.id)))
    rows, used, warnings = [], [], []
    for r in results:
        v = r.values or {}
        if not is_elisa_result(r.kind, v):
            continue
        day = v.get("culture_day")
        if day is None:
            continue
        if day > 0 and _norm(v.get("treatment")) != _norm(treatment):
            continue
        if v.get("concentration") is None:
            warnings.append(f"result {r.id} ({v.get('analyte')} day {day:g}, sample "
                            f"{v.get('sample')}): no concentration ({v.get('flag')}), left out")
            continue
        if v.get("flag"):
            warnings.append(f"result {r.id} ({v.get('analyte')} day {day:g}, sample "
                            f"{v.get('sample')}): used with flag {v['flag']}")
        rows.append((code, str(v.get("analyte")), float(day), float(v["concentration"])))
        used.append(r.id)
    if not rows:
        raise InputError(f"biopsy {code!r} has no stored ELISA result for a time course "
                         "(import them with `decidua import elisa`)")
    frame = pd.DataFrame(rows, columns=["culture", "marker", "day", "value"])
    (course,) = time_courses(frame)
    call = reference.classify(course) if reference is not None else None
    doc: dict[str, Any] = {"biopsy": code, "treatment": treatment, "course": course.to_dict(),
                           "call": None if call is None else call.to_dict(),
                           "reference": None if reference is None else reference.version,
                           "from_results": used, "warnings": warnings, "saved_result_id": None}
    if save:
        from decidua.store.session import lock_for_write

        lock_for_write(session, ("assay_result",))
        ref_label = "none" if reference is None else (reference.version or "unnamed")
        digest = hashlib.sha256(json.dumps(
            [used, reference.to_dict() if reference is not None else None],
            sort_keys=True, default=str).encode()).hexdigest()[:16]
        key = f"course:{digest}"
        existing = session.scalar(select(m.AssayResult).where(
            m.AssayResult.biopsy_id == b.id, m.AssayResult.kind == "decidualization",
            m.AssayResult.result_key == key))
        if existing is None:
            values = {"assay": "time_course", "treatment": treatment,
                      "course": course.to_dict(), "call": doc["call"], "from_results": used,
                      "reference": ref_label}
            res = m.AssayResult(
                biopsy_id=b.id, kind="decidualization", result_key=key, values=values,
                qc_status="pending" if warnings else "pass",
                analysis_version=f"{ANALYSIS_VERSION} reference={ref_label}"[:128],
                derived_from_id=used[-1])
            session.add(res)
            session.flush()
            audit.record(session, actor=actor, action="create", entity="assay_result",
                         entity_id=res.id, entity_key=f"{code}:{key}"[:128],
                         after={"kind": "decidualization", "result_key": key})
            doc["saved_result_id"] = res.id
        else:
            doc["saved_result_id"] = existing.id
    return doc
