"""Reference centiles a clinic fits from its own stored results (``decidua reference fit``).

The values are read from the store exactly as the screening call reads them
(:func:`decidua.services.biopsies.biopsy_evidence`): per biopsy the pooled CFU %,
the pooled uNK % of one counting protocol, or the newest ΔCq of a qPCR marker, by
the estimated LH day of a usable timing placement (reported LH day when there is
none or it is asynchronous; the six timing genes always by reported LH day).
Biopsies taken on treatment are left out (they are not the clinic's untreated
population). The fit is stored as
a new :class:`~decidua.store.models.MarkerReference` version; the same fit again
adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Markers with a scale other than ΔCq.
SCALES = {"cfu_pct": "log", "unk_pct": "logit"}


@dataclass
class FitReport:
    """What ``fit_reference`` did."""

    marker: str
    version: str
    stored: bool
    n: int
    day_basis: dict[str, int]
    info: dict[str, Any]
    excluded_on_treatment: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"marker": self.marker, "version": self.version, "stored": self.stored,
                "n": self.n, "day_basis": self.day_basis, "reference": self.info,
                "excluded_on_treatment": self.excluded_on_treatment}


def _stored_values(session: Session, marker: str, protocol: str | None
                   ) -> tuple[list[float], list[float], dict[str, int], int]:
    from sqlalchemy import select

    from decidua.services.biopsies import (
        TIMING_GENE_SET,
        References,
        _results_by_biopsy,
        biopsy_evidence,
    )
    from decidua.store import models as m

    biopsies = list(session.scalars(select(m.Biopsy).order_by(m.Biopsy.code)))
    treated = sum(1 for b in biopsies if b.on_treatment)
    biopsies = [b for b in biopsies if not b.on_treatment]
    results = _results_by_biopsy(session, [b.id for b in biopsies])
    refs = References({}, {}, None)
    days, values, basis = [], [], {}
    seen: set[str] = set()  # markers stored, to name them when MARKER is not one
    for b in biopsies:
        _, snap = biopsy_evidence(b, results[b.id], refs)
        day, how = snap["day"], snap["day_basis"]
        seen.update(snap["markers"])
        seen.update(k for k in ("cfu", "unk") if snap.get(k))
        if marker == "cfu_pct":
            v = (snap.get("cfu") or {}).get("cfu_pct")
        elif marker == "unk_pct":
            u = snap.get("unk") or {}
            v = u.get("unk_pct") if u.get("protocol") == protocol else None
        else:
            v = (snap["markers"].get(marker) or {}).get("delta_cq")
            if marker.upper() in TIMING_GENE_SET:
                day, how = b.lh_day, "by LH day"
        if v is None or day is None:
            continue
        days.append(float(day))
        values.append(float(v))
        basis[how] = basis.get(how, 0) + 1
    known = {"cfu_pct" if k == "cfu" else "unk_pct" if k == "unk" else k for k in seen}
    if not days and marker not in known:
        raise InputError(f"no stored results of marker {marker!r} (at least 30 are needed "
                         f"for centiles); stored markers: {', '.join(sorted(known)) or 'none'}",
                         column="marker", value=marker)
    return days, values, basis, treated


def fit_reference(
    session: Session,
    actor: str,
    marker: str,
    *,
    protocol: str | None = None,
    population: str = "clinic population (this clinic's stored untreated biopsies)",
    source_file: str | Path | None = None,
    day_column: str = "day",
    value_column: str | None = None,
) -> FitReport:
    """Fit and store a clinic reference of ``marker`` (from stored results or a file).

    Parameters
    ----------
    marker
        ``cfu_pct``, ``unk_pct`` or a qPCR marker (``PRL``, ``DIO2``, ``IGFBP1``, ...).
    protocol
        Counting protocol (required for ``unk_pct``: references never mix protocols).
    source_file
        Fit from a CSV/XLSX instead (columns ``day_column`` and ``value_column``,
        default the marker's name), e.g. a published training set.

    Raises
    ------
    InputError
        ``unk_pct`` without a protocol, a file without the columns.
    decidua.errors.ModelError
        Fewer than 30 values (or 3 days) to fit.
    """
    from sqlalchemy import select

    from decidua.reference.centiles import DayCentiles, ReferenceInfo
    from decidua.store import audit
    from decidua.store import models as m

    require_schema(session)
    if marker == "unk_pct" and not protocol:
        raise InputError("reference fit unk_pct needs --protocol (uNK references are never "
                         "pooled across counting protocols)")
    treated = 0
    if source_file is not None:
        from decidua.io.readers import read_table

        table = read_table(source_file)  # headers normalised: lower case, "_" for spaces
        day_column = day_column.strip().lower().replace(" ", "_")
        col = (value_column or marker).strip().lower().replace(" ", "_")
        missing = [c for c in (day_column, col) if c not in table.columns]
        if missing:
            raise InputError(f"needs the columns {day_column}, {col} (missing: "
                             f"{', '.join(missing)})", file=table.path)
        days, values = [], []
        for row_no, row in table.rows:
            try:
                days.append(float(row[day_column]))
                values.append(float(row[col]))
            except (TypeError, ValueError):
                raise InputError("not a number", file=table.path, row=row_no,
                                 column=day_column) from None
        basis = {f"file column {day_column}": len(days)}
        source = f"file {Path(source_file).name} sha256:{table.sha256[:12]}"
    else:
        days, values, basis, treated = _stored_values(session, marker, protocol)
        source = "clinic fit from stored results"
    time_basis = "lh_day" if marker.upper() in {"IL2RB", "IGFBP1", "CXCL14", "DPP4", "GPX3",
                                                "SLC15A2"} else "estimated_lh_day"
    info = ReferenceInfo(marker, source, population, protocol or "as stored",
                         time_basis, "clinic-population centile (clinic fit)")
    ref = DayCentiles(info, SCALES.get(marker, "identity")).fit(days, values)
    version = ref.version
    exists = session.scalar(select(m.MarkerReference).where(
        m.MarkerReference.marker == marker, m.MarkerReference.version == version))
    stored = False
    if exists is None:
        row = m.MarkerReference(marker=marker, version=version[:64],
                                protocol=(protocol or "as stored")[:128], n=len(days),
                                data=ref.to_dict(), actor=actor)
        session.add(row)
        session.flush()
        audit.record(session, actor=actor, action="create", entity="marker_reference",
                     entity_id=row.id, entity_key=version[:128],
                     after={"marker": marker, "n": len(days)})
        stored = True
    return FitReport(marker, version, stored, len(days), basis, ref.summary(), treated)
