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
from functools import lru_cache
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
    from decidua.store import models as m
    from decidua.store.results import NewResult, open_import_run
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
        from decidua.services.timing import far_outside_reference

        far = far_outside_reference(reference, df, str(path))  # flagged, stored as pending QC
        report.warnings.extend(w for i in sorted(far) for w in far[i])
        for i, row in enumerate(placement.to_dict()["biopsies"]):
            if i in far:
                row["qc_flags"] = far[i]
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
    store = open_import_run(session, actor, kind="qpcr", path=path, sha256=plate.sha256,
                            importer_version=IMPORTER_VERSION, n_rows=len(mapping))
    report.import_run_id = store.run.id
    key = f"plate={plate.sha256[:16]}"
    codes = sorted(per_biopsy)
    store.store(session, actor, [NewResult(
        code, found[code].id, "qpcr", key,
        values={"sample": data["sample"], "markers": data["markers"],
                "reference_genes": list(q.reference_genes),
                "reference_cq": data["reference"], "format": plate.format,
                "instrument": plate.instrument, "flags": data["flags"],
                "biopsy_map_sha256": map_sha},
        qc_status="pass" if not data["flags"] else "pending", batch=batch)
        for code in codes for data in (per_biopsy[code],)])
    pkey = f"timing:{reference_version}:{key}"[:128]
    store.store(session, actor, [NewResult(
        code, found[code].id, "timing", pkey, values=row,
        qc_status="pass" if row["callable"] and "qc_flags" not in row else "pending",
        batch=batch, analysis_version=(reference_version or "")[:128] or None,
        derived_from_id=store.ids[(found[code].id, "qpcr", key)])
        for code in codes if code in placements for row in (placements[code],)])
    store.finish()
    report.inserted, report.unchanged = store.inserted, store.unchanged
    return report


def _result_dict(r: Any) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "result_key": r.result_key, "values": r.values,
            "qc_status": r.qc_status, "batch": r.batch, "source_file": r.source_file,
            "source_sha256": r.source_sha256, "importer_version": r.importer_version,
            "analysis_version": r.analysis_version, "derived_from_id": r.derived_from_id,
            "import_run_id": r.import_run_id,
            "created_at": r.created_at.isoformat() if r.created_at else None}


