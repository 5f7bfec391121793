"""`decidua methylation …` commands: summarize bisulfite calls, compare groups, score.

A thin edge over :mod:`decidua.assays.methylation`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from decidua.errors import InputError

app = typer.Typer(
    help="CpG and non-CpG (CpA/CHG/CHH) methylation from bisulfite data: per-context and "
    "per-region summaries, group comparison, stemness score. Research use only.",
    no_args_is_help=True,
)

console = Console()
err_console = Console(stderr=True)

SUMMARY_COLUMNS = ["sample", "region", "chrom", "start", "end", "context", "n_sites",
                   "methylated", "unmethylated", "weighted", "mean_of_sites"]


def _write_table(df: pd.DataFrame, out: Path) -> None:
    name = out.name.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".parquet"):
        df.to_parquet(out, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        df.to_csv(out, index=False)
    else:
        df.to_csv(out, sep="\t", index=False)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError("file not found", file=str(path))
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
        return pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError, ValueError) as exc:
        raise InputError(f"cannot read table ({exc})", file=str(path)) from None


def _sample_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".txt", ".cov", ".bismark", ".CX_report", ".CpG_report", ".bedGraph",
                   ".bam", ".cram", ".sam", ".methylKit", ".tsv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _progress(disable: bool) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"),
                    TextColumn("{task.completed:,} {task.fields[unit]}"), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=disable)


@app.command("summarize")
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
    min_mapq: int = typer.Option(0, "--min-mapq", min=0, help="BAM: minimum mapping quality."),
    keep_duplicates: bool = typer.Option(False, "--keep-duplicates", help="BAM: count "
                                         "reads flagged as duplicates."),
    include_overlap: bool = typer.Option(False, "--include-overlap",
                                         help="BAM: count both mates where they overlap."),
    ignore: int = typer.Option(0, "--ignore", min=0, help="BAM: skip N bases at read 1's 5' end."),
    ignore_r2: int = typer.Option(0, "--ignore-r2", min=0),
    ignore_3prime: int = typer.Option(0, "--ignore-3prime", min=0),
    ignore_3prime_r2: int = typer.Option(0, "--ignore-3prime-r2", min=0),
    sample_names: str | None = typer.Option(None, "--sample-names", help="Comma-separated "
                                            "sample names, one per input (default: file names)."),
    matrix: Path | None = typer.Option(None, "--matrix", help="Also write a sample × region "
                                       "matrix of weighted methylation."),
    as_json: bool = typer.Option(False, "--json", help="Print the genome-wide rows as JSON."),
) -> None:
    """Summarise methylation per sample, per context, globally and per region.

    Example: decidua methylation summarize s1.CX_report.txt.gz s2.CX_report.txt.gz
    --regions ca_motifs.bed --context CA,CG --out summary.tsv
    """
    from decidua.assays.methylation import (
        BamExtractor,
        ExtractionOptions,
        annotate_from_fasta,
        detect_format,
        fixed_bins,
        gene_bodies,
        iter_calls,
        motif_sites,
        parse_contexts,
        read_bed,
        read_chrom_sizes,
        region_matrix,
        summarize,
    )
    from decidua.assays.methylation import telomere_bins as make_telomere_bins
    from decidua.assays.methylation.contexts import ReferenceGenome
    from decidua.assays.methylation.regions import (
        DEFAULT_CA_MOTIF,
        DEFAULT_TELOMERE_BIN_BP,
        DEFAULT_TELOMERE_DISTANCE_BP,
        RegionSet,
    )

    contexts = parse_contexts(context)
    kinds = [fmt or detect_format(p) for p in inputs]
    if genome is None:
        for path, kind in zip(inputs, kinds, strict=True):
            _check_context_known(path, kind, contexts, input_context)
    names = [_sample_name(p) for p in inputs]
    if sample_names is not None:
        names = [n.strip() for n in sample_names.split(",")]
        if len(names) != len(inputs) or len(set(names)) != len(names) or "" in names:
            raise InputError(f"--sample-names needs {len(inputs)} distinct names, one per input",
                             value=sample_names)
    sets = []
    if regions is not None:
        bed = read_bed(regions)
        if len(bed) == 0:
            raise InputError("the BED file has no intervals (only blank, comment, track or "
                             "header lines)", file=str(regions))
        sets.append(bed)
    if bins is not None or telomere_bins:
        if chrom_sizes is None:
            raise InputError("--bins and --telomere-bins need --chrom-sizes")
        sizes = read_chrom_sizes(chrom_sizes)
        if bins is not None:
            sets.append(fixed_bins(sizes, bins))
        if telomere_bins:
            sets.append(make_telomere_bins(sizes,
                                           telomere_distance or DEFAULT_TELOMERE_DISTANCE_BP,
                                           telomere_bin_width or DEFAULT_TELOMERE_BIN_BP))
    if gtf is not None:
        sets.append(gene_bodies(gtf, [g.strip() for g in genes.split(",") if g.strip()]))
    if motif is not None:
        if genome is None:
            raise InputError("--motif needs --genome")
        sets.append(motif_sites(genome, DEFAULT_CA_MOTIF if motif.upper() == "CA" else motif))
    region_set = None
    if sets:
        region_set = RegionSet(
            np.concatenate([s.chrom for s in sets]), np.concatenate([s.start for s in sets]),
            np.concatenate([s.end for s in sets]), np.concatenate([s.name for s in sets]),
            "+".join(s.label for s in sets))
    opts = ExtractionOptions(min_mapq=min_mapq, skip_duplicates=not keep_duplicates,
                             no_overlap=not include_overlap, ignore=ignore, ignore_r2=ignore_r2,
                             ignore_3prime=ignore_3prime, ignore_3prime_r2=ignore_3prime_r2)
    ref = ReferenceGenome(genome) if genome is not None else None
    frames = []
    summaries = {}
    with _progress(as_json) as progress:
        for path, sample, kind in zip(inputs, names, kinds, strict=True):
            task = progress.add_task(f"{sample}", total=None, unit="rows")
            if kind == "bam":
                progress.update(task, unit="reads")
                chunks = BamExtractor(
                    path, opts, reference=genome,
                    progress=lambda n, t=task: progress.update(t, completed=n))
            else:
                chunks = iter_calls(path, kind, require_sorted=collapse_strands,
                                    context=input_context)

            def annotated(chunks=chunks, task=task, kind=kind):  # type: ignore[no-untyped-def]
                done = 0
                for chunk in chunks:
                    if ref is not None:
                        chunk = annotate_from_fasta(chunk, ref)
                    done += len(chunk)
                    if kind != "bam":
                        progress.update(task, completed=done)
                    yield chunk

            try:
                summary = summarize(annotated(), contexts, region_set,
                                    min_coverage=min_coverage, collapse_strands=collapse_strands)
            except InputError as exc:
                raise InputError([dataclasses.replace(pr, file=pr.file or str(path))
                                  for pr in exc.problems]) from None
            _warn_about(summary, sample, path, region_set, min_coverage)
            summaries[sample] = summary
            df = summary.to_frame()
            df.insert(0, "sample", sample)
            frames.append(df)
    if ref is not None:
        ref.close()
    table = pd.concat(frames, ignore_index=True)
    for col in ("chrom", "start", "end"):
        if col not in table:
            table[col] = None
    table = table[SUMMARY_COLUMNS]
    for col in ("start", "end"):  # BED coordinates: integers, empty on the genome rows
        table[col] = table[col].astype("Int64")
    _write_table(table, out)
    if matrix is not None and region_set is not None:
        mats = []
        for ctx in contexts:
            m = region_matrix(summaries, ctx)
            m.columns = [f"{c}|{ctx}" for c in m.columns]
            mats.append(m)
        wide = pd.concat(mats, axis=1)
        wide.index.name = "sample"
        _write_table(wide.reset_index(), matrix)
    genome_rows = table[table.region == "genome"]
    if as_json:
        console.print_json(json.dumps(genome_rows.drop(columns=["chrom", "start", "end"])
                                      .to_dict(orient="records"), default=float))
    else:
        console.print(genome_rows.drop(columns=["region", "chrom", "start", "end"])
                      .to_string(index=False), highlight=False)
        console.print(f"wrote {out}", highlight=False)


def _check_context_known(path: Path, kind: str, contexts: tuple[str, ...],
                         assumed: str | None) -> None:
    """Refuse context selectors an input cannot answer without --genome (before reading it)."""
    from decidua.assays.methylation.readers import known_annotation
    from decidua.assays.methylation.summaries import CONTEXT_SELECTORS, DINUCLEOTIDE_SELECTORS

    has_context, has_dinucleotide = known_annotation(
        path, kind, assumed if kind in ("bismark_cov", "methylkit", "bedgraph") else None)
    what = {"bismark_cov": "a Bismark coverage file", "methylkit": "a methylKit table",
            "bedgraph": "a bedGraph", "bam": "a BAM/CRAM (XM tags give CG/CHG/CHH only)"
            }.get(kind, kind)
    blind = [c for c in contexts if c in CONTEXT_SELECTORS and not has_context]
    if blind:
        raise InputError(
            f"the input ({what}) carries no cytosine context, so {', '.join(blind)} would be "
            "reported as 0 sites. Pass --genome FASTA to assign contexts from the reference, or "
            "--assume-context CG if every row is a CpG (e.g. bismark2bedGraph's default "
            "CpG-only output); --context ALL needs neither", file=str(path))
    blind = [c for c in contexts if c in DINUCLEOTIDE_SELECTORS and not has_dinucleotide]
    if blind:
        raise InputError(
            f"the input ({what}) does not give the base after each C, so {', '.join(blind)} "
            "would be reported as 0 sites. Pass --genome FASTA to read it from the reference",
            file=str(path))


def _warn_about(summary, sample: str, path: Path, region_set,  # type: ignore[no-untyped-def]
                min_coverage: int) -> None:
    """Print warnings for results that look like a mistake rather than biology."""
    if summary.covered_sites == 0:
        err_console.print(f"warning: {sample} ({path}): no site with coverage >= {min_coverage}; "
                          "every count is 0", highlight=False)
        return
    unknown = {c: n for c, n in summary.unknown_sites.items() if n}
    if unknown:
        detail = ", ".join(f"{c}: {n:,}" for c, n in unknown.items())
        err_console.print(f"warning: {sample} ({path}): of {summary.covered_sites:,} covered "
                          f"sites, some have an unknown context or trinucleotide (e.g. an N in "
                          f"the reference) and are in no context row ({detail})",
                          highlight=False)
    if region_set is not None and len(region_set):
        seen = set(summary.chromosomes)
        on_input = int(np.isin(region_set.chrom, list(seen)).sum())
        if on_input == 0:
            region_chroms = list(dict.fromkeys(region_set.chrom.tolist()))
            err_console.print(
                f"warning: {sample} ({path}): none of the {len(region_set):,} regions lies on a "
                f"chromosome of the input, so every region row has 0 sites. Regions use "
                f"{len(region_chroms)} chromosome name(s) ({', '.join(region_chroms[:3])}"
                f"{', …' if len(region_chroms) > 3 else ''}); the input has {len(seen)} "
                f"({', '.join(summary.chromosomes[:3])}{', …' if len(seen) > 3 else ''}). "
                "Check the naming (e.g. 'chr1' vs '1')", highlight=False)


@app.command("mbias")
def mbias_cmd(
    bam: Path = typer.Argument(..., help="Bismark BAM/CRAM/SAM (XM tags)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output: .txt = Bismark's M-bias.txt "
                             "layout; .tsv, .csv or .parquet = long table."),
    genome: Path | None = typer.Option(None, "--genome", help="Reference FASTA (CRAM only)."),
    min_mapq: int = typer.Option(0, "--min-mapq", min=0, help="Minimum mapping quality."),
    keep_duplicates: bool = typer.Option(False, "--keep-duplicates",
                                         help="Count reads flagged as duplicates."),
    include_overlap: bool = typer.Option(False, "--include-overlap",
                                         help="Count both mates where they overlap."),
    ignore: int = typer.Option(0, "--ignore", min=0, help="Skip N bases at read 1's 5' end."),
    ignore_r2: int = typer.Option(0, "--ignore-r2", min=0),
    ignore_3prime: int = typer.Option(0, "--ignore-3prime", min=0),
    ignore_3prime_r2: int = typer.Option(0, "--ignore-3prime-r2", min=0),
) -> None:
    """Methylation by read position (M-bias) per read and context, to choose --ignore values.

    Example: decidua methylation mbias sample_pe.bam --out sample.M-bias.txt
    """
    from decidua.assays.methylation import ExtractionOptions, extract_mbias

    opts = ExtractionOptions(min_mapq=min_mapq, skip_duplicates=not keep_duplicates,
                             no_overlap=not include_overlap, ignore=ignore, ignore_r2=ignore_r2,
                             ignore_3prime=ignore_3prime, ignore_3prime_r2=ignore_3prime_r2)
    mbias = extract_mbias(bam, opts, reference=genome)
    if out.name.lower().endswith(".txt"):
        out.parent.mkdir(parents=True, exist_ok=True)
        mbias.write_report(out)
    else:
        _write_table(mbias.to_frame(), out)
    console.print(f"wrote {out}", highlight=False)


def _count_matrices(tables: list[Path], context: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.concat([_read_table(t) for t in tables], ignore_index=True)
    missing = {"sample", "region", "context", "methylated", "unmethylated"} - set(df.columns)
    if missing:
        raise InputError(f"summary table lacks columns: {', '.join(sorted(missing))}",
                         file=str(tables[0]))
    df = df[(df.context == context) & (df.region != "genome")]
    if df.empty:
        raise InputError(f"no region rows for context {context!r}", file=str(tables[0]))
    dup = df.duplicated(["sample", "region"])
    if dup.any():
        first = df[dup].iloc[0]
        raise InputError(
            f"sample {first['sample']!r} has {int(dup.sum())} repeated region row(s) for "
            f"context {context!r} (e.g. region {first['region']!r}): the same sample is in "
            "more than one summary table, or region names repeat; counts would be added up",
            file=", ".join(str(t) for t in tables))
    y = df.pivot_table(index="sample", columns="region", values="methylated", aggfunc="sum")
    u = df.pivot_table(index="sample", columns="region", values="unmethylated", aggfunc="sum")
    return y.fillna(0), (y + u).fillna(0)


def _read_groups(path: Path) -> pd.Series:
    g = _read_table(path)
    if not {"sample", "group"} <= set(g.columns):
        raise InputError("groups table needs columns 'sample' and 'group'", file=str(path))
    return g.set_index("sample")["group"].astype(str)


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
    from decidua.assays.methylation import compare_groups
    from decidua.assays.methylation.compare import DEFAULT_PRIOR_DF

    y, n = _count_matrices(tables, context.upper().replace("P", ""))
    labels = _read_groups(groups)
    missing = [s for s in y.index if s not in labels.index]
    if missing:
        raise InputError(f"samples without a group: {', '.join(missing[:5])}", file=str(groups))
    res = compare_groups(y, n, labels.reindex(y.index), group_1=group_1, group_2=group_2,
                         prior_df=DEFAULT_PRIOR_DF if prior_df is None else prior_df)
    frame = res.to_frame().sort_values("p_value")
    _write_table(frame, out)
    top = frame.head(10)
    if as_json:
        console.print_json(json.dumps(top.to_dict(orient="records"), default=float))
    else:
        console.print(top.to_string(index=False), highlight=False)
        console.print(f"wrote {out}", highlight=False)


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
    from decidua.assays.methylation import stemness_score

    y, n = _count_matrices(tables, context.upper().replace("P", ""))
    with np.errstate(invalid="ignore", divide="ignore"):
        level = y / n.where(n > 0)
    labels = _read_groups(groups)
    ref = [s for s in level.index if labels.get(s) == reference_group]
    if not ref:
        present = sorted({str(labels[s]) for s in level.index if s in labels.index})
        raise InputError(f"no sample of the summary tables is in the reference group "
                         f"{reference_group!r} (groups present: {', '.join(present) or 'none'})",
                         file=str(groups), value=reference_group)
    res = stemness_score(level, ref)
    frame = res.to_frame()
    frame["group"] = [labels.get(s, "") for s in frame["sample"]]
    if out is not None:
        _write_table(frame, out)
    if as_json:
        console.print_json(json.dumps(frame.to_dict(orient="records"), default=float))
    else:
        console.print(frame.to_string(index=False), highlight=False)
