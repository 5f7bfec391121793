"""`decidua senescence …`: the pro-senescent index from a qPCR file (files only)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Senescence: p16, DIO2, SCARA5 and the pro-senescent index "
                  "log2(DIO2/SCARA5) from qPCR.", no_args_is_help=True)


@app.command("index")
def index_cmd(
    file: Path = typer.Argument(..., help="A qPCR file `decidua qpcr quantify` reads, with "
                                "CDKN2A (or p16), DIO2, SCARA5 and a reference gene."),
    reference_gene: list[str] = typer.Option(
        None, "--reference-gene", "-r", help="Reference target (default RPL19, else L19)."),
    level: float = typer.Option(0.6827, "--level", help="Interval coverage (0.6827 = ±1 SD)."),
    fmt: str = typer.Option(None, "--format",
                            help="Force the reader: rdml, quantstudio, cfx or long-csv."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Per sample: relative expression 2^-ΔCq and the index (definitions: docs/senescence.md).

    Example: decidua senescence index plate.csv --json
    """
    from decidua.assays.qpcr.quantify import quantify
    from decidua.assays.senescence.index import senescence_indices
    from decidua.cli.output import console, echo_json, table
    from decidua.io.qpcr import read_qpcr

    plate = read_qpcr(file, fmt=fmt)
    q = quantify(plate, reference_genes=reference_gene or None)
    res = senescence_indices(q, level=level)
    if as_json:
        echo_json({"reference_genes": list(q.reference_genes),
                   "samples": [r.to_dict() for r in res]})
        return

    def rng(lo: float, hi: float, digits: int) -> str:
        return "" if lo != lo or hi != hi else f"{lo:.{digits}f} to {hi:.{digits}f}"

    t = table(f"{file} (reference {', '.join(q.reference_genes)})",
              ["sample", "index", "range", "p16 2^-ΔCq", "DIO2 2^-ΔCq",
               "SCARA5 2^-ΔCq"],
              caption=f"index = log2(DIO2/SCARA5); range: level {level:g} (0.6827 = ±1 SD)")
    for r in res:
        t.add_row(r.sample, f"{r.index.estimate:.2f}", rng(r.index.low, r.index.high, 2),
                  f"{r.p16.relative.estimate:.3g}", f"{r.dio2.relative.estimate:.3g}",
                  f"{r.scara5.relative.estimate:.3g}")
    console.print(t)