def show_biopsy(session: Session, code: str) -> dict[str, Any]:
    """One biopsy's call, its components and every stored result.

    Returns ``{"biopsy", "call", "reasons", "components": [{"name", "value", "centile",
    "reference", "flag", ...}], "rule_version", "stored", "call_id", "computed_at",
    "lh_day", "timing", "results", "calls"}``. The call is the newest stored one
    (``decidua biopsy analyse``); a biopsy never analysed gets the call the current
    rule gives, computed now and not stored (``stored: false``). ``calls`` lists every
    stored call, oldest first. Never ``normal`` by default: missing assays are
    ``uncallable``.

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
    timing = [r for r in results if r.kind == "timing" and "estimated_lh_day" in r.values]
    stored = list(session.scalars(select(m.BiopsyCall).where(
        m.BiopsyCall.biopsy_id == b.id).order_by(m.BiopsyCall.id)))
    if stored:
        c = stored[-1]
        head = {"biopsy": b.code, "call": c.call, "reasons": list(c.reasons),
                "components": list(c.components), "rule_version": c.rule_version,
                "stored": True, "call_id": c.id,
                "computed_at": c.created_at.isoformat() if c.created_at else None,
                "evidence": c.evidence}
    else:
        doc = compute_call(session, code)
        head = {**doc, "stored": False, "call_id": None, "computed_at": None}
        head["reasons"] = [*doc["reasons"],
                           "computed now, not stored (run `decidua biopsy analyse`)"]
        if not results:
            head["reasons"].insert(0, "no assay results stored for this biopsy")
    return {**head, "lh_day": b.lh_day,
            "timing": timing[-1].values if timing else None,
            "results": [_result_dict(r) for r in results],
            "calls": [{"call_id": c.id, "call": c.call, "rule_version": c.rule_version,
                       "computed_at": c.created_at.isoformat() if c.created_at else None,
                       "actor": c.actor} for c in stored]}


# --------------------------------------------------------------------------------------
# Screening: evidence from stored results, the computed call, stored calls

#: Version of the code that turns stored results into screening evidence.
ANALYSIS_VERSION = "decidua.services.biopsies.screening/1"
#: Markers of the qPCR panel outside the six timing genes (read against clinic fits).
TIMING_GENE_SET = frozenset({"IL2RB", "IGFBP1", "CXCL14", "DPP4", "GPX3", "SLC15A2"})


@dataclass
class References:
    """The references a screening run reads values against (loaded once per run)."""

    genes: dict[str, Any]
    clinic: dict[tuple[str, str | None], Any]
    unk: Any

    def find(self, marker: str, protocol: str | None = None) -> Any | None:
        """A clinic fit of the marker (under that protocol when given), else ``None``."""
        return self.clinic.get((marker, protocol)) or (
            self.clinic.get((marker, None)) if protocol is None else None)


def load_references(session: Session) -> References:
    """Shipped references plus the newest clinic fit of each marker (and protocol)."""
    from sqlalchemy import select

    from decidua.reference.centiles import DayCentiles
    from decidua.reference.defaults import timing_gene_references, unk_reference
    from decidua.store import models as m

    clinic: dict[tuple[str, str | None], Any] = {}
    for row in session.scalars(select(m.MarkerReference).order_by(m.MarkerReference.id)):
        ref = DayCentiles.from_dict(row.data)
        clinic[(row.marker, row.protocol)] = ref
        clinic[(row.marker, None)] = ref
    return References(timing_gene_references(), clinic, unk_reference())


def _ref_label(ref: Any, basis: str) -> str:
    return f"{ref.version} ({ref.info.label}; {basis})"


@lru_cache(maxsize=65536)
def _cfu_estimate(colonies: int, cells: int, n_wells: int) -> Any:
    from decidua.assays.clonogenicity.stats import cfu_percent

    return cfu_percent(colonies, cells, n_plates=n_wells)


def pooled_cfu(rows: list[Any]) -> dict[str, Any] | None:
    """CFU % with its exact Poisson interval pooled over a biopsy's stored count rows."""

    counts = [r for r in rows if "colonies" in r.values and "cells_seeded" in r.values
              and "cfu_pct" not in r.values]
    if not counts:
        return None
    col = sum(int(r.values["colonies"]) for r in counts)
    cells = sum(int(r.values["cells_seeded"]) for r in counts)
    est = _cfu_estimate(col, cells, len(counts))
    qc = "pass" if all(r.qc_status == "pass" for r in counts) else (
        "fail" if any(r.qc_status == "fail" for r in counts) else "pending")
    return {"colonies": col, "cells_seeded": cells, "cfu_pct": est.cfu_pct,
            "interval": est.interval.to_dict(), "n_wells": len(counts), "qc_status": qc,
            "result_ids": [r.id for r in counts],
            "protocol": sorted({str(r.values.get("method", "manual")) for r in counts})}


def pooled_unk(rows: list[Any]) -> dict[str, Any] | None:
    """uNK % CD56+ with its beta-binomial interval pooled over a biopsy's stored fields."""
    from decidua.assays.unk import unk_percent

    fields = [r for r in rows if "cd56_positive" in r.values and "unk_pct" not in r.values]
    if not fields:
        return None
    est = unk_percent([int(r.values["cd56_positive"]) for r in fields],
                      [int(r.values["stromal_cells"]) for r in fields])
    protocols = sorted({str(r.values.get("protocol")) for r in fields})
    qc = "pass" if all(r.qc_status == "pass" for r in fields) else (
        "fail" if any(r.qc_status == "fail" for r in fields) else "pending")
    return {**est.to_dict(), "protocol": protocols[0] if len(protocols) == 1 else None,
            "protocols": protocols,
            "magnification": sorted({str(r.values.get("magnification")) for r in fields}),
            "qc_status": qc, "result_ids": [r.id for r in fields]}


