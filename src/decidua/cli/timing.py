"""`decidua timing …` commands: fit a timing reference, place biopsies, centiles.

Formatting only: the use cases are :mod:`decidua.services.timing`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import typer

from decidua import RESEARCH_USE_LABEL
from decidua.cli.output import console, echo_json, err_console, table

app = typer.Typer(
    help="Endometrial timing (EndoTime-compatible): fit a reference, place biopsies, "
    "timing-adjusted centiles. Research use only; not a diagnostic device.",
    no_args_is_help=True,
)


def _emit(
    payload: Any,
    as_json: bool,
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    lines: Iterable[str] = (),
) -> None:
    """Print a command's result: JSON, or a table and text lines, then the research notice."""
    if as_json:
        echo_json(payload)
        return
    t = table(title, columns)
    for row in rows:
        t.add_row(*row)
    console.print(t)
    for line in lines:
        console.print(line)
    console.print(RESEARCH_USE_LABEL)


def _warn(message: str) -> None:
    err_console.print(f"Warning: {message}")


@app.command("fit")
def fit_cmd(
    cohort: Path = typer.Argument(..., help="Cohort CSV: ID, BATCH, LH, one ΔCt column per gene."),
    out: Path = typer.Option(..., "-o", "--out", help="Output directory for the reference."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the fit (LH jitter, ties; the ensemble members derive from it)."
    ),
    n_seeds: int | None = typer.Option(
        None,
        "--n-seeds",
        min=1,
        help="Seed-ensemble size: orderings averaged per biopsy (default: the module "
        "default, 8; 1 = a single fit).",
    ),
    max_iterations: int | None = typer.Option(
        None, "--max-iterations", min=1, help="Iteration cap (default: the module default)."
    ),
    calibrate: bool = typer.Option(
        True,
        "--calibrate/--no-calibrate",
        help="Calibrate the placement interval by leave-one-batch-out (one refit per batch; "
        "needs >= 3 batches).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Fit a timing reference on a cohort and write estimates.csv + reference.json.

    Example: decidua timing fit training_data.csv -o ref/ --seed 1
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from decidua.services import timing as service

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console.rich,
        transient=True,
        disable=as_json or not err_console.rich.is_terminal,
    ) as progress:
        order_task = progress.add_task("ordering biopsies", total=None)
        fold_task: list[Any] = []

        def on_ordering(done: int, total: int, window: int, distance: float) -> None:
            progress.update(
                order_task,
                total=total,
                completed=done,
                description=f"ordering (window {window}, distance {distance:.2f})",
            )

        def on_fold(done: int, total: int) -> None:
            if not fold_task:
                fold_task.append(
                    progress.add_task("calibrating interval (leave one batch out)", total=total)
                )
            progress.update(fold_task[0], completed=done)

        outcome = service.fit_reference(
            cohort,
            out,
            seed=seed,
            n_seeds=n_seeds,
            max_iterations=max_iterations,
            calibrate=calibrate,
            on_ordering=on_ordering,
            on_fold=on_fold,
        )
    for w in outcome.warnings:
        _warn(w)
    if as_json:
        echo_json(outcome.to_dict())
        return
    ref = outcome.reference
    res = ref.result
    assert res is not None
    console.print(
        f"Fitted {len(res.ids)} biopsies: {res.stop_reason} after {res.iterations} iterations "
        f"(last distance {res.distances[-1]:.2f}); asynchrony threshold "
        f"{res.asynchrony_threshold:.3f} days, {int(res.asynchronous.sum())} asynchronous."
    )
    cal = ref.calibration
    if cal is not None:
        row = cal.summary["new batch"][f"{cal.level:g}"]
        console.print(
            f"Interval calibrated: central {ref.interval_mass_level:.2f} of the density for a "
            f"nominal {cal.level:.0%} interval (held-out coverage "
            f"{row['coverage_cross_validated']:.3f}, median width "
            f"{row['width_cross_validated_median_days']:.2f} days)."
        )
    console.print(f"Wrote {outcome.estimates_path} and {outcome.reference_path}")
    console.print(RESEARCH_USE_LABEL)


@app.command("place")
def place_cmd(
    reference: Path = typer.Argument(
        ...,
        help="Reference directory (or reference.json), or the word 'default' for the "
        "reference shipped with Decidua (EndoTime training data, seed 1).",
    ),
    biopsies: Path = typer.Argument(..., help="Biopsy CSV: ID, optional BATCH/LH, ΔCt per gene."),
    strict: bool = typer.Option(False, "--strict", help="Refuse batches unknown to the reference."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: one object per biopsy."),
) -> None:
    """Place new biopsies on a saved reference (the reference is not changed).

    Examples: decidua timing place ref/ new_biopsies.csv --json;
    decidua timing place default new_biopsies.csv --json (shipped reference)
    """
    from decidua.assays.timing import INTERVAL_LEVEL
    from decidua.services import timing as service

    placement, rows = service.place_biopsies(reference, biopsies, strict=strict)
    for w in placement.warnings:
        _warn(w)
    label = f"{INTERVAL_LEVEL:.0%} interval" + (
        "" if placement.interval_calibrated else " (uncal.)"
    )
    oop_label = "P(out of phase)" + ("" if placement.out_of_phase_calibrated else " (uncal.)")
    _emit(
        rows,
        as_json,
        "Endometrial timing",
        ("ID", "LH+ est.", label, "asynchrony", "asynchronous", oop_label),
        (
            (
                r["ID"],
                f"{r['estimated_lh_day']:.2f}",
                f"{r['interval'][0]:.1f}–{r['interval'][1]:.1f}",
                f"{r['asynchrony_score']:.2f}",
                "yes" if r["asynchronous"] else "no",
                "–"
                if r["out_of_phase_probability"] is None
                else f"{r['out_of_phase_probability']:.2f}",
            )
            for r in rows
        ),
    )


@app.command("centiles")
def centiles_cmd(
    cohort: Path = typer.Argument(..., help="Reference CSV with the marker (and cycle time)."),
    marker: str = typer.Option(..., "--marker", help="Marker column, e.g. unk_pct."),
    time_column: str = typer.Option("estimated_lh_day", "--time-column", help="Cycle-time column."),
    reference: Path | None = typer.Option(
        None,
        "--reference",
        help="Timing reference directory (or 'default'): look up cycle times by ID.",
    ),
    score: Path | None = typer.Option(
        None, "--score", help="CSV of new values (ID, time column, marker) to score."
    ),
    save: Path | None = typer.Option(None, "--save", help="Write the centile model (JSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Timing-adjusted centiles (5/10/50/90/95) of a marker; score new values.

    Example: decidua timing centiles cohort.csv --marker unk_pct --score new.csv --json
    """
    from decidua.services import timing as service

    outcome = service.centiles(
        cohort, marker, time_column=time_column, reference=reference, score=score, save=save
    )
    out = outcome.to_dict()
    curves = outcome.curves
    _emit(
        out,
        as_json,
        f"Centiles of {marker} by {time_column}",
        list(curves.columns),
        ([f"{x:.3g}" for x in rec] for rec in curves.itertuples(index=False)),
        (
            f"{s['ID']}: {marker}={s[marker]:g} at {s[time_column]:.2f} → "
            f"centile {100 * s['centile']:.1f} (z {s['z']:+.2f})"
            for s in out.get("scores", [])
        ),
    )


@app.command("write-default-reference")
def write_default_reference_cmd(
    path: Path | None = typer.Argument(
        None, help="Output file or directory (default: the file inside the package)."
    ),
) -> None:
    """Refit the shipped default reference (EndoTime training data, seed 1, calibrated).

    Example: decidua timing write-default-reference /tmp/reference.json
    """
    from decidua.services import timing as service

    console.print(f"wrote {service.write_default_reference(path)}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m decidua.assays.timing --write-default-reference [PATH]``.

    The maintenance entry point recorded in the shipped reference's provenance
    (``DEFAULT_REFERENCE_COMMAND``); ``decidua timing write-default-reference`` does
    the same.
    """
    parser = argparse.ArgumentParser(
        prog="python -m decidua.assays.timing", description="Endometrial timing maintenance."
    )
    parser.add_argument(
        "--write-default-reference",
        nargs="?",
        const="",
        metavar="PATH",
        help="refit the shipped default reference (seed 1, calibrated) and write it "
        "(default: the file inside the package)",
    )
    args = parser.parse_args(argv)
    if args.write_default_reference is None:
        parser.print_help()
        return 2
    from decidua.services import timing as service

    out = service.write_default_reference(
        Path(args.write_default_reference) if args.write_default_reference else None
    )
    print(f"wrote {out}")
    return 0
