"""`decidua decidualization …` commands: time-course summaries, a clinic's reference, classes.

A thin edge over :mod:`decidua.assays.decidualization`. Files only: no database, no user.
Input table (CSV/TSV/XLSX): ``culture, marker, day, value[, scale]``, one row per
replicate (docs/decidualization.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decidua.cli.output import console, echo_json, table

app = typer.Typer(
    help="Decidualization time courses (PRL, IGFBP1, qPCR markers over cAMP + MPA): fold "
    "change, AUC, half-max time, class against a clinic-fitted reference. Research use only.",
    no_args_is_help=True,
)


#: ``--reference`` of the commands that can add the class.
ReferenceOption = Annotated[Path | None, typer.Option(
    "--reference", help="A reference from `decidualization fit` (adds the class).")]


def _reference(path: Path | None):  # type: ignore[no-untyped-def]
    from decidua.assays.decidualization import DecidualizationReference

    return None if path is None else DecidualizationReference.load(path)


def _read(path: Path):  # type: ignore[no-untyped-def]
    from decidua.io.readers import read_frame

    return read_frame(path, text_columns=("culture", "marker", "scale"))


def _courses(path: Path):  # type: ignore[no-untyped-def]
    """The file's time courses; every problem names the file (the core cannot know it)."""
    import dataclasses

    from decidua.assays.decidualization import time_courses
    from decidua.errors import InputError

    try:
        return time_courses(_read(path))
    except InputError as exc:
        raise InputError([p if p.file else dataclasses.replace(p, file=str(path))
                          for p in exc.problems]) from None


@app.command("fit")
def fit(
    file: Path = typer.Argument(..., help="Reference cultures: culture, marker, day, value"
                                "[, scale]."),
    out: Path = typer.Option(..., "-o", "--out", help="Write the reference (JSON) here."),
    version: str = typer.Option("", "--version", help="A label stored with the reference."),
    lower: float = typer.Option(0.10, "--lower", help="Lower centile (blunted below)."),
    upper: float = typer.Option(0.90, "--upper", help="Upper centile (excessive above)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit a reference (centiles of log fold change by marker and day) from reference cultures.

    Example: decidua decidualization fit controls.csv -o ref.json --version clinic-2026 --json
    """
    from decidua.assays.decidualization import DecidualizationReference

    courses = _courses(file)
    ref = DecidualizationReference(lower=lower, upper=upper,
                                   version=version or file.name).fit(courses)
    ref.save(out)
    doc = {**ref.to_dict(), "file": str(file), "out": str(out)}
    if as_json:
        echo_json(doc)
        return
    console.print(f"reference {ref.version!r} from {ref.n_cultures} cultures written to {out}")
    t = table("reference bands (fold change)", ["marker", "day", "n", "median", "low", "high"])
    for m in ref.markers:
        for d in ref.days(m):
            b = ref.band(m, d)
            t.add_row(m, f"{d:g}", str(ref.day_reference(m, d).n), f"{b.estimate:.3g}",
                      f"{b.low:.3g}", f"{b.high:.3g}")
    console.print(t)


@app.command("course")
def course(
    file: Path = typer.Argument(..., help="Cultures: culture, marker, day, value[, scale]."),
    reference: ReferenceOption = None,
    plot_dir: Path = typer.Option(None, "--plot-dir", help="Write one PNG per culture here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fold change over day 0, AUC (trapezoid), half-max time per culture; class if --reference.

    Example: decidua decidualization course cultures.csv --reference ref.json --json
    """
    import re

    courses = _courses(file)
    ref = _reference(reference)
    docs = []
    for c in courses:
        d = c.to_dict()
        d["call"] = ref.classify(c).to_dict() if ref is not None else None
        if plot_dir is not None:
            from decidua.assays.decidualization.plot import plot_time_course

            plot_dir.mkdir(parents=True, exist_ok=True)
            png = plot_dir / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', c.culture)}.png"
            plot_time_course(c, ref).savefig(png, dpi=110)
            d["plot"] = str(png)
        docs.append(d)
    if as_json:
        echo_json({"file": str(file), "reference": None if ref is None else ref.version,
                   "cultures": docs})
        return
    t = table("decidualization", ["culture", "marker", "peak fold", "AUC (fold x day)",
                                  "t half-max (d)", "class"])
    for d in docs:
        classes = {m["marker"]: m["response_class"] for m in (d["call"] or {}).get("markers", [])}
        for m in d["markers"]:
            th = m["t_half_max_days"]
            t.add_row(d["culture"], m["marker"], f"{m['peak_fold']:.3g}",
                      f"{m['auc_fold_days']:.3g}", "" if th is None else f"{th:.2f}",
                      classes.get(m["marker"], ""))
        if d["call"]:
            t.add_row(d["culture"], "(culture)", "", "", "", d["call"]["response_class"])
    console.print(t)


@app.command("biopsy")
def biopsy(
    code: str = typer.Argument(..., help="Biopsy code (e.g. EX-001-B1)."),
    reference: ReferenceOption = None,
    treatment: str = typer.Option("cAMP+MPA", "--treatment", help="Treatment of the days > 0 "
                                  "to use (day 0 is always the baseline)."),
    save: bool = typer.Option(False, "--save", help="Store the summary and call on the biopsy "
                              "(scientist or admin)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Time course of a biopsy's stored ELISA results (`decidua import elisa`), its class.

    Example: decidua decidualization biopsy EX-001-B1 --reference ref.json --save --json
    """
    from decidua.cli.core import actor
    from decidua.cli.output import err_console
    from decidua.services.decidualization import stored_course
    from decidua.store.session import session_scope

    ref = _reference(reference)
    with session_scope() as s:
        doc = stored_course(s, actor(), code, reference=ref, treatment=treatment, save=save)
    for w in doc["warnings"]:
        err_console.print(f"Warning: {w}")
    if as_json:
        echo_json(doc)
        return
    t = table(f"decidualization of {code}", ["marker", "days", "fold change", "AUC",
                                             "t half-max (d)"])
    for m in doc["course"]["markers"]:
        th = m["t_half_max_days"]
        t.add_row(m["marker"], " ".join(f"{d:g}" for d in m["days"]),
                  " ".join(f"{f:.3g}" for f in m["fold_change"]), f"{m['auc_fold_days']:.3g}",
                  "" if th is None else f"{th:.2f}")
    console.print(t)
    if doc["call"]:
        console.print(f"class: {doc['call']['response_class']} (median centile "
                      f"{doc['call']['median_centile']:.2f}, reference {doc['reference']})")
    if doc["saved_result_id"]:
        console.print(f"stored as result {doc['saved_result_id']}")