def biopsy_evidence(b: Any, results: list[Any], refs: References) -> tuple[Any, dict[str, Any]]:
    """A biopsy's screening evidence from its stored results, and a JSON snapshot of it."""
    from decidua.screening import BiopsyEvidence, MarkerEvidence, TimingEvidence

    lh = b.lh_day
    snap: dict[str, Any] = {"lh_day": lh}
    timing = None
    day, basis = (float(lh) if lh is not None else None), "by LH day (no timing placement)"
    placements = [r for r in results if r.kind == "timing" and "estimated_lh_day" in r.values]
    if placements:
        r = placements[-1]
        t = r.values
        lo, hi = t.get("interval", [math.nan, math.nan])
        timing = TimingEvidence(float(t["estimated_lh_day"]), float(lo), float(hi),
                                bool(t.get("asynchronous")), bool(t.get("callable", True)),
                                t.get("uncallable_reason"), r.qc_status, r.analysis_version)
        snap["timing_result_id"] = r.id
        if t.get("asynchronous"):  # EndoTime: the estimate of an asynchronous biopsy is unreliable
            basis = "by LH day (timing asynchronous)"
        elif t.get("callable", True) and r.qc_status == "pass":
            day, basis = float(t["estimated_lh_day"]), "by estimated LH day"
    snap["day"], snap["day_basis"] = day, basis

    cfu = None
    cfu_rows = [r for r in results if r.kind == "cfu"]
    pooled = pooled_cfu(cfu_rows)
    if pooled is not None:
        ref = refs.find("cfu_pct")
        centile = reason = label = None
        if ref is None:
            reason = "no CFU reference fitted (`decidua reference fit cfu_pct`)"
        elif day is None:
            reason = "no cycle day (no LH day, no timing) to read the CFU % against"
        else:
            centile = float(ref.centile([day], [pooled["cfu_pct"]])[0])
            label = _ref_label(ref, basis)
        iv = pooled["interval"]
        cfu = MarkerEvidence("cfu", pooled["cfu_pct"], centile, label, pooled["qc_status"],
                             reason=reason, interval=(iv["low"], iv["high"]))
        snap["cfu"] = {**pooled, "centile": centile, "reference": label}

    unk = None
    pooled_u = pooled_unk([r for r in results if r.kind == "unk"])
    if pooled_u is not None:
        proto = pooled_u["protocol"]
        centile = reason = label = flag = None
        clinic = refs.find("unk_pct", proto) if proto else None
        if proto is None:
            reason = f"fields counted under several protocols ({', '.join(pooled_u['protocols'])})"
        elif clinic is not None and day is not None:
            centile = float(clinic.centile([day], [pooled_u["unk_pct"]])[0])
            label = _ref_label(clinic, basis)
        elif refs.unk is not None and proto == refs.unk.info.protocol:
            verdict = refs.unk.classify(lh, pooled_u["unk_pct"])
            label = f"{refs.unk.version} ({refs.unk.info.label}; by LH day)"
            if verdict in ("low", "high", None):
                flag = verdict
            else:
                reason = f"Tuckerman 2007 range: {verdict}"
        else:
            reason = (f"no uNK reference for protocol {proto!r} (references are never "
                      "compared across counting protocols; fit one with `decidua reference "
                      "fit unk_pct`)")
        iv = pooled_u["interval"]
        unk = MarkerEvidence("unk", pooled_u["unk_pct"], centile, label, pooled_u["qc_status"],
                             range_flag=flag, reason=reason, interval=(iv["low"], iv["high"]))
        snap["unk"] = {**pooled_u, "centile": centile, "reference": label, "flag": flag}

    latest: dict[str, tuple[dict[str, Any], Any]] = {}
    for r in results:
        if r.kind == "qpcr":
            for g, v in r.values.get("markers", {}).items():
                latest[g] = (v, r)
    markers = []
    snap["markers"] = {}
    for g, (v, r) in latest.items():
        dcq = v.get("delta_cq")
        centile = reason = label = None
        if g.upper() in TIMING_GENE_SET:
            ref = refs.find(g) or refs.genes.get(g)
            gday, gbasis = (float(lh) if lh is not None else None), "by LH day"
        else:
            ref, gday, gbasis = refs.find(g), day, basis
        if dcq is None:
            reason = "no ΔCq"
        elif ref is None:
            reason = f"no reference centiles for {g} (`decidua reference fit {g}`)"
        elif gday is None:
            reason = "no cycle day to read it against"
        else:
            centile = float(ref.centile([gday], [float(dcq)])[0])
            label = _ref_label(ref, gbasis)
        markers.append(MarkerEvidence(g, dcq, centile, label, r.qc_status, reason=reason))
        snap["markers"][g] = {"delta_cq": dcq, "centile": centile, "reference": label,
                              "result_id": r.id, "qc_status": r.qc_status}
    info = [*_elisa_evidence(results, snap), *_senescence_evidence(results, snap),
            *_sabgal_evidence(results, snap)]
    ev = BiopsyEvidence(b.code, lh, timing, cfu, unk, tuple(markers), tuple(info))
    return ev, snap


