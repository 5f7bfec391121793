"""`decidua methylation …` commands: summarize bisulfite calls, M-bias, compare groups, score.

Formatting only: the work is in :mod:`decidua.services.methylation`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from decidua.cli.output import console, echo_json, err_console

app = typer.Typer(
    help="CpG and non-CpG (CpA/CHG/CHH) methylation from bisulfite data: per-context and "
    "per-region summaries, group comparison, stemness score. Research use only.",
    no_args_is_help=True,
)

# The read filters of a BAM, declared once for `summarize` and `mbias`.
MinMapq = Annotated[int, typer.Option("--min-mapq", min=0, help="BAM: minimum mapping quality.")]
KeepDuplicates = Annotated[bool, typer.Option(
    "--keep-duplicates", help="BAM: count reads flagged as duplicates.")]  # fmt: skip
IncludeOverlap = Annotated[bool, typer.Option(
    "--include-overlap", help="BAM: count both mates where they overlap.")]  # fmt: skip
Ignore = Annotated[int, typer.Option(
    "--ignore", min=0, help="BAM: skip N bases at read 1's 5' end.")]  # fmt: skip
IgnoreR2 = Annotated[int, typer.Option(
    "--ignore-r2", min=0, help="BAM: skip N bases at read 2's 5' end.")]  # fmt: skip
Ignore3 = Annotated[int, typer.Option(
    "--ignore-3prime", min=0, help="BAM: skip N bases at read 1's 3' end.")]  # fmt: skip
Ignore3R2 = Annotated[int, typer.Option(
    "--ignore-3prime-r2", min=0, help="BAM: skip N bases at read 2's 3' end.")]  # fmt: skip


#: (parameter, option, default) of the read filters, in the order --help lists them.
_BAM_FILTERS = (("min_mapq", MinMapq, 0), ("keep_duplicates", KeepDuplicates, False),
                ("include_overlap", IncludeOverlap, False), ("ignore", Ignore, 0),
                ("ignore_r2", IgnoreR2, 0), ("ignore_3prime", Ignore3, 0),
                ("ignore_3prime_r2", Ignore3R2, 0))


def bam_filters(before: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the BAM read-filter options (inserted before its parameter ``before``,
    else last); it receives them as one ``bam_filters`` argument, an
    :class:`~decidua.assays.methylation.ExtractionOptions`."""
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                               annotation=option) for name, option, default in _BAM_FILTERS]

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                  for p in inspect.signature(fn, eval_str=True).parameters.values()
                  if p.name != "bam_filters"]
        at = next((i for i, p in enumerate(params) if p.name == before), len(params))
        params[at:at] = added

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            from decidua.assays.methylation import ExtractionOptions

            f = {name: kwargs.pop(name) for name, _, _ in _BAM_FILTERS}
            opts = ExtractionOptions(
                min_mapq=f["min_mapq"], skip_duplicates=not f["keep_duplicates"],
                no_overlap=not f["include_overlap"], ignore=f["ignore"],
                ignore_r2=f["ignore_r2"], ignore_3prime=f["ignore_3prime"],
                ignore_3prime_r2=f["ignore_3prime_r2"])
            return fn(**kwargs, bam_filters=opts)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return command

    return wrap


