"""`decidua timing …` commands: fit a timing reference, place biopsies, centiles."""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from decidua import RESEARCH_USE_LABEL
from decidua.errors import InputError

app = typer.Typer(
    help="Endometrial timing (EndoTime-compatible): fit a reference, place biopsies, "
    "timing-adjusted centiles. Research use only; not a diagnostic device.",
    no_args_is_help=True,
)

console = Console()
err_console = Console(stderr=True)

#: Literal REF_DIR that selects the reference shipped with Decidua
#: (EndoTime training data, seed 1, calibrated; a directory of that name: ``./default``).
DEFAULT_REFERENCE_WORD = "default"

ESTIMATE_COLUMNS = [
    "ID",
    "pseudotime",
    "estimated_lh_day",
    "estimated_hours",
    "asynchrony_score",
    "asynchronous",
]


def _load_reference(path: Path) -> Any:
    """A saved reference, or the shipped default for the literal word ``default``."""
    from decidua.assays.timing import TimingReference, load_default_reference

    if str(path) == DEFAULT_REFERENCE_WORD:
        return load_default_reference()
    return TimingReference.load(path)


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a command's table (CSV/TSV/XLSX/Parquet) with the one table reader."""
    from decidua.io.readers import read_frame

    return read_frame(path, text_columns=("ID", "BATCH"))