#: Why an ELISA concentration has no centile (no public per-day values exist: issue #15).
ELISA_NO_REFERENCE = (
    "no reference: ELISA secretion is read as fold change over day 0 against a clinic's "
    "decidualization reference (`decidua decidualization biopsy CODE --reference REF --save`)")


def _elisa_evidence(results: list[Any], snap: dict[str, Any]) -> list[Any]:
    """ELISA concentrations (newest per analyte, culture day and treatment) as shown-only
    components, each with its fold-change centile for the day when a stored time course
    read it against a reference, and the stored time course's response class."""
    from decidua.domain import is_elisa_result
    from decidua.screening import MarkerEvidence

    newest: dict[tuple[str, float, str], Any] = {}
    for r in results:
        v = r.values or {}
        if is_elisa_result(r.kind, v) and v.get("culture_day") is not None:
            newest[(str(v.get("analyte")), float(v["culture_day"]),
                    str(v.get("treatment") or ""))] = r
    course = None
    for r in results:  # the newest stored time course with a call
        v = r.values or {}
        if r.kind == "decidualization" and v.get("assay") == "time_course" and v.get("call"):
            course = r
    centiles: dict[tuple[int, str, float], float] = {}
    ref_label = None
    if course is not None:
        call = course.values["call"]
        ref_label = f"{call.get('reference_version') or course.values.get('reference')} " \
                    "(fold change over day 0, by culture day)"
        for rid in course.values.get("from_results") or []:
            for mc in call.get("markers") or []:
                for dc in mc.get("day_centiles") or []:
                    centiles[(int(rid), str(mc.get("marker")).upper(), float(dc["day"]))] = \
                        float(dc["centile"])
    out = []
    snap["elisa"] = []
    for (analyte, day, treatment), r in sorted(newest.items(), key=lambda kv: kv[0]):
        v = r.values
        name = f"{analyte} ELISA day {day:g}" + (f" ({treatment})" if treatment else "")
        centile = centiles.get((r.id, analyte.upper(), day))
        reason = None
        if centile is None:
            reason = ("day-0 baseline (the reference reads fold change over day 0)"
                      if day == 0 and course is not None else ELISA_NO_REFERENCE)
        if v.get("flag"):
            reason = f"{v['flag']}; {reason}" if reason else str(v["flag"])
        conc = v.get("concentration")
        out.append(MarkerEvidence(name, None if conc is None else float(conc), centile,
                                  ref_label if centile is not None else None, r.qc_status,
                                  reason=reason))
        snap["elisa"].append({"name": name, "analyte": analyte, "culture_day": day,
                              "treatment": treatment or None, "concentration": conc,
                              "centile": centile, "result_id": r.id,
                              "qc_status": r.qc_status, "flag": v.get("flag")})
    if course is not None:
        call = course.values["call"]
        med = call.get("median_centile")
        out.append(MarkerEvidence(
            "decidualization response", None if med is None else float(med),
            None if med is None else float(med), ref_label, course.qc_status,
            reason=f"response class {call.get('response_class')} (median centile over the "
                   f"reference's days; class thresholds {call.get('lower')}-"
                   f"{call.get('upper')})"))
        snap["decidualization"] = {"result_id": course.id, "median_centile": med,
                                   "response_class": call.get("response_class"),
                                   "reference": call.get("reference_version")}
    return out


