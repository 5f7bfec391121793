"""`decidua cfu …` commands: count colonies on plate images, correct counts, CFU statistics."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import typer
from rich.table import Table

from decidua.cli.output import console  # plain text: file names are never markup
from decidua.errors import InputError

app = typer.Typer(
    help="Clonogenicity (CFU) assay: colony counting from plate images and CFU statistics.",
    no_args_is_help=True,
)

_AREA_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|um2|µm2|mm2)?\s*$")


def parse_min_area(text: str) -> tuple[float | None, float | None]:
    """Parse ``--min-area``: ``40px``, ``100000um2``, ``0.1mm2`` or a number (um^2).

    Returns ``(min_area_um2, min_area_px)`` with one of them ``None``.
    """
    m = _AREA_RE.match(text)
    if not m:
        raise InputError(
            "--min-area must be a number with an optional unit px, um2 or mm2 (e.g. 0.1mm2)",
            value=text,
        )
    value, unit = float(m.group(1)), (m.group(2) or "um2")
    if not math.isfinite(value):
        raise InputError("--min-area must be a finite number", value=text)
    if value <= 0:
        raise InputError("--min-area must be > 0", value=text)
    if unit == "px":
        return None, value
    if unit == "mm2":
        return value * 1e6, None
    return value, None


@app.command("count")
def count(
    images: list[Path] = typer.Argument(..., help="Plate images (PNG, JPEG, TIFF, BMP)."),
    layout: str = typer.Option(
        "dish", "--layout", help="dish, 6-well, 12-well, 24-well, 48-well, 96-well or flask (T25)."
    ),
    min_area: str = typer.Option(
        "100000um2", "--min-area",
        help="Minimum colony area: number with unit px, um2 or mm2 (default 0.1 mm2).",
    ),
    well_diameter_mm: float = typer.Option(
        None, "--well-diameter-mm", help="Inner dish / well diameter (default from layout)."
    ),
    polarity: str = typer.Option(
        "auto", "--polarity",
        help="dark (stained colonies on a light background), light (pale colonies on a dark "
             "background) or auto (chosen per well, reported).",
    ),
    overlay_dir: Path = typer.Option(
        None, "--overlay-dir", help="Write a QC overlay PNG per image here."
    ),
    table_dir: Path = typer.Option(
        None, "--table-dir", help="Write the per-colony table (CSV) per image here."
    ),
    corrections: bool = typer.Option(
        True, "--corrections/--no-corrections",
        help="Re-apply manual corrections stored in IMAGE.cfu.json.",
    ),
    roi: str = typer.Option(
        None, "--roi",
        help="Count only inside this region: a polygon x,y;x,y;x,y (pixels) or a mask image.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per image)."),
) -> None:
    """Count stained colonies on dish or multi-well plate images.

    The JSON gives per image ``image``, ``colonies`` (the total over the
    countable wells), ``wells`` (per well: count, polarity, objects rejected
    by reason, flags, confidence), ``settings`` (minimum area with its unit
    and origin, vessel diameter, polarity), ``flags`` and ``confidence``.

    Example: decidua cfu count plate1.jpg plate2.jpg --layout 6-well --overlay-dir qc --json
    """
    from decidua.assays.clonogenicity.counting import POLARITIES, count_image_file
    from decidua.assays.clonogenicity.overlay import save_overlay

    area_um2, area_px = parse_min_area(min_area)
    if polarity not in POLARITIES:
        raise InputError(f"--polarity must be one of {', '.join(POLARITIES)}", value=polarity)
    if well_diameter_mm is not None and not math.isfinite(well_diameter_mm):
        raise InputError("--well-diameter-mm must be a finite number", value=well_diameter_mm)
    roi_value = None
    if roi is not None:
        from decidua.assays.clonogenicity.vessel import parse_roi

        roi_value = parse_roi(roi)
    for d, option in ((overlay_dir, "--overlay-dir"), (table_dir, "--table-dir")):
        if d is not None:
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot create the folder: {exc.strerror or exc}",
                                 file=str(d), column=option) from None
    names = _output_stems(images)
    results = []
    for path, stem in zip(images, names, strict=True):
        img, res = _count_one(
            count_image_file, path, layout, use_sidecar=corrections, min_area_um2=area_um2,
            min_area_px=area_px, well_diameter_mm=well_diameter_mm, polarity=polarity,
            roi=roi_value,
        )
        doc = {"image": str(path), **res.report()}
        if overlay_dir is not None:
            out = save_overlay(overlay_dir / f"{stem}.cfu.png", img, res)
            doc["overlay"] = str(out)
        if table_dir is not None:
            tab = table_dir / f"{stem}.colonies.csv"
            try:
                res.to_frame().to_csv(tab, index=False)
            except OSError as exc:
                raise InputError(f"cannot write the colony table: {exc.strerror or exc}",
                                 file=str(tab), column="--table-dir") from None
            doc["table"] = str(tab)
        results.append(doc)
    if as_json:
        text = json.dumps(results[0] if len(results) == 1 else results, indent=2)
        typer.echo(text)
        return
    table = Table(title="Colony counts")
    for col in ("image", "well", "colonies", "polarity", "rejected", "flags", "confidence"):
        table.add_column(col)
    for doc in results:
        for w in doc["wells"]:
            rej = ", ".join(f"{k} {v}" for k, v in w["rejected"].items() if v)
            table.add_row(doc["image"], w["well"],
                          "not countable" if w["colonies"] is None else str(w["colonies"]),
                          w["polarity"] or "-", rej or "-", ", ".join(w["flags"]) or "-",
                          f"{w['confidence']:.2f}")
    console.print(table)


def _output_stems(images: list[Path]) -> list[str]:
    """One output name per image: its file stem, with ``-2``, ``-3``… added to a stem
    already used in this run (day1/plate.jpg and day2/plate.jpg, or plate.jpg and
    plate.png, would otherwise write one overlay and one table over the other)."""
    used: set[str] = set()
    out = []
    for path in images:
        stem, k = path.stem, 1
        while stem.lower() in used:  # case-insensitive file systems too
            k += 1
            stem = f"{path.stem}-{k}"
        used.add(stem.lower())
        out.append(stem)
    return out


def _count_one(func, path: Path, layout: str, **kwargs):  # type: ignore[no-untyped-def]
    """Count one image; an unexpected failure becomes an InputError naming the file
    (a traceback reaching a user is a bug: report it with the message)."""
    from decidua.errors import DeciduaError

    try:
        return func(path, layout, **kwargs)
    except DeciduaError:
        raise
    except MemoryError:
        raise InputError("not enough memory to analyse this image", file=str(path)) from None
    except Exception as exc:  # noqa: BLE001 - last resort: exit 1 with the file named
        raise InputError(f"could not analyse the image ({type(exc).__name__}: {exc}); "
                         "please report this with the image", file=str(path)) from None


@app.command("correct")
def correct(
    image: Path = typer.Argument(..., help="Image whose counts to correct."),
    add: list[str] = typer.Option([], "--add", help="Add a colony at X,Y (pixels)."),
    remove: list[str] = typer.Option([], "--remove", help="Remove the colony at X,Y."),
    clear: bool = typer.Option(False, "--clear", help="Drop all stored corrections first."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored corrections as JSON."),
) -> None:
    """Store manual corrections in IMAGE.cfu.json (re-applied by `cfu count`).

    Example: decidua cfu correct plate1.jpg --add 512,640 --remove 100,220
    """
    from decidua.assays.clonogenicity.counting import (
        Correction,
        load_corrections,
        save_corrections,
        sidecar_path,
    )
    from decidua.assays.clonogenicity.image import image_sha256

    if not image.is_file():
        raise InputError("image file not found", file=str(image))
    side = sidecar_path(image)
    stored = [] if clear else load_corrections(side)
    for action, items in (("add", add), ("remove", remove)):
        for item in items:
            parts = item.split(",")
            try:
                x, y = (float(v) for v in parts)
            except ValueError:
                raise InputError(f"--{action} expects X,Y in pixels", value=item) from None
            if not (math.isfinite(x) and math.isfinite(y)):
                # a NaN would be written into the sidecar (invalid JSON) and refuse every
                # later count and correction of this image
                raise InputError(f"--{action}: X and Y must be finite numbers of pixels",
                                 file=str(image), value=item)
            stored.append(Correction(action, x, y))
    save_corrections(side, stored, image_sha=image_sha256(image))
    if as_json:
        typer.echo(json.dumps({"sidecar": str(side),
                               "corrections": [c.to_dict() for c in stored]}, indent=2))
    else:
        console.print(f"{len(stored)} correction(s) stored in {side}")


@app.command("stats")
def stats_cmd(
    file: Path = typer.Argument(..., help="Count table (CSV/XLSX): biopsy_id, plate, well, "
                                "cells_seeded, colonies."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """CFU % per biopsy (replicates pooled) with exact Poisson intervals.

    Example: decidua cfu stats counts.csv --json
    """
    from decidua.assays.clonogenicity.stats import pool_counts
    from decidua.io.cfu import read_manual_counts

    df = read_manual_counts(file)
    pooled = pool_counts(df, "biopsy_id", confidence)
    if as_json:
        recs = json.loads(pooled.to_json(orient="records"))
        typer.echo(json.dumps({"file": str(file), "confidence": confidence, "biopsies": recs},
                              indent=2))
        return
    table = Table(title=f"CFU % ({confidence:.0%} exact Poisson interval)")
    for col in ("biopsy", "plates", "colonies", "cells", "CFU %", "interval"):
        table.add_column(col)
    for r in pooled.itertuples(index=False):
        table.add_row(str(r.biopsy_id), str(r.n_plates), str(r.colonies), str(r.cells_seeded),
                      f"{r.cfu_pct:.3f}", f"{r.lower_pct:.3f}-{r.upper_pct:.3f}")
    console.print(table)
