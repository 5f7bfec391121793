"""Biopsy results: import a qPCR plate onto biopsies, place them in time, show a biopsy.

``import_qpcr`` reads one plate (one run = one batch), maps its samples to
biopsies, stores each biopsy's marker ΔCq as an assay result of kind ``qpcr``
(file + SHA-256, importer version) and places the biopsies that have all six
timing genes on the timing reference (default: the one shipped with Decidua),
stored as a result of kind ``timing`` derived from the qPCR result. Results are
only ever added: the same plate imported again adds nothing; a newer reference
adds a new placement beside the old one.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError, NotFoundError, Problem
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from decidua.assays.timing import TimingReference

#: Version of the qPCR importer (stored on every result it writes).
IMPORTER_VERSION = "decidua.io.qpcr/1"
#: A placement whose plate could not be brought onto the reference (too few
#: biopsies on the plate to estimate its shift, no inter-run calibrator).
UNCALLABLE_BATCH = "unknown (no shift)"


@dataclass
class QpcrImportReport:
    """What ``import_qpcr`` did (or would do, in a dry run)."""

    file: str
    sha256: str
    batch: str
    reference_genes: tuple[str, ...]
    reference_version: str | None
    biopsies: list[dict[str, Any]] = field(default_factory=list)
    unmapped_samples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inserted: int = 0
    unchanged: int = 0
    dry_run: bool = False
    import_run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "sha256": self.sha256, "batch": self.batch,
            "reference_genes": list(self.reference_genes),
            "reference_version": self.reference_version, "biopsies": self.biopsies,
            "unmapped_samples": self.unmapped_samples, "warnings": self.warnings,
            "inserted": self.inserted, "unchanged": self.unchanged, "dry_run": self.dry_run,
            "import_run_id": self.import_run_id,
        }


def plate_batch(sha256: str) -> str:
    """The batch label of a plate: one run = one batch (EndoTime corrects batches)."""
    return f"qpcr-{sha256[:12]}"


def default_reference_version() -> str:
    """``default <model version> sha256:<first 12 of reference.json>``."""
    from decidua.assays.timing import default_reference_path

    data = Path(default_reference_path()).read_bytes()
    return f"default sha256:{hashlib.sha256(data).hexdigest()[:12]}"


def read_biopsy_map(path: str | Path) -> tuple[str, dict[str, tuple[str, int]]]:
    """``sample, biopsy_id`` CSV/XLSX -> (sha256, {sample: (biopsy code, row)}).

    Raises
    ------
    InputError
        Missing columns, empty cells, a sample mapped twice (file, row, column named).
    """
    from decidua.io.readers import read_table

    table = read_table(path)
    missing = [c for c in ("sample", "biopsy_id") if c not in table.columns]
    if missing:
        raise InputError(f"biopsy map needs the columns sample, biopsy_id (missing: "
                         f"{', '.join(missing)})", file=table.path)
    out: dict[str, tuple[str, int]] = {}
    problems = []
    for row_no, row in table.rows:
        sample, code = row.get("sample"), row.get("biopsy_id")
        if not sample:
            problems.append(Problem("sample is empty", table.path, row_no, "sample"))
            continue
        if not code:
            problems.append(Problem("biopsy_id is empty", table.path, row_no, "biopsy_id"))
            continue
        if sample in out:
            problems.append(Problem(f"sample {sample!r} is mapped twice (row "
                                    f"{out[sample][1]})", table.path, row_no, "sample", sample))
            continue
        out[sample] = (code, row_no)
    if problems:
        raise InputError(problems)
    return table.sha256, out


def import_qpcr(
    session: Session,
    actor: str,
    path: str | Path,
    biopsy_map: str | Path,
    *,
    reference_genes: list[str] | None = None,
    reference: TimingReference | None = None,
    reference_version: str | None = None,
    sd_threshold: float | None = None,
    dry_run: bool = False,
) -> QpcrImportReport:
    """Store per-biopsy ΔCq from one plate and place those biopsies in time.

    Parameters
    ----------
    session
        Open session; the caller commits. A dry run rolls its work back here.
    actor
        Who imports (import run and audit trail).
    path
        The plate (any format :func:`decidua.io.qpcr.read_qpcr` reads).
    biopsy_map
        CSV/XLSX with columns ``sample, biopsy_id`` (biopsy codes already stored).
    reference_genes
        Reference targets (default RPL19, else L19).
    reference, reference_version
        Timing reference and its version label (default: the shipped reference).
    dry_run
        Validate and compute only; nothing is written.

    Raises
    ------
    InputError
        A bad plate (see ``qpcr quantify``), a target outside the panel, a map row
        naming an unknown biopsy or a sample not on the plate. Nothing is stored.
    """
    from sqlalchemy import select

    from decidua.assays.qpcr.panel import PANEL, TIMING_GENES
    from decidua.assays.qpcr.quantify import (
        DEFAULT_SD_THRESHOLD,
        quantify,
        resolve_references,
    )
    from decidua.io.qpcr import read_qpcr
    from decidua.store import audit
    from decidua.store import models as m
    from decidua.store.session import lock_for_write

    require_schema(session)
    plate = read_qpcr(path)
    refs = set(resolve_references(reference_genes, plate.targets, plate.path))
    panel = {g.upper(): g for g in PANEL}
    problems = []
    seen_targets: set[str] = set()
    for w in plate.wells:
        if w.target in refs or w.target in seen_targets:
            continue
        seen_targets.add(w.target)
        if w.target.upper() not in panel:
            problems.append(Problem(
                f"target {w.target!r} is not in the marker panel ({', '.join(PANEL)}) nor a "
                f"reference gene ({', '.join(sorted(refs))})", plate.path, w.row, "target",
                w.target))
    map_sha, mapping = read_biopsy_map(biopsy_map)
    samples_on_plate = {w.sample for w in plate.wells if w.task in ("unknown", "positive")}
    codes = sorted({c for c, _ in mapping.values()})
    found = {b.code: b for b in session.scalars(
        select(m.Biopsy).where(m.Biopsy.code.in_(codes)))} if codes else {}
    for sample, (code, row_no) in mapping.items():
        if code not in found:
            problems.append(Problem(f"unknown biopsy {code!r} (import it with `decidua "
                                    "import biopsies` first)", str(biopsy_map), row_no,
                                    "biopsy_id", code))
        if sample not in samples_on_plate:
            problems.append(Problem(f"sample {sample!r} is not on the plate {plate.path}",
                                    str(biopsy_map), row_no, "sample", sample))
    by_code: dict[str, str] = {}
    for sample, (code, row_no) in mapping.items():
        if code in by_code:
            problems.append(Problem(f"biopsy {code!r} is mapped from two samples "
                                    f"({by_code[code]!r} and {sample!r})", str(biopsy_map),
                                    row_no, "biopsy_id", code))
        by_code[code] = sample
    if problems:
        raise InputError(problems)
    q = quantify(plate, reference_genes=reference_genes,
                 sd_threshold=sd_threshold or DEFAULT_SD_THRESHOLD)

    if reference is None:
        from decidua.assays.timing import load_default_reference

        reference = load_default_reference()
        reference_version = reference_version or default_reference_version()
    batch = plate_batch(plate.sha256)
    report = QpcrImportReport(file=str(path), sha256=plate.sha256, batch=batch,
                              reference_genes=q.reference_genes,
                              reference_version=reference_version, dry_run=dry_run)
    report.unmapped_samples = sorted(samples_on_plate - set(mapping))

    # per biopsy: markers (canonical panel names) from this plate
    per_biopsy: dict[str, dict[str, Any]] = {}
    for sample, (code, _) in mapping.items():
        markers = {}
        for r in q.results:
            if r.sample != sample or r.target in refs:
                continue
            markers[panel[r.target.upper()]] = {
                "delta_cq": r.delta_cq, "cq_mean": r.cq_mean, "cq_sd": r.cq_sd,
                "n_replicates": r.n_replicates, "n_undetermined": r.n_undetermined,
                "flags": list(r.flags)}
        ref_rows = {rg: {"cq_mean": q.result(sample, rg).cq_mean,
                         "cq_sd": q.result(sample, rg).cq_sd} for rg in q.reference_genes}
        flags = sorted({f for v in markers.values() for f in v["flags"]})
        per_biopsy[code] = {"sample": sample, "markers": markers, "reference": ref_rows,
                            "flags": flags}

    # placement: every biopsy with all six timing genes, together (one batch)
    import pandas as pd

    placeable = [c for c in sorted(per_biopsy)
                 if all(per_biopsy[c]["markers"].get(g, {}).get("delta_cq") is not None
                        for g in TIMING_GENES)]
    placements: dict[str, dict[str, Any]] = {}
    if placeable:
        df = pd.DataFrame({
            "ID": placeable, "BATCH": [batch] * len(placeable),
            "LH": [found[c].lh_day if found[c].lh_day is not None else math.nan
                   for c in placeable],
            **{g: [per_biopsy[c]["markers"][g]["delta_cq"] for c in placeable]
               for g in TIMING_GENES}})
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            placement = reference.place(df, file=str(path))
        report.warnings.extend(placement.warnings)
        for row in placement.to_dict()["biopsies"]:
            code = row.pop("ID")
            row["reference_version"] = reference_version
            row["batch"] = batch
            if row["batch_shift"] == UNCALLABLE_BATCH:
                row["callable"] = False
                row["uncallable_reason"] = (
                    f"plate {batch} has {len(placeable)} biopsies with the six timing genes, "
                    "too few to estimate its batch shift, and no inter-run calibrator: the "
                    "placement uses the median reference shift (see docs/qpcr.md)")
            else:
                row["callable"] = True
            placements[code] = row
    for code in sorted(per_biopsy):
        entry = {"biopsy": code, "sample": per_biopsy[code]["sample"],
                 "markers": {g: v["delta_cq"] for g, v in per_biopsy[code]["markers"].items()},
                 "flags": per_biopsy[code]["flags"], "placement": placements.get(code)}
        if code not in placements:
            missing = [g for g in TIMING_GENES
                       if per_biopsy[code]["markers"].get(g, {}).get("delta_cq") is None]
            entry["placement_reason"] = "not placed: no ΔCq for " + ", ".join(missing)
        report.biopsies.append(entry)
    if dry_run:
        session.rollback()
        return report

    lock_for_write(session, ("assay_result",))
    run = m.ImportRun(kind="qpcr", file_name=Path(path).name[:512], sha256=plate.sha256,
                      importer_version=IMPORTER_VERSION, actor=actor, n_rows=len(mapping))
    session.add(run)
    session.flush()
    report.import_run_id = run.id
    key = f"plate={plate.sha256[:16]}"
    existing = {(r.biopsy_id, r.kind, r.result_key): r for r in session.scalars(
        select(m.AssayResult).where(m.AssayResult.biopsy_id.in_(
            [found[c].id for c in per_biopsy])))}
    for code in sorted(per_biopsy):
        b = found[code]
        data = per_biopsy[code]
        qkey = (b.id, "qpcr", key)
        qres = existing.get(qkey)
        if qres is None:
            qres = m.AssayResult(
                biopsy_id=b.id, kind="qpcr", result_key=key,
                values={"sample": data["sample"], "markers": data["markers"],
                        "reference_genes": list(q.reference_genes),
                        "reference_cq": data["reference"], "format": plate.format,
                        "instrument": plate.instrument, "flags": data["flags"],
                        "biopsy_map_sha256": map_sha},
                qc_status="pass" if not data["flags"] else "pending", batch=batch,
                source_file=run.file_name, source_sha256=plate.sha256,
                import_run_id=run.id, importer_version=IMPORTER_VERSION)
            session.add(qres)
            session.flush()
            audit.record(session, actor=actor, action="create", entity="assay_result",
                         entity_id=qres.id, entity_key=f"{code}:qpcr:{key}"[:128],
                         after={"kind": "qpcr", "result_key": key})
            report.inserted += 1
        else:
            report.unchanged += 1
        if code in placements:
            pkey = f"timing:{reference_version}:{key}"[:128]
            if (b.id, "timing", pkey) in existing:
                report.unchanged += 1
                continue
            row = placements[code]
            pres = m.AssayResult(
                biopsy_id=b.id, kind="timing", result_key=pkey, values=row,
                qc_status="pass" if row["callable"] else "pending", batch=batch,
                source_file=run.file_name, source_sha256=plate.sha256,
                import_run_id=run.id, importer_version=IMPORTER_VERSION,
                analysis_version=(reference_version or "")[:128] or None,
                derived_from_id=qres.id)
            session.add(pres)
            session.flush()
            audit.record(session, actor=actor, action="create", entity="assay_result",
                         entity_id=pres.id, entity_key=f"{code}:timing:{pkey}"[:128],
                         after={"kind": "timing", "result_key": pkey})
            report.inserted += 1
    run.n_inserted, run.n_unchanged = report.inserted, report.unchanged
    return report


def _result_dict(r: Any) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "result_key": r.result_key, "values": r.values,
            "qc_status": r.qc_status, "batch": r.batch, "source_file": r.source_file,
            "source_sha256": r.source_sha256, "importer_version": r.importer_version,
            "analysis_version": r.analysis_version, "derived_from_id": r.derived_from_id,
            "import_run_id": r.import_run_id,
            "created_at": r.created_at.isoformat() if r.created_at else None}


def show_biopsy(session: Session, code: str) -> dict[str, Any]:
    """One biopsy's stored results and the components they give.

    Returns ``{"biopsy", "call", "reasons", "components", "rule_version", "lh_day",
    "timing", "results"}`` (``timing``: the newest placement as stored).
    Components: the newest timing placement (value = estimated LH day) and the
    newest ΔCq of each marker. No screening rule is implemented yet,
    so the call is ``uncallable`` (never ``normal`` by default).

    Raises
    ------
    NotFoundError
        No biopsy with that code.
    """
    from sqlalchemy import select

    from decidua.store import models as m

    require_schema(session)
    b = session.scalar(select(m.Biopsy).where(m.Biopsy.code == code))
    if b is None:
        raise NotFoundError(f"no biopsy {code!r}")
    results = list(session.scalars(select(m.AssayResult).where(
        m.AssayResult.biopsy_id == b.id).order_by(m.AssayResult.id)))
    components: list[dict[str, Any]] = []
    timing = [r for r in results if r.kind == "timing" and "estimated_lh_day" in r.values]
    if timing:
        t = timing[-1].values
        flag = None
        if not t.get("callable", True):
            flag = "uncallable"
        elif t.get("asynchronous"):
            flag = "asynchronous"
        components.append({"name": "timing", "value": t["estimated_lh_day"], "centile": None,
                           "reference": timing[-1].analysis_version, "flag": flag})
    latest: dict[str, tuple[Any, Any]] = {}
    for r in results:
        if r.kind == "qpcr":
            for g, v in r.values.get("markers", {}).items():
                latest[g] = (v, r)
    for g, (v, _r) in latest.items():
        components.append({"name": f"{g} dCq", "value": v.get("delta_cq"), "centile": None,
                           "reference": None,
                           "flag": "; ".join(v.get("flags", [])) or None})
    reasons = ["no screening rule is implemented yet: the call is not computed"]
    if not results:
        reasons.insert(0, "no assay results stored for this biopsy")
    return {"biopsy": b.code, "call": "uncallable", "reasons": reasons,
            "components": components, "rule_version": None, "lh_day": b.lh_day,
            "timing": timing[-1].values if timing else None,
            "results": [_result_dict(r) for r in results]}