def _sabgal_evidence(results: list[Any], snap: dict[str, Any]) -> list[Any]:
    """SA-β-gal % positive pooled over the biopsy's stored fields (``decidua import sabgal``),
    with its exact (Clopper-Pearson) interval; shown, not used by the rule."""
    from decidua.assays.senescence.sabgal import sabgal_fields
    from decidua.screening import MarkerEvidence

    fields = [r for r in results if r.kind == "senescence"
              and (r.values or {}).get("assay") == "sabgal"]
    if not fields:
        return []
    res = sabgal_fields([int(r.values["positive"]) for r in fields],
                        [int(r.values["total"]) for r in fields],
                        fields=[f"field {r.values.get('field')}" for r in fields])
    qc = "pass" if all(r.qc_status == "pass" for r in fields) else (
        "fail" if any(r.qc_status == "fail" for r in fields) else "pending")
    iv = res.positive_pct
    snap["sabgal"] = {**res.to_dict(), "qc_status": qc, "result_ids": [r.id for r in fields]}
    return [MarkerEvidence("SA-β-gal % positive", iv.estimate, None, None, qc,
                           reason=f"no reference (95% exact interval {iv.low:.1f}-{iv.high:.1f}%"
                                  f", {res.positive}/{res.total} cells, {res.n_fields} fields)",
                           interval=(iv.low, iv.high))]


#: Analysis version of the stored pro-senescent index (kind ``senescence``).
SENESCENCE_SUMMARY_VERSION = "decidua.assays.senescence.index.senescence_index/1"
SENESCENCE_NO_REFERENCE = (
    "no reference: log2(DIO2/SCARA5) from the qPCR, a within-sample ratio with no published "
    "range or cut-off (docs/senescence.md)")


def _senescence_evidence(results: list[Any], snap: dict[str, Any]) -> list[Any]:
    """The pro-senescent index of the newest qPCR result holding DIO2 and SCARA5 (shown,
    not used by the rule; no reference exists for it)."""
    from decidua.assays.senescence.index import senescence_index
    from decidua.screening import MarkerEvidence

    source = None
    for r in results:
        mk = {str(g).upper() for g in (r.values or {}).get("markers", {})}
        if r.kind == "qpcr" and {"DIO2", "SCARA5"} <= mk:
            source = r
    if source is None:
        return []
    mk = source.values["markers"]
    try:
        idx = senescence_index({g: v.get("delta_cq") for g, v in mk.items()},
                               cq_sd={g: v.get("cq_sd") for g, v in mk.items()},
                               sample=str(source.values.get("sample") or ""))
    except InputError as exc:
        snap["senescence"] = {"qpcr_result_id": source.id, "index": None, "reason": str(exc)}
        return [MarkerEvidence("pro-senescent index", None, None, None, source.qc_status,
                               reason=f"not computable: {exc}")]
    d = idx.to_dict()
    snap["senescence"] = {**d, "qpcr_result_id": source.id, "qc_status": source.qc_status,
                          "method": idx.index.method}
    iv = (d["index"]["low"], d["index"]["high"])
    return [MarkerEvidence("pro-senescent index", idx.index.estimate, None, None,
                           source.qc_status, reason=SENESCENCE_NO_REFERENCE,
                           interval=None if None in iv else iv)]


@dataclass(frozen=True)
class _Row:
    """A stored assay result as the screening reads it (plain tuple, no ORM state)."""

    id: int
    biopsy_id: int
    kind: str
    result_key: str
    values: dict[str, Any]
    qc_status: str
    analysis_version: str | None


def _results_by_biopsy(session: Session, ids: list[int], *,
                       every: bool = False) -> dict[int, list[Any]]:
    """Each biopsy's stored results as plain rows, oldest first (``every``: ``ids`` are
    every biopsy, so one unfiltered SELECT reads them)."""
    from sqlalchemy import select

    from decidua.store import models as m

    t = m.AssayResult
    out: dict[int, list[Any]] = {i: [] for i in ids}
    cols = (t.id, t.biopsy_id, t.kind, t.result_key, t.values, t.qc_status,
            t.analysis_version)
    if every:
        for row in session.execute(select(*cols).order_by(t.id)):
            if row[1] in out:
                out[row[1]].append(_Row(*row))
        return out
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for row in session.execute(select(*cols).where(t.biopsy_id.in_(chunk)).order_by(t.id)):
            out[row[1]].append(_Row(*row))
    return out


def compute_call(session: Session, code: str, *, refs: References | None = None) -> dict[str, Any]:
    """The call the current rule gives a biopsy from its stored results (nothing stored)."""
    from sqlalchemy import select

    from decidua.screening import evaluate
    from decidua.store import models as m

    require_schema(session)
    b = session.scalar(select(m.Biopsy).where(m.Biopsy.code == code))
    if b is None:
        raise NotFoundError(f"no biopsy {code!r}")
    refs = refs or load_references(session)
    ev, snap = biopsy_evidence(b, _results_by_biopsy(session, [b.id])[b.id], refs)
    call = evaluate(ev)
    return {**call.to_dict(), "evidence": snap}


