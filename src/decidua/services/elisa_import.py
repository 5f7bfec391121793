"""Import an ELISA plate export onto biopsies: each sample's back-calculated concentration.

``decidua import elisa FILE --biopsy-map MAP.csv`` reads every plate of a
reader export (:func:`decidua.io.platereader.read_plates`: SoftMax Pro, Gen5,
or an OD grid with ``--map``), fits each plate's standard curve
(:func:`decidua.assays.elisa.analyse_plate`), and stores, for every sample the
biopsy map names, one assay result of kind ``elisa`` (``values["assay"] =
"elisa"``; results stored before schema revision 0008 have kind
``decidualization`` and are read alike: :data:`ELISA_KINDS`) on that biopsy: the mean
back-calculated concentration of its wells (dilution applied), its CV, flag
(e.g. ``below_lloq``), the wells, the curve (model, weights, parameters, R²,
LLOQ / ULOQ), the culture day, treatment and analyte, with provenance (file
name and SHA-256, importer and analysis versions, the map's SHA-256).

Biopsy map (CSV/XLSX; docs/elisa.md): columns ``sample, biopsy_id,
culture_day, treatment, analyte``. ``sample`` as the plate export names it;
``biopsy_id`` a stored biopsy code; ``culture_day`` a number >= 0 (day 0 =
before cAMP + MPA); ``treatment`` free text (e.g. ``cAMP+MPA``, ``vehicle``;
may be empty); ``analyte`` (e.g. ``PRL``, ``IGFBP1``). A plate whose export (or
``--analyte``) names its analyte is matched to map rows of that analyte only;
one sample may so be mapped once per analyte.

All or nothing: any bad plate, well or map row is reported (plate, well and
field, or file, row and column named) and nothing is stored. Re-importing the
same file adds nothing (same result keys).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError, Problem
from decidua.services.database import require_schema

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Version of this importer (stored on every result it writes).
IMPORTER_VERSION = "decidua.io.elisa/1"
#: Stored result kind (domain.AssayKind.ELISA).
RESULT_KIND = "elisa"
#: Kinds an ELISA result may have been stored under (``decidualization``: before 0008).
ELISA_KINDS = ("elisa", "decidualization")
MAP_COLUMNS = ("sample", "biopsy_id", "culture_day", "treatment", "analyte")


@dataclass
class ElisaImportReport:
    """What ``import_elisa`` did (or would do, in a dry run)."""

    file: str
    sha256: str
    plates: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    unmapped_samples: list[str] = field(default_factory=list)
    inserted: int = 0
    unchanged: int = 0
    dry_run: bool = False
    import_run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "plates": self.plates,
                "results": self.results, "unmapped_samples": self.unmapped_samples,
                "inserted": self.inserted, "unchanged": self.unchanged,
                "dry_run": self.dry_run, "import_run_id": self.import_run_id}


@dataclass(frozen=True)
class MapRow:
    row: int
    sample: str
    biopsy: str
    culture_day: float
    treatment: str | None
    analyte: str


def read_elisa_biopsy_map(path: str | Path) -> tuple[str, list[MapRow]]:
    """Read and validate the biopsy map -> (sha256, rows).

    Raises
    ------
    InputError
        Missing columns, empty sample / biopsy_id / analyte, a culture day that is
        not a number >= 0, a (sample, analyte) mapped twice: file, row, column named.
    """
    from decidua.io.readers import read_table

    table = read_table(path)
    missing = [c for c in MAP_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"ELISA biopsy map needs the columns {', '.join(MAP_COLUMNS)} "
                         f"(missing: {', '.join(missing)})", file=table.path)
    rows: list[MapRow] = []
    seen: dict[tuple[str, str], int] = {}
    problems = []
    for row_no, r in table.rows:
        bad = False
        for col in ("sample", "biopsy_id", "analyte"):
            if not r.get(col):
                problems.append(Problem(f"{col} is empty", table.path, row_no, col))
                bad = True
        raw_day = r.get("culture_day")
        try:
            day = float(raw_day) if raw_day is not None else math.nan
        except ValueError:
            day = math.nan
        if not (math.isfinite(day) and day >= 0):
            problems.append(Problem("culture_day must be a number >= 0 (day 0 = before "
                                    "treatment)", table.path, row_no, "culture_day", raw_day))
            bad = True
        if bad:
            continue
        key = (str(r["sample"]), str(r["analyte"]).upper())
        if key in seen:
            problems.append(Problem(f"sample {key[0]!r} is mapped twice for analyte "
                                    f"{r['analyte']!r} (row {seen[key]})", table.path, row_no,
                                    "sample", key[0]))
            continue
        seen[key] = row_no
        rows.append(MapRow(row_no, str(r["sample"]), str(r["biopsy_id"]), day,
                           r.get("treatment") or None, str(r["analyte"])))
    if problems:
        raise InputError(problems)
    if not rows:
        raise InputError("ELISA biopsy map has no rows", file=table.path)
    return table.sha256, rows


def import_elisa(
    session: Session,
    actor: str,
    path: str | Path,
    biopsy_map: str | Path,
    *,
    plate_map: str | Path | None = None,
    model: str = "4pl",
    weights: str = "none",
    fmt: str = "auto",
    analyte: str | None = None,
    dry_run: bool = False,
) -> ElisaImportReport:
    """Store each mapped sample's concentration on its biopsy (one transaction).

    Parameters
    ----------
    session
        Open session; the caller commits. A dry run rolls its work back here.
    actor
        Who imports (import run and audit trail).
    path
        The reader export (SoftMax Pro / Gen5 text, or an OD grid with ``plate_map``).
    biopsy_map
        CSV/XLSX ``sample, biopsy_id, culture_day, treatment, analyte``.
    plate_map, model, weights, fmt, analyte
        As ``decidua elisa fit`` (``--map``, ``--model``, ``--weights``, ``--format``,
        ``--analyte``).
    dry_run
        Validate and compute only; nothing is written.

    Raises
    ------
    InputError
        Any problem of the plates (plate, well and field named), of the map (file,
        row, column), an unknown biopsy, a map row whose sample is on no plate,
        a sample matching two map rows. Nothing is stored.
    """
    from sqlalchemy import select

    from decidua.assays.elisa import analyse_plate
    from decidua.assays.elisa.curve import MODELS, WEIGHTS
    from decidua.io.platereader import read_plates
    from decidua.io.readers import file_sha256
    from decidua.store import models as m
    from decidua.store.results import NewResult, open_import_run
    from decidua.store.session import lock_for_write

    for name, val, allowed in (("--model", model, MODELS), ("--weights", weights, WEIGHTS)):
        if val not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}", value=val)
    require_schema(session)
    p = Path(path)
    plates = read_plates(p, plate_map, fmt=fmt, analyte=analyte)
    sha = file_sha256(p)
    map_sha, rows = read_elisa_biopsy_map(biopsy_map)
    results = []
    problems: list[Problem] = []
    for plate in plates:
        try:
            results.append(analyse_plate(plate, model=model, weights=weights))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)

    codes = sorted({r.biopsy for r in rows})
    found = {b.code: b for b in session.scalars(select(m.Biopsy).where(m.Biopsy.code.in_(codes)))}
    for r in rows:
        if r.biopsy not in found:
            problems.append(Problem(f"unknown biopsy {r.biopsy!r} (import it with `decidua "
                                    "import biopsies` first)", str(biopsy_map), r.row,
                                    "biopsy_id", r.biopsy))
    # match plate samples to map rows: by sample, and by analyte when the plate names one
    matched: list[tuple[Any, Any, MapRow]] = []
    used: set[int] = set()
    unmapped = []
    for res in results:
        plate_analyte = (res.analyte or "").upper() or None
        for s in res.samples:
            if s.role != "sample":
                continue
            cands = [r for r in rows if r.sample == s.sample
                     and (plate_analyte is None or r.analyte.upper() == plate_analyte)]
            if not cands:
                unmapped.append(f"{res.plate}:{s.sample}")
                continue
            if len(cands) > 1:
                problems.append(Problem(
                    f"plate {res.plate!r}, sample {s.sample!r}, field 'analyte': the plate does "
                    f"not name its analyte and the map gives {len(cands)} (rows "
                    f"{', '.join(str(c.row) for c in cands)}); pass --analyte",
                    str(biopsy_map), cands[0].row, "analyte"))
                continue
            if cands[0].row in used:
                problems.append(Problem(f"plate {res.plate!r}, sample {s.sample!r}: this map row "
                                        "matches samples on two plates", str(biopsy_map),
                                        cands[0].row, "sample", s.sample))
                continue
            used.add(cands[0].row)
            matched.append((res, s, cands[0]))
    for r in rows:
        if r.row not in used and not any(pr.row == r.row for pr in problems):
            problems.append(Problem(f"sample {r.sample!r} ({r.analyte}) is on no plate of "
                                    f"{p.name}", str(biopsy_map), r.row, "sample", r.sample))
    if problems:
        raise InputError(problems)

    report = ElisaImportReport(file=str(path), sha256=sha, dry_run=dry_run,
                               unmapped_samples=sorted(unmapped))
    for res in results:
        report.plates.append({"plate": res.plate, "analyte": res.analyte,
                              "model": res.curve.model, "weights": res.curve.weights,
                              "r2": res.curve.r2, "lloq": res.lloq, "uloq": res.uloq})
    analysis_version = f"decidua.assays.elisa:{model}:{weights}"
    pending = []
    for res, s, r in matched:
        wells = [w.to_dict() for w in res.wells if w.sample == s.sample
                 and w.role == s.role]
        values = {
            "assay": "elisa", "sample": s.sample, "plate": res.plate, "analyte": r.analyte,
            "culture_day": r.culture_day, "treatment": r.treatment,
            "concentration": s.mean_concentration, "sd_concentration": s.sd_concentration,
            "cv_pct": s.cv_pct, "dilution": s.dilution, "n_wells": s.n, "flag": s.flag,
            "interval": None if s.interval is None else s.interval.to_dict(),
            "wells": wells,
            "curve": {"model": res.curve.model, "weights": res.curve.weights,
                      "params": dict(res.curve.params), "r2": res.curve.r2,
                      "lloq": res.lloq, "uloq": res.uloq},
            "biopsy_map_sha256": map_sha}
        key = f"elisa:{sha[:16]}:{res.plate}:{r.analyte}:{s.sample}"[:128]
        pending.append((r, key, values, s.flag))
        report.results.append({"biopsy": r.biopsy, "sample": s.sample, "plate": res.plate,
                               "analyte": r.analyte, "culture_day": r.culture_day,
                               "treatment": r.treatment,
                               "concentration": s.mean_concentration, "cv_pct": s.cv_pct,
                               "flag": s.flag})
    if dry_run:
        session.rollback()
        return report

    lock_for_write(session, ("assay_result",))
    store = open_import_run(session, actor, kind="elisa", path=p, sha256=sha,
                            importer_version=IMPORTER_VERSION, n_rows=len(rows))
    report.import_run_id = store.run.id
    new = []
    for r, key, values, flag in pending:
        values = _clean(values)
        new.append(NewResult(
            r.biopsy, found[r.biopsy].id, RESULT_KIND, key, values,
            qc_status="pass" if flag is None and values["concentration"] is not None
            else "pending", batch=f"elisa-{sha[:12]}", analysis_version=analysis_version,
            entity_key=f"{r.biopsy}:{key}"))
    # ELISA results stored before migration 0008 have kind 'decidualization'
    store.store(session, actor, new,
                kind_aliases={k: RESULT_KIND for k in ELISA_KINDS if k != RESULT_KIND})
    store.finish()
    report.inserted, report.unchanged = store.inserted, store.unchanged
    return report


def _clean(o: Any) -> Any:
    """JSON-safe copy: non-finite numbers -> None, numpy scalars -> Python."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, bool) or o is None or isinstance(o, str):
        return o
    if isinstance(o, int):
        return int(o)
    try:
        f = float(o)
    except (TypeError, ValueError):
        return str(o)
    return f if math.isfinite(f) else None
