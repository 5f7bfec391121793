"""`decidua unk …` commands: uNK cells from CD56 images, % from field counts.

A thin edge over :mod:`decidua.assays.unk.image` (image counts) and
:mod:`decidua.assays.unk.stats` (pooled % with its interval). Files only: no
database, no user.
"""

from __future__ import annotations

from pathlib import Path

import typer

from decidua.cli.output import console, echo_json, table

app = typer.Typer(
    help="uNK density: CD56+ cells of stromal cells from CD56 immunostained images or "
    "field counts (Lash et al. 2016: 10 random fields at x400). Research use only.",
    no_args_is_help=True,
)


def _pooled(counts: list[tuple[int, int]]) -> dict | None:
    from decidua.assays.unk.stats import unk_percent

    if not counts or sum(n for _, n in counts) == 0:
        return None
    return unk_percent([k for k, _ in counts], [n for _, n in counts]).to_dict()


@app.command("count")
def count(
    images: list[Path] = typer.Argument(..., help="Field images (PNG/JPEG/TIFF), one per field."),
    biopsy: str = typer.Option(None, "--biopsy", help="Biopsy code the fields come from "
                               "(a label in the output)."),
    nucleus_diameter: float = typer.Option(12.0, "--nucleus-diameter", help="Typical nucleus "
                                           "diameter in pixels at this image scale."),
    dab_threshold: float = typer.Option(0.15, "--dab-threshold", help="DAB optical density "
                                        "(base 10) above which a cell is CD56+."),
    overlay_dir: Path = typer.Option(None, "--overlay-dir", help="Write a QC overlay PNG per "
                                     "field here (CD56+ red, stromal green)."),
    sheet_out: Path = typer.Option(None, "--sheet-out", help="Write the counts as a uNK "
                                   "count sheet for `decidua import unk` (needs --biopsy)."),
    protocol: str = typer.Option("lash2016", "--protocol", help="Counting protocol written to "
                                 "--sheet-out (references are never pooled across protocols)."),
    magnification: str = typer.Option("x400", "--magnification", help="Objective written to "
                                      "--sheet-out."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Count CD56+ (DAB) and stromal (haematoxylin-only) cells per field and pooled.

    Example: decidua unk count field01.png field02.png --biopsy B-001 --overlay-dir qc --json;
    decidua unk count f*.png --biopsy B-001 --sheet-out counts.csv && decidua import unk counts.csv
    """
    from decidua.errors import InputError

    if sheet_out is not None and not biopsy:
        raise InputError("--sheet-out needs --biopsy CODE (the sheet's biopsy_id)")
    from decidua.assays.clonogenicity.image import image_sha256, load_image
    from decidua.assays.unk.image import ANALYSIS_VERSION, PROTOCOL, count_field, save_overlay

    fields = []
    for p in images:
        img = load_image(p)
        r = count_field(img, field=p.name, nucleus_diameter_px=nucleus_diameter,
                        dab_threshold=dab_threshold)
        d = r.to_dict()
        d["image"] = str(p)
        d["sha256"] = image_sha256(p)
        if overlay_dir is not None:
            d["overlay"] = str(save_overlay(overlay_dir / f"{p.stem}_overlay.png", img, r))
        fields.append(d)
    pooled = _pooled([(f["cd56_positive"], f["total"]) for f in fields])
    if sheet_out is not None:
        import csv

        sheet_out.parent.mkdir(parents=True, exist_ok=True)
        with sheet_out.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["biopsy_id", "field", "cd56_positive", "stromal_cells", "magnification",
                        "protocol", "method"])
            for i, f in enumerate(fields, start=1):
                w.writerow([biopsy, i, f["cd56_positive"], f["total"], magnification, protocol,
                            "image"])
    if as_json:
        echo_json({"biopsy": biopsy, "protocol": PROTOCOL, "analysis_version": ANALYSIS_VERSION,
                   "fields": fields, "pooled": pooled})
        return
    t = table(f"uNK fields{' of ' + biopsy if biopsy else ''}",
              ["field", "CD56+", "stromal", "total", "uNK %"])
    for f in fields:
        pct = "" if f["unk_pct"] is None else f"{f['unk_pct']:.1f}"
        t.add_row(f["field"], str(f["cd56_positive"]), str(f["stromal"]), str(f["total"]), pct)
    console.print(t)
    if pooled:
        iv = pooled["interval"]
        console.print(f"pooled over {pooled['n_fields']} fields: {pooled['unk_pct']:.2f} % "
                      f"({iv['low']:.2f}-{iv['high']:.2f}, {iv['level']:.0%})")
    if len(fields) != 10:
        console.print(f"note: {len(fields)} fields; the Lash et al. 2016 protocol counts 10 "
                      "random fields at x400")


@app.command("pool")
def pool(
    counts: Path = typer.Argument(..., help="CSV/XLSX with columns field, cd56_positive, total."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Pool manual field counts: % CD56+ of stromal cells with its interval.

    Example: decidua unk pool counts.csv --json
    """
    from decidua.errors import InputError, Problem
    from decidua.io.readers import read_table

    tab = read_table(counts)
    need = ("field", "cd56_positive", "total")
    missing = [c for c in need if c not in tab.columns]
    if missing:
        raise InputError(f"uNK counts need the columns {', '.join(need)} (missing: "
                         f"{', '.join(missing)})", file=tab.path)
    rows, problems = [], []
    for row_no, row in tab.rows:
        vals = {}
        for col in ("cd56_positive", "total"):
            raw = row.get(col)
            try:
                v = float(raw)
                if not v.is_integer():
                    raise ValueError
                vals[col] = int(v)
            except (TypeError, ValueError):
                problems.append(Problem("not a whole number", tab.path, row_no, col, raw))
                continue
            if vals[col] < 0:
                problems.append(Problem("a count cannot be negative", tab.path, row_no, col,
                                        raw))
        if len(vals) == 2 and 0 <= vals["cd56_positive"] and vals["cd56_positive"] > vals["total"]:
            problems.append(Problem(f"CD56+ cells ({vals['cd56_positive']}) above the total "
                                    f"({vals['total']})", tab.path, row_no, "cd56_positive",
                                    vals["cd56_positive"]))
        rows.append((row.get("field") or f"row {row_no}", vals))
    if problems:
        raise InputError(problems)
    if not rows:
        raise InputError("no fields in the counts file", file=tab.path)
    pooled = _pooled([(v["cd56_positive"], v["total"]) for _, v in rows])
    if pooled is None:
        raise InputError("no cells counted in any field", file=tab.path, column="total")
    if as_json:
        echo_json({"file": str(counts), "protocol": "manual", "n_fields": len(rows),
                   "pooled": pooled})
        return
    iv = pooled["interval"]
    console.print(f"{len(rows)} fields: {pooled['unk_pct']:.2f} % CD56+ of stromal cells "
                  f"({iv['low']:.2f}-{iv['high']:.2f}, {iv['level']:.0%}; {iv['method']})")
