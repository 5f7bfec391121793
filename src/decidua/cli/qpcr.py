"""`decidua qpcr …`: read an instrument file and quantify it (ΔCq, ΔΔCq, RQ)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="RT-qPCR: read instrument exports (RDML, QuantStudio/7500, Bio-Rad CFX, long CSV) "
    "and compute replicate means, ΔCq, ΔΔCq, efficiencies and RQ.",
    no_args_is_help=True,
)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


@app.command("quantify")
def quantify_cmd(
    file: Path = typer.Argument(..., help="RDML (.rdml/zip/xml), QuantStudio/7500 text or "
                                "xlsx, Bio-Rad CFX Cq results CSV/xlsx, or long CSV "
                                "well,sample,target,cq."),
    reference_gene: list[str] = typer.Option(
        None, "--reference-gene", "-r",
        help="Reference (normaliser) target; repeat for several (mean of their mean Cqs). "
        "Default RPL19, else L19."),
    calibrator: str = typer.Option(
        None, "--calibrator", help="Sample whose ΔCq is subtracted (ΔΔCq, RQ)."),
    efficiency_from_standards: bool = typer.Option(
        False, "--efficiency-from-standards",
        help="Fit each target's efficiency on its in-plate standards (quantity column or "
        "a number in the sample name) and use the Pfaffl ratio."),
    sd_threshold: float = typer.Option(
        0.5, "--sd-threshold", help="Flag technical-replicate SDs above this (cycles)."),
    allow_undetermined: bool = typer.Option(
        False, "--allow-undetermined",
        help="Report a sample x target whose replicates are all undetermined (no values) "
        "instead of refusing the file."),
    fmt: str = typer.Option(None, "--format",
                            help="Force the reader: rdml, quantstudio, cfx or long-csv."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Relative quantification of one plate (definitions: docs/qpcr.md).

    Example: decidua qpcr quantify plate.rdml --reference-gene RPL19 --calibrator CAL1 --json
    """
    from decidua.assays.qpcr.quantify import quantify
    from decidua.cli.output import console, echo_json, table
    from decidua.io.qpcr import read_qpcr

    plate = read_qpcr(file, fmt=fmt)
    q = quantify(plate, reference_genes=reference_gene or None, calibrator=calibrator,
                 efficiency_from_standards=efficiency_from_standards,
                 sd_threshold=sd_threshold,
                 undetermined="flag" if allow_undetermined else "error")
    if as_json:
        echo_json(q.to_dict())
        return
    t = table(f"{file} ({plate.format}; reference {', '.join(q.reference_genes)}"
              + (f"; calibrator {calibrator}" if calibrator else "") + ")",
              ["sample", "target", "n", "Cq mean", "SD", "ΔCq", "ΔΔCq", "E", "RQ",
               "RQ range", "flags"],
              caption="RQ range: ±1 SD of the exponent (Livak & Schmittgen 2001)")
    for r in q.results:
        d = r.to_dict()
        rng = ("" if d["rq_low"] is None else f"{d['rq_low']:.2f}-{d['rq_high']:.2f}")
        t.add_row(r.sample, r.target, str(r.n_replicates), _fmt(r.cq_mean), _fmt(r.cq_sd),
                  _fmt(r.delta_cq), _fmt(r.delta_delta_cq), _fmt(r.efficiency),
                  _fmt(d["rq"]), rng, "; ".join(r.flags))
    console.print(t)
    for c in q.standard_curves.values():
        console.print(f"standard curve {c.target}: slope {c.slope:.3f}, intercept "
                      f"{c.intercept:.3f}, R² {c.r_squared:.4f}, E {100 * c.efficiency:.1f}% "
                      f"({c.n_wells} wells, {c.n_levels} levels)")
    flagged = [w for w in q.wells if any("amplified" in f for f in w.flags)]
    for w in flagged:
        console.print(f"well {w.well} ({w.sample or 'control'}, {w.target}): "
                      + "; ".join(w.flags))