@dataclass
class AnalyseReport:
    """What ``analyse_biopsies`` stored."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    inserted: int = 0
    unchanged: int = 0
    summaries: int = 0

    def to_dict(self) -> dict[str, Any]:
        counts = {c: sum(1 for x in self.calls if x["call"] == c)
                  for c in ("normal", "abnormal", "uncallable")}
        return {"biopsies": len(self.calls), "inserted": self.inserted,
                "unchanged": self.unchanged, "summary_results": self.summaries,
                "calls": counts,
                "results": [{k: x[k] for k in ("biopsy", "call", "reasons", "rule_version",
                                               "call_id")} for x in self.calls]}


#: Analysis versions of the per-biopsy summaries stored beside the raw counts.
CFU_SUMMARY_VERSION = "decidua.assays.clonogenicity.stats.cfu_percent/1"
UNK_SUMMARY_VERSION = "decidua.assays.unk.stats.unk_percent/1"


def _summary_results(b: Any, rows: list[Any], snap: dict[str, Any]) -> list[dict[str, Any]]:
    """New pooled CFU % / uNK % results (with their intervals) for a biopsy's counts, and
    its pro-senescent index (kind ``senescence``, derived from the qPCR result).

    Stored as assay results derived from the counts (kind ``cfu`` / ``unk``, values
    ``cfu_pct`` / ``unk_pct``), keyed by the count rows they pool, so the same counts
    give one summary and new counts a new one; nothing is overwritten. Returned as
    ``assay_result`` column values (``biopsy_id, kind, result_key, values, qc_status,
    importer_version, analysis_version, derived_from_id``), inserted in bulk by the caller.
    """
    have = {(r.kind, r.result_key) for r in rows}
    out = []
    for kind, name, version in (("cfu", "cfu_pct", CFU_SUMMARY_VERSION),
                                ("unk", "unk_pct", UNK_SUMMARY_VERSION)):
        pooled = snap.get(kind)
        if not pooled:
            continue
        ids = pooled["result_ids"]
        digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
        key = f"{name}:rows={digest}"
        if (kind, key) in have:
            continue
        values = {k: v for k, v in pooled.items() if k not in ("centile", "reference", "flag")}
        out.append({"biopsy_id": b.id, "kind": kind, "result_key": key, "values": values,
                    "qc_status": pooled["qc_status"], "importer_version": None,
                    "analysis_version": version, "derived_from_id": ids[-1]})
    sen = snap.get("senescence")
    if sen and sen.get("index") is not None:  # the pro-senescent index, once per qPCR result
        rid = sen["qpcr_result_id"]
        key = f"index:qpcr={rid}"
        if ("senescence", key) not in have:
            values = {k: v for k, v in sen.items() if k != "qc_status"}
            out.append({"biopsy_id": b.id, "kind": "senescence", "result_key": key,
                        "values": values, "qc_status": sen["qc_status"],
                        "importer_version": None,
                        "analysis_version": SENESCENCE_SUMMARY_VERSION, "derived_from_id": rid})
    return out


@dataclass(frozen=True)
class _StoredCall:
    """The columns of a stored call that decide whether a new one is needed."""

    id: int
    biopsy_id: int
    call: str
    rule_version: str
    components: list[Any]


def _newest_calls(session: Session, ids: list[int] | None) -> dict[int, _StoredCall]:
    """The newest stored call of each biopsy (of every biopsy when ``ids`` is ``None``),
    read as plain rows: no ORM objects, and no ``evidence`` / ``reasons`` JSON decoded."""
    from sqlalchemy import func, select

    from decidua.store import models as m

    t = m.BiopsyCall
    cols = (t.id, t.biopsy_id, t.call, t.rule_version, t.components)
    out: dict[int, _StoredCall] = {}
    if ids is None:
        newest = select(func.max(t.id)).group_by(t.biopsy_id).scalar_subquery()
        for row in session.execute(select(*cols).where(t.id.in_(newest))):
            out[row[1]] = _StoredCall(*row)
        return out
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        newest = (select(func.max(t.id)).where(t.biopsy_id.in_(chunk))
                  .group_by(t.biopsy_id).scalar_subquery())
        for row in session.execute(select(*cols).where(t.id.in_(newest))):
            out[row[1]] = _StoredCall(*row)
    return out


def analyse_biopsies(session: Session, actor: str, codes: list[str] | None = None, *,
                     all_biopsies: bool = False, rules: Any = None) -> AnalyseReport:
    """(Re)compute and store the screening call of biopsies; never overwrites a call.

    A biopsy whose newest stored call already has the same call, components and rule
    version gets no new row (``unchanged``); otherwise a new :class:`BiopsyCall` is
    added, audited.

    Raises
    ------
    NotFoundError
        An unknown biopsy code.
    InputError
        Neither codes nor ``all_biopsies``.
    """
    from sqlalchemy import select

    from decidua.screening import default_rules, evaluate
    from decidua.store import models as m
    from decidua.store.session import lock_for_write

    require_schema(session)
    if not codes and not all_biopsies:
        raise InputError("name a biopsy code or use --all")
    if all_biopsies:
        biopsies = list(session.scalars(select(m.Biopsy).order_by(m.Biopsy.code)))
    else:
        wanted = sorted(set(codes or []))
        found = {b.code: b for b in session.scalars(
            select(m.Biopsy).where(m.Biopsy.code.in_(wanted)))}
        missing = [c for c in wanted if c not in found]
        if missing:
            raise NotFoundError("no biopsy " + ", ".join(repr(c) for c in missing))
        biopsies = [found[c] for c in wanted]
    rules = rules or default_rules()
    refs = load_references(session)
    ids = [b.id for b in biopsies]
    results = _results_by_biopsy(session, ids, every=all_biopsies)
    newest = _newest_calls(session, None if all_biopsies else ids)
    lock_for_write(session, ("biopsy_call", "assay_result"))
    report = AnalyseReport()
    new_rows: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
    summaries: list[tuple[str, dict[str, Any]]] = []
    now = m.utcnow()
    for b in biopsies:
        ev, snap = biopsy_evidence(b, results[b.id], refs)
        summaries.extend((b.code, r) for r in _summary_results(b, results[b.id], snap))
        call = evaluate(ev, rules)
        doc = call.to_dict()
        old = newest.get(b.id)
        if (old is not None and old.call == call.call and old.rule_version == call.rule_version
                and old.components == doc["components"]):
            report.unchanged += 1
            report.calls.append({**doc, "call_id": old.id})
            continue
        row = {"biopsy_id": b.id, "call": call.call, "reasons": doc["reasons"],
               "components": doc["components"], "evidence": snap,
               "rule_version": call.rule_version, "analysis_version": ANALYSIS_VERSION,
               "actor": actor, "created_at": now}
        new_rows.append((b, row, doc))
    # bulk inserts through Core (few statements per table, no ORM objects; one new call
    # per biopsy, one summary per biopsy, kind and key), each row audited, all in the
    # caller's transaction
    from sqlalchemy import insert

    from decidua.store.results import insert_returning_ids

    audits: list[dict[str, Any]] = []
    if summaries:
        t = m.AssayResult.__table__
        ids_s = insert_returning_ids(session, t, [{**r, "created_at": now} for _, r in summaries],
                                     ("biopsy_id", "kind", "result_key"))
        for (code, r), rid in zip(summaries, ids_s, strict=True):
            audits.append({"actor": actor, "action": "create", "entity": "assay_result",
                           "entity_id": rid, "at": now,
                           "entity_key": f"{code}:{r['kind']}:{r['result_key']}"[:128],
                           "after": {"kind": r["kind"], "result_key": r["result_key"]}})
        report.summaries = len(summaries)
    if new_rows:
        t = m.BiopsyCall.__table__
        ids_c = insert_returning_ids(session, t, [r for _, r, _ in new_rows], ("biopsy_id",))
        for (b, row, doc), cid in zip(new_rows, ids_c, strict=True):
            audits.append({"actor": actor, "action": "create", "entity": "biopsy_call",
                           "entity_id": cid, "at": now, "entity_key": f"{b.code}:call:{cid}"[:128],
                           "after": {"call": row["call"], "rule_version": row["rule_version"]}})
            report.inserted += 1
            report.calls.append({**doc, "call_id": cid})
    if audits:
        session.execute(insert(m.AuditEvent.__table__), audits)
    report.calls.sort(key=lambda x: x["biopsy"])
    return report


def latest_calls(session: Session, biopsy_ids: list[int]) -> dict[int, Any]:
    """The newest stored :class:`BiopsyCall` of each biopsy (absent: never analysed)."""
    from sqlalchemy import select

    from decidua.store import models as m

    out: dict[int, Any] = {}
    for i in range(0, len(biopsy_ids), 500):
        for c in session.scalars(select(m.BiopsyCall).where(
                m.BiopsyCall.biopsy_id.in_(biopsy_ids[i:i + 500])).order_by(m.BiopsyCall.id)):
            out[c.biopsy_id] = c
    return out


# --------------------------------------------------------------------------------------
# The risk from computed calls


def calls_for_risk(session: Session, record: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A woman's record with each biopsy's call as the risk should use it, and the sources.

    Per biopsy: the newest computed call (``biopsy analyse``) when one exists — its
    ``normal``/``abnormal`` is used, an ``uncallable`` one gives no evidence (the typed
    call is then *not* used: the stored results could not support one); the typed
    clinic call only where no computed call exists; biopsies on treatment are never
    used (as the risk model does). Returns the record with ``clinic_call`` replaced
    accordingly and one row per biopsy: ``biopsy, biopsy_date, call, source
    (computed | clinic | none), computed_call, computed_call_id, clinic_call, used,
    note``.
    """
    import dataclasses

    from sqlalchemy import select

    from decidua.domain import DecidualCall
    from decidua.store import models as m

    codes = [b.biopsy_id for b in record.biopsies]
    ids = {b.code: b.id for b in session.scalars(
        select(m.Biopsy).where(m.Biopsy.code.in_(codes)))} if codes else {}
    computed = latest_calls(session, list(ids.values()))
    new_biopsies, rows = [], []
    for b in record.biopsies:
        c = computed.get(ids.get(b.biopsy_id, -1))
        typed = b.clinic_call.value if b.clinic_call is not None else None
        if c is not None:
            call, source = (c.call if c.call != "uncallable" else None), "computed"
            note = ("computed call uncallable: no evidence from this biopsy (reasons: "
                    + "; ".join(c.reasons) + ")" if call is None else "computed call")
        elif typed is not None:
            call, source, note = typed, "clinic", "typed clinic call (no computed call)"
        else:
            call, source, note = None, "none", "no call"
        if b.on_treatment and call is not None:
            note += "; on treatment: not used by the risk"
        used = call is not None and not b.on_treatment
        rows.append({"biopsy": b.biopsy_id, "biopsy_date": b.biopsy_date.isoformat(),
                     "call": call, "source": source,
                     "computed_call": c.call if c is not None else None,
                     "computed_call_id": c.id if c is not None else None,
                     "clinic_call": typed, "used": used, "note": note})
        new_biopsies.append(dataclasses.replace(
            b, clinic_call=DecidualCall(call) if call is not None else None,
            call_source=source if call is not None else None))
    return dataclasses.replace(record, biopsies=tuple(new_biopsies)), rows


def biopsy_contributions(record: Any, rows: list[dict[str, Any]], on: Any,
                         predict: Any) -> None:
    """Add to each used row how much that biopsy moved the estimate, in date order.

    ``p_loss_before`` is the estimate from her history and the earlier used biopsies,
    ``p_loss_after`` with this one added, ``change`` the difference (``predict`` is
    :func:`decidua.risk.predict_record`).
    """
    import dataclasses

    order = sorted((i for i, r in enumerate(rows) if r["used"]),
                   key=lambda i: (rows[i]["biopsy_date"], rows[i]["biopsy"]))
    by_code = {b.biopsy_id: b for b in record.biopsies}
    kept: list[Any] = []
    prev = float(predict(dataclasses.replace(record, biopsies=()), on).p_loss)
    for i in order:
        kept.append(by_code[rows[i]["biopsy"]])
        p = float(predict(dataclasses.replace(record, biopsies=tuple(kept)), on).p_loss)
        rows[i].update(p_loss_before=round(prev, 4), p_loss_after=round(p, 4),
                       change=round(p - prev, 4))
        prev = p
