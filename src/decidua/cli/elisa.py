"""`decidua elisa …` commands: fit plate standard curves and back-calculate concentrations.

A thin edge over :mod:`decidua.io.platereader` (files) and
:mod:`decidua.assays.elisa` (the science).
"""

from __future__ import annotations

from pathlib import Path

import typer

from decidua.cli.output import console, dry_run_prefix, echo_json, table

app = typer.Typer(
    help="ELISA plates: 4PL / 5PL standard curves, back-calculated concentrations, LLOQ/ULOQ. "
    "Research use only.",
    no_args_is_help=True,
)


def _fmt(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}g}"


@app.command("fit")
def fit(
    file: Path = typer.Argument(..., help="SoftMax Pro / Gen5 text export, or an OD grid "
                                "(CSV/XLSX) with --map."),
    plate_map: Path = typer.Option(None, "--map", help="Plate-map CSV: well, role, "
                                   "concentration, dilution, sample[, group, plate, analyte, "
                                   "masked_by, mask_reason]."),
    model: str = typer.Option("4pl", "--model", help="4pl or 5pl."),
    weights: str = typer.Option("none", "--weights", help="none, 1/y2, 1/var or power."),
    fit_to: str = typer.Option("mean", "--fit-to", help="mean (of each standard's replicates) "
                               "or replicates."),
    fmt: str = typer.Option("auto", "--format", help="auto, softmax, gen5 or grid."),
    analyte: str = typer.Option(None, "--analyte", help="Analyte name (e.g. PRL, IGFBP1)."),
    wavelength: int = typer.Option(None, "--wavelength", help="SoftMax Pro: the read to use (nm)."),
    reference: int = typer.Option(None, "--reference", help="SoftMax Pro: reference wavelength "
                                  "(nm) to subtract."),
    plot_dir: Path = typer.Option(None, "--plot-dir", help="Write each plate's standard curve "
                                  "with its samples as PNG here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit each plate's standard curve and back-calculate its wells and samples.

    Example: decidua elisa fit plate.csv --map map.csv --model 4pl --weights 1/y2 --json
    """
    from decidua.assays.elisa import analyse_plate
    from decidua.assays.elisa.curve import FIT_TO, MODELS, WEIGHTS
    from decidua.errors import InputError
    from decidua.io.platereader import read_plates

    for name, val, allowed in (("--model", model, MODELS), ("--weights", weights, WEIGHTS),
                               ("--fit-to", fit_to, FIT_TO)):
        if val not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}", value=val)
    plates = read_plates(file, plate_map, fmt=fmt, analyte=analyte, wavelength_nm=wavelength,
                         reference_nm=reference)
    results = []
    problems = []
    for p in plates:
        try:
            results.append(analyse_plate(p, model=model, weights=weights, fit_to=fit_to))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    plots: dict[str, str] = {}
    if plot_dir is not None:
        import re

        from decidua.assays.elisa.plot import plot_standard_curve

        plot_dir.mkdir(parents=True, exist_ok=True)
        for r in results:
            out = plot_dir / f"{file.stem}_{re.sub(r'[^A-Za-z0-9._-]+', '_', r.plate)}.png"
            plot_standard_curve(r).savefig(out, dpi=120)
            plots[r.plate] = str(out)
    if as_json:
        docs = [r.to_dict() for r in results]
        for d in docs:
            if d["plate"] in plots:
                d["plot"] = plots[d["plate"]]
        echo_json({"file": str(file), "plates": docs})
        return
    for r in results:
        params = ", ".join(f"{k}={_fmt(v, 5)}" for k, v in r.curve.params.items())
        console.print(f"plate {r.plate} ({r.analyte or 'analyte not given'}): {model.upper()} "
                      f"{params}; R2 {r.curve.r2:.4f}; LLOQ {_fmt(r.lloq)} ULOQ {_fmt(r.uloq)}")
        t = table(f"samples on {r.plate}", ["sample", "wells", "mean conc", "CV %", "flag"])
        for s in r.samples:
            t.add_row(s.sample, " ".join(s.wells), _fmt(s.mean_concentration),
                      _fmt(s.cv_pct, 3), s.flag or "")
        console.print(t)


def import_elisa_cli(file: Path, biopsy_map: Path | None, plate_map: Path | None,
                     analyte: str | None, model: str, weights: str, *, dry_run: bool,
                     as_json: bool) -> None:
    """`decidua import elisa FILE --biopsy-map MAP.csv` (called by the import command)."""
    from decidua.cli.core import actor
    from decidua.errors import InputError
    from decidua.services.elisa_import import import_elisa
    from decidua.store.session import session_scope

    if biopsy_map is None:
        raise InputError("import elisa needs --biopsy-map MAP.csv (columns sample, biopsy_id, "
                         "culture_day, treatment, analyte)", file=str(file))
    with session_scope() as s:
        report = import_elisa(s, actor(), file, biopsy_map, plate_map=plate_map, model=model,
                              weights=weights, analyte=analyte, dry_run=dry_run)
    if as_json:
        echo_json(report.to_dict())
        return
    prefix = dry_run_prefix(dry_run)
    console.print(f"{prefix}elisa {file}: {len(report.plates)} plates, "
                  f"{len(report.results)} samples on biopsies; inserted {report.inserted}, "
                  f"unchanged {report.unchanged}")
    t = table("stored", ["biopsy", "sample", "plate", "analyte", "day", "concentration", "flag"])
    for r in report.results:
        t.add_row(r["biopsy"], r["sample"], r["plate"], r["analyte"], f"{r['culture_day']:g}",
                  _fmt(r["concentration"]), r["flag"] or "")
    console.print(t)
    if report.unmapped_samples:
        console.print("  not stored (not in the map): " + ", ".join(report.unmapped_samples))