class _NoProgress:
    """What :func:`_progress` gives when nothing would be shown (no Rich import, no thread)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress(disable: bool) -> Any:
    """A transient spinner on stderr; none with ``--json`` or when stderr is not a terminal
    (where Rich would draw nothing: it saves its import and refresh thread, issue 10)."""
    if disable or not err_console.rich.is_terminal:
        return _NoProgress()
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"),
                    TextColumn("{task.completed:,} {task.fields[unit]}"), TimeElapsedColumn(),
                    console=err_console.rich, transient=True, disable=disable)


@app.command("summarize")
@bam_filters(before="sample_names")
def summarize_cmd(
    inputs: list[Path] = typer.Argument(..., help="Call files (Bismark .cov / CX report, "
                                        "MethylDackel bedGraph, methylKit) or Bismark BAMs."),
    out: Path = typer.Option(..., "-o", "--out", help="Output table (.tsv, .csv or .parquet)."),
    context: str = typer.Option("CG,CHG,CHH", "--context",
                                help="Contexts: CG, CHG, CHH, CH, CA, CC, CT, ALL."),
    regions: Path | None = typer.Option(None, "--regions", help="BED file of regions."),
    bins: int | None = typer.Option(None, "--bins", min=1, help="Fixed bin width (bp); "
                                    "needs --chrom-sizes."),
    telomere_bins: bool = typer.Option(False, "--telomere-bins",
                                       help="Telomere-proximal bins (needs --chrom-sizes)."),
    telomere_distance: int | None = typer.Option(None, "--telomere-distance", min=1),
    telomere_bin_width: int | None = typer.Option(None, "--telomere-bin-width", min=1),
    chrom_sizes: Path | None = typer.Option(None, "--chrom-sizes",
                                            help="FASTA index (.fai) or sizes file."),
    gtf: Path | None = typer.Option(None, "--gtf", help="GTF for gene-body regions."),
    genes: str = typer.Option("HMGB2", "--genes", help="Comma-separated gene names (with --gtf)."),
    motif: str | None = typer.Option(None, "--motif", help="Regex of motif sites (needs "
                                     "--genome); 'CA' = the default CA-repeat motif."),
    genome: Path | None = typer.Option(None, "--genome", help="Reference FASTA (indexed) for "
                                       "contexts of files without a trinucleotide column."),
    fmt: str | None = typer.Option(None, "--format", help="Input format (default: detect)."),
    input_context: str | None = typer.Option(
        None, "--assume-context", "--input-context",
        help="Declare the context of every row of files that carry none (CG, CHG or CHH), "
        "e.g. CG for a CpG-only Bismark .cov (bismark2bedGraph's default) or methylKit file. "
        "Without it (or --genome) such files can only be summarised as ALL."),
    min_coverage: int = typer.Option(1, "--min-coverage", min=1),
    collapse_strands: bool = typer.Option(False, "--collapse-strands",
                                          help="Merge the two Cs of each CpG (sorted input)."),
    sample_names: str | None = typer.Option(None, "--sample-names", help="Comma-separated "
                                            "sample names, one per input (default: file names)."),
    matrix: Path | None = typer.Option(None, "--matrix", help="Also write a sample × region "
                                       "matrix of weighted methylation."),
    as_json: bool = typer.Option(False, "--json", help="Print the genome-wide rows as JSON."),
    bam_filters: Any = None,
) -> None:
    """Summarise methylation per sample, per context, globally and per region.

    Example: decidua methylation summarize s1.CX_report.txt.gz s2.CX_report.txt.gz
    --regions ca_motifs.bed --context CA,CG --out summary.tsv
    """
    from decidua.services import methylation as svc

    region_opts = svc.RegionOptions(
        regions=regions, bins=bins, telomere_bins=telomere_bins,
        telomere_distance=telomere_distance, telomere_bin_width=telomere_bin_width,
        chrom_sizes=chrom_sizes, gtf=gtf, genes=genes, motif=motif,
    )
    with _progress(as_json) as progress:

        def ticker(sample: str, unit: str) -> Any:
            task = progress.add_task(sample, total=None, unit=unit)
            return lambda n: progress.update(task, completed=n)

        run = svc.summarize_files(
            inputs, context=context, regions=region_opts, genome=genome, fmt=fmt,
            input_context=input_context, min_coverage=min_coverage,
            collapse_strands=collapse_strands, bam=bam_filters, sample_names=sample_names,
            progress=ticker,
        )
    for warning in run.warnings:
        err_console.print(f"warning: {warning}")
    run.write(out)
    if matrix is not None:
        wide = run.matrix()
        if wide is not None:
            svc.write_table(wide, matrix)
    records = run.genome_records()
    if as_json:
        echo_json([{k: v for k, v in r.items() if k not in ("chrom", "start", "end")}
                   for r in records], default=float)  # fmt: skip
    else:
        text = _genome_text(records)
        if text is None:  # values outside what _genome_text lays out as pandas does
            text = (run.genome_rows().drop(columns=["region", "chrom", "start", "end"])
                    .to_string(index=False))
        console.print(text)
        console.print(f"wrote {out}")


_TEXT_COLUMNS = (("sample", str), ("context", str), ("n_sites", int), ("methylated", int),
                 ("unmethylated", int), ("weighted", float), ("mean_of_sites", float))


def _genome_text(records: list[dict[str, Any]]) -> str | None:
    """The genome rows laid out as pandas' ``DataFrame.to_string(index=False)`` does.

    Without pandas (start-up, issue 10). Covers plain-ASCII names, counts,
    and fractions that are NaN, 0 or between 1e-6 and 1e6 (pandas switches
    to exponent notation outside that); anything else returns ``None`` and
    the caller asks pandas. tests/cli compares the two on random tables.
    """
    import math

    columns = []
    for name, kind in _TEXT_COLUMNS:
        values = [r[name] for r in records]
        if kind is str:
            if not all(isinstance(v, str) and v.isascii() and v.isprintable() for v in values):
                return None
            cells = list(values)
        elif kind is int:
            cells = [f"{v:d}" for v in values]
        else:
            if not all(math.isnan(v) or v == 0 or 1e-6 <= abs(v) <= 1e6 for v in values):
                return None
            cells = ["NaN" if math.isnan(v) else f"{v: .6f}" for v in values]
            numbers = [i for i, v in enumerate(values) if not math.isnan(v)]
            # trailing zeros are cut from every number of the column alike
            while numbers and all(cells[i].endswith("0") for i in numbers):
                for i in numbers:
                    cells[i] = cells[i][:-1]
            for i in numbers:
                if cells[i].endswith("."):
                    cells[i] += "0"
        width = max([len(name) + (kind is not str)] + [len(c) for c in cells])
        columns.append([name.rjust(width)] + [c.rjust(width) for c in cells])
    return "\n".join(" ".join(row) for row in zip(*columns, strict=True))


@app.command("mbias")
@bam_filters()
def mbias_cmd(
    bam: Path = typer.Argument(..., help="Bismark BAM/CRAM/SAM (XM tags)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output: .txt = Bismark's M-bias.txt "
                             "layout; .tsv, .csv or .parquet = long table."),
    genome: Path | None = typer.Option(None, "--genome", help="Reference FASTA (CRAM only)."),
    bam_filters: Any = None,
) -> None:
    """Methylation by read position (M-bias) per read and context, to choose --ignore values.

    Example: decidua methylation mbias sample_pe.bam --out sample.M-bias.txt
    """
    from decidua.services.methylation import write_mbias

    write_mbias(bam, out, bam_filters, genome)
    console.print(f"wrote {out}")


@app.command("compare")
def compare_cmd(
    tables: list[Path] = typer.Argument(..., help="Summary tables from `summarize`."),
    groups: Path = typer.Option(..., "--groups", help="Table with columns sample, group."),
    context: str = typer.Option("CA", "--context", help="One context to test."),
    group_1: str | None = typer.Option(None, "--group-1", help="e.g. rpl"),
    group_2: str | None = typer.Option(None, "--group-2", help="e.g. control"),
    prior_df: float | None = typer.Option(None, "--prior-df", min=0.0),
    out: Path = typer.Option(..., "-o", "--out", help="Output table."),
    as_json: bool = typer.Option(False, "--json", help="Print the top regions as JSON."),
) -> None:
    """Beta-binomial Wald test per region between two groups, with BH FDR.

    Example: decidua methylation compare summary.tsv --groups groups.csv --context CA
    --group-1 rpl --group-2 control --out dmr.tsv
    """
    from decidua.services import methylation as svc

    frame = svc.compare_tables(tables, groups, context, group_1=group_1, group_2=group_2,
                               prior_df=prior_df)
    svc.write_table(frame, out)
    top = frame.head(10)
    if as_json:
        echo_json(svc.records(top), default=float)
    else:
        console.print(top.to_string(index=False))
        console.print(f"wrote {out}")


@app.command("score")
def score_cmd(
    tables: list[Path] = typer.Argument(..., help="Summary tables from `summarize`."),
    groups: Path = typer.Option(..., "--groups", help="Table with columns sample, group."),
    reference_group: str = typer.Option("control", "--reference-group"),
    context: str = typer.Option("CA", "--context"),
    out: Path | None = typer.Option(None, "-o", "--out"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stemness-signature score: mean region z-score against a reference group.

    Example: decidua methylation score summary.tsv --groups groups.csv --context CA
    """
    from decidua.services import methylation as svc

    frame = svc.score_tables(tables, groups, reference_group, context)
    if out is not None:
        svc.write_table(frame, out)
    if as_json:
        echo_json(svc.records(frame), default=float)
    else:
        console.print(frame.to_string(index=False))