def _numeric(table: pd.DataFrame, column: str, what: str, file: str) -> np.ndarray:
    """A numeric column of a command's table; every missing/non-numeric cell is refused."""
    from decidua.io.validate import numeric_column

    return numeric_column(table, column, what, file=file)


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
        typer.echo(json.dumps(payload, indent=1))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in lines:
        console.print(line, highlight=False)
    console.print(RESEARCH_USE_LABEL, highlight=False)


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
    from decidua.assays.timing import TimingReference

    df = _read_csv(cohort)
    ref = TimingReference() if n_seeds is None else TimingReference(n_seeds=n_seeds)
    cap = max_iterations or ref.max_iterations
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task("ordering biopsies", total=cap * ref.n_seeds)
        done = [0]  # orderings so far, over all ensemble members

        def step(iteration: int, distance: float, window: int) -> None:
            done[0] += 1
            progress.update(
                task,
                completed=done[0],
                description=f"ordering (window {window}, distance {distance:.2f})",
            )

        ref.fit(df, seed=seed, max_iterations=max_iterations, progress=step, file=str(cohort))
        n_batches = len(set(ref.result.batch)) if ref.result is not None else 0
        if calibrate and n_batches >= 3:
            # the folds refit with the same settings, cap included
            ref.max_iterations = cap
            cal = progress.add_task("calibrating interval (leave one batch out)", total=n_batches)
            ref.calibrate(
                df,
                seed=seed,
                progress=lambda k, total: progress.update(cal, completed=k),
                file=str(cohort),
            )
        elif calibrate:
            err_console.print(
                f"[yellow]Warning:[/yellow] {n_batches} batch(es): interval calibration needs "
                ">= 3; placement intervals are uncalibrated (conservative).",
                highlight=False,
            )
    ref.provenance["data"] = str(cohort)
    ref.provenance["data_sha256"] = hashlib.sha256(cohort.read_bytes()).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    est = ref.estimates()[ESTIMATE_COLUMNS]
    est.to_csv(out / "estimates.csv", index=False)
    ref.save(out / "reference.json")
    res = ref.result
    assert res is not None
    summary = {
        "reference": str(out / "reference.json"),
        "estimates": str(out / "estimates.csv"),
        **res.to_dict(),
        "interval_mass_level": ref.interval_mass_level,
        "interval_calibrated": ref.calibration is not None,
        "notice": RESEARCH_USE_LABEL,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    console.print(
        f"Fitted {len(res.ids)} biopsies: {res.stop_reason} after {res.iterations} iterations "
        f"(last distance {res.distances[-1]:.2f}); asynchrony threshold "
        f"{res.asynchrony_threshold:.3f} days, {int(res.asynchronous.sum())} asynchronous.",
        highlight=False,
    )
    if ref.calibration is not None:
        cal = ref.calibration.summary["new batch"][f"{ref.calibration.level:g}"]
        console.print(
            f"Interval calibrated: central {ref.interval_mass_level:.2f} of the density for a "
            f"nominal {ref.calibration.level:.0%} interval (held-out coverage "
            f"{cal['coverage_cross_validated']:.3f}, median width "
            f"{cal['width_cross_validated_median_days']:.2f} days).",
            highlight=False,
        )
    console.print(f"Wrote {out / 'estimates.csv'} and {out / 'reference.json'}", highlight=False)
    console.print(RESEARCH_USE_LABEL, highlight=False)


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
    ref = _load_reference(reference)
    df = _read_csv(biopsies)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        placement = ref.place(df, strict=strict, file=str(biopsies))
    for w in placement.warnings:
        err_console.print(f"[yellow]Warning:[/yellow] {w}", highlight=False)
    from decidua.assays.timing import INTERVAL_LEVEL

    rows = placement.to_dict()["biopsies"]
    for r in rows:
        r["notice"] = RESEARCH_USE_LABEL
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


def _times_for(table: pd.DataFrame, time_column: str, reference: Path | None, file: str) -> Any:
    """Cycle times for a marker table: its own column, or a reference's estimates by ID."""
    if time_column in table.columns:
        return _numeric(table, time_column, "cycle time", file)
    if reference is None:
        raise InputError(
            f"column {time_column!r} is missing; add it or give --reference to look up "
            "estimated times by ID",
            file=file,
            column=time_column,
        )
    ref = _load_reference(reference)
    est = ref.estimates().set_index("ID")
    if "ID" not in table.columns:
        raise InputError("required column is missing", file=file, column="ID")
    ids = table["ID"].astype(str)
    missing = np.flatnonzero(~ids.isin(est.index).to_numpy())
    if len(missing):
        raise InputError(
            "biopsy ID is not in the reference cohort",
            file=file,
            row=int(missing[0]) + 2,
            column="ID",
            value=ids.iloc[missing[0]],
        )
    return est.loc[ids, "estimated_lh_day"].to_numpy(float)


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
    from decidua.assays.timing import STANDARD_CENTILES, TimingCentiles

    table = _read_csv(cohort)
    t = _times_for(table, time_column, reference, str(cohort))
    v = _numeric(table, marker, "marker", str(cohort))
    model = TimingCentiles(marker, time_column).fit(t, v)
    if save is not None:
        model.save(save)
    out: dict[str, Any] = {"marker": marker, "notice": RESEARCH_USE_LABEL}
    if score is not None:
        new = _read_csv(score)
        tn = _times_for(new, time_column, reference, str(score))
        vn = _numeric(new, marker, "marker", str(score))
        sc = model.score(tn, vn)
        ids = new["ID"].astype(str).tolist() if "ID" in new.columns else [""] * len(vn)
        out["scores"] = [
            {
                "ID": i,
                time_column: float(a),
                marker: float(b),
                "centile": round(float(c), 4),
                "z": round(float(z), 3),
            }
            for i, a, b, c, z in zip(ids, tn, vn, sc.centile, sc.z_score, strict=True)
        ]
    days = np.arange(np.ceil(t.min()), np.floor(t.max()) + 1)
    curves = model.curves(days, STANDARD_CENTILES)
    out["curves"] = curves.round(4).to_dict(orient="records")
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
    from decidua.assays.timing import write_default_reference

    out = write_default_reference(path)
    console.print(f"wrote {out}", highlight=False)


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
    from decidua.assays.timing import write_default_reference

    out = write_default_reference(args.write_default_reference or None)
    print(f"wrote {out}")
    return 0
