"""Methylation use cases: summarise call files or BAMs, M-bias, compare groups, score.

Files in, tables out (no database, so no session or acting user). The science
is in :mod:`decidua.assays.methylation`; this module turns command inputs into
its arguments (region sets, extraction options, sample names), checks that the
inputs can answer the question asked, and collects warnings for results that
look like a mistake rather than biology. Printing is the caller's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from decidua.assays.methylation import ExtractionOptions, MethylationSummary, RegionSet

#: Columns of the summary table written by ``methylation summarize``.
SUMMARY_COLUMNS = ["sample", "region", "chrom", "start", "end", "context", "n_sites",
                   "methylated", "unmethylated", "weighted", "mean_of_sites"]  # fmt: skip

_NAME_SUFFIXES = (".gz", ".txt", ".cov", ".bismark", ".CX_report", ".CpG_report", ".bedGraph",
                  ".bam", ".cram", ".sam", ".methylKit", ".tsv")

#: ``progress(sample, unit)`` returns the callback told the running count of rows or reads.
ProgressFactory = Callable[[str, str], Callable[[int], None]]


def sample_name(path: Path) -> str:
    """A sample name from a call file's name (known suffixes removed)."""
    name = path.name
    for suffix in _NAME_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def write_table(df: pd.DataFrame, out: Path) -> None:
    """Write a table by its name: ``.parquet``, ``.csv``/``.csv.gz``, else tab-separated."""
    name = out.name.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".parquet"):
        df.to_parquet(out, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        df.to_csv(out, index=False)
    else:
        df.to_csv(out, sep="\t", index=False)


def write_records(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: Path,
                  sep: str = "\t") -> None:  # fmt: skip
    """Write rows as :func:`write_table` writes the same table as text, without pandas.

    ``None`` and NaN are written as empty fields; floats as pandas writes
    them (numpy's shortest round-trip form); text fields are quoted only
    where the separator, a quote or a line break needs it (the ``csv``
    module's minimal quoting, which pandas uses).
    """
    import csv
    import math

    import numpy as np

    def text(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return str(np.array([value], dtype=np.float64).astype(str)[0])
        return str(value)

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=sep, lineterminator="\n", quotechar='"',
                            quoting=csv.QUOTE_MINIMAL, doublequote=True)
        writer.writerow(columns)
        writer.writerows([text(row[c]) for c in columns] for row in rows)


@dataclass(frozen=True)
class RegionOptions:
    """Which regions to summarise besides the genome (all optional, combined)."""

    regions: Path | None = None
    bins: int | None = None
    telomere_bins: bool = False
    telomere_distance: int | None = None
    telomere_bin_width: int | None = None
    chrom_sizes: Path | None = None
    gtf: Path | None = None
    genes: str = "HMGB2"
    motif: str | None = None


def build_regions(opts: RegionOptions, genome: Path | None) -> RegionSet | None:
    """One region set from a BED file, fixed bins, telomere bins, gene bodies and motifs."""
    import numpy as np

    from decidua.assays.methylation import (
        fixed_bins,
        gene_bodies,
        motif_sites,
        read_bed,
        read_chrom_sizes,
        telomere_bins,
    )
    from decidua.assays.methylation.regions import (
        DEFAULT_CA_MOTIF,
        DEFAULT_TELOMERE_BIN_BP,
        DEFAULT_TELOMERE_DISTANCE_BP,
        RegionSet,
    )

    sets = []
    if opts.regions is not None:
        bed = read_bed(opts.regions)
        if len(bed) == 0:
            raise InputError("the BED file has no intervals (only blank, comment, track or "
                             "header lines)", file=str(opts.regions))
        sets.append(bed)
    if opts.bins is not None or opts.telomere_bins:
        if opts.chrom_sizes is None:
            raise InputError("--bins and --telomere-bins need --chrom-sizes")
        sizes = read_chrom_sizes(opts.chrom_sizes)
        if opts.bins is not None:
            sets.append(fixed_bins(sizes, opts.bins))
        if opts.telomere_bins:
            sets.append(telomere_bins(sizes,
                                      opts.telomere_distance or DEFAULT_TELOMERE_DISTANCE_BP,
                                      opts.telomere_bin_width or DEFAULT_TELOMERE_BIN_BP))
    if opts.gtf is not None:
        sets.append(gene_bodies(opts.gtf, [g.strip() for g in opts.genes.split(",") if g.strip()]))
    if opts.motif is not None:
        if genome is None:
            raise InputError("--motif needs --genome")
        sets.append(motif_sites(genome,
                                DEFAULT_CA_MOTIF if opts.motif.upper() == "CA" else opts.motif))
    if not sets:
        return None
    return RegionSet(
        np.concatenate([s.chrom for s in sets]), np.concatenate([s.start for s in sets]),
        np.concatenate([s.end for s in sets]), np.concatenate([s.name for s in sets]),
        "+".join(s.label for s in sets))


def check_context_known(path: Path, kind: str, contexts: tuple[str, ...],
                        assumed: str | None) -> None:  # fmt: skip
    """Refuse context selectors an input cannot answer without a genome (before reading it)."""
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


def summary_warnings(summary: MethylationSummary, sample: str, path: Path,
                     region_set: RegionSet | None, min_coverage: int) -> list[str]:  # fmt: skip
    """Warnings for a sample's results that look like a mistake rather than biology."""
    import numpy as np

    if summary.covered_sites == 0:
        return [f"{sample} ({path}): no site with coverage >= {min_coverage}; every count is 0"]
    out = []
    unknown = {c: n for c, n in summary.unknown_sites.items() if n}
    if unknown:
        detail = ", ".join(f"{c}: {n:,}" for c, n in unknown.items())
        out.append(f"{sample} ({path}): of {summary.covered_sites:,} covered sites, some have "
                   f"an unknown context or trinucleotide (e.g. an N in the reference) and are "
                   f"in no context row ({detail})")
    if region_set is not None and len(region_set):
        seen = set(summary.chromosomes)
        on_input = int(np.isin(region_set.chrom, list(seen)).sum())
        if on_input == 0:
            region_chroms = list(dict.fromkeys(region_set.chrom.tolist()))
            out.append(
                f"{sample} ({path}): none of the {len(region_set):,} regions lies on a "
                f"chromosome of the input, so every region row has 0 sites. Regions use "
                f"{len(region_chroms)} chromosome name(s) ({', '.join(region_chroms[:3])}"
                f"{', …' if len(region_chroms) > 3 else ''}); the input has {len(seen)} "
                f"({', '.join(summary.chromosomes[:3])}{', …' if len(seen) > 3 else ''}). "
                "Check the naming (e.g. 'chr1' vs '1')")
    return out


@dataclass(frozen=True)
class SummaryRun:
    """What :func:`summarize_files` computed.

    Attributes
    ----------
    summaries
        The per-sample :class:`~decidua.assays.methylation.MethylationSummary`.
    contexts
        The contexts summarised.
    region_set
        The regions summarised (``None``: genome rows only).
    warnings
        Messages for results that look like a mistake (for stderr).
    per_input
        ``(sample, summary)`` of every input, in input order (two inputs may
        share a default sample name; ``summaries`` then keeps the last).
    table
        One row per sample, region (``genome`` first) and context:
        :data:`SUMMARY_COLUMNS` (a pandas DataFrame, made when first used).
    """

    summaries: dict[str, MethylationSummary]
    contexts: tuple[str, ...]
    region_set: RegionSet | None
    warnings: list[str] = field(default_factory=list)
    per_input: tuple[tuple[str, MethylationSummary], ...] = ()

    @cached_property
    def table(self) -> pd.DataFrame:
        """The summary table (see the class docstring)."""
        import pandas as pd

        frames = []
        for sample, summary in self.per_input:
            df = summary.to_frame()
            df.insert(0, "sample", sample)
            frames.append(df)
        table = pd.concat(frames, ignore_index=True)
        for col in ("chrom", "start", "end"):
            if col not in table:
                table[col] = None
        table = table[SUMMARY_COLUMNS]
        for col in ("start", "end"):  # BED coordinates: integers, empty on the genome rows
            table[col] = table[col].astype("Int64")
        return table

    def genome_rows(self) -> pd.DataFrame:
        """The genome-wide rows (``region == "genome"``)."""
        return self.table[self.table.region == "genome"]

    def genome_records(self) -> list[dict[str, Any]]:
        """The genome-wide rows as dicts keyed by :data:`SUMMARY_COLUMNS` (no pandas).

        ``chrom``, ``start`` and ``end`` are ``None``; the values equal those
        of :meth:`genome_rows`.
        """
        return [{"sample": sample, "region": "genome", "chrom": None, "start": None,
                 "end": None, **row}
                for sample, summary in self.per_input
                for row in summary.global_rows()]  # fmt: skip

    def write(self, out: Path) -> None:
        """Write :attr:`table` to ``out`` as :func:`write_table` does.

        A genome-only run written as text (``.tsv``, ``.csv``, any name but
        ``.parquet`` or ``.gz``) is written without pandas, byte for byte as
        pandas writes it (start-up, issue 10).
        """
        name = out.name.lower()
        if self.region_set is not None or name.endswith((".parquet", ".gz")):
            write_table(self.table, out)
            return
        write_records(self.genome_records(), SUMMARY_COLUMNS, out,
                      sep="," if name.endswith(".csv") else "\t")

    def matrix(self) -> pd.DataFrame | None:
        """Sample × ``region|context`` weighted methylation (``None`` without regions)."""
        import pandas as pd

        from decidua.assays.methylation import region_matrix

        if self.region_set is None:
            return None
        mats = []
        for ctx in self.contexts:
            m = region_matrix(self.summaries, ctx)
            m.columns = [f"{c}|{ctx}" for c in m.columns]
            mats.append(m)
        wide = pd.concat(mats, axis=1)
        wide.index.name = "sample"
        return wide.reset_index()


def _import_in_background(module: str) -> None:
    """Start importing ``module`` on a thread, once (start-up, issue 10).

    The table at the end needs pandas; importing it while the first file is
    parsed (the parsers run without the GIL) instead of before takes its
    import off the command's critical path. Called once the parser has
    yielded a chunk, so no other import is in progress on another thread.
    """
    import sys
    import threading

    if module in sys.modules or any(t.name == f"decidua-import-{module}"
                                    for t in threading.enumerate()):
        return
    import importlib

    threading.Thread(target=importlib.import_module, args=(module,), daemon=True,
                     name=f"decidua-import-{module}").start()


def parse_sample_names(text: str | None, inputs: Sequence[Path]) -> list[str]:
    """Sample names: the comma-separated ``text`` (one per input, distinct) or file names."""
    if text is None:
        return [sample_name(p) for p in inputs]
    names = [n.strip() for n in text.split(",")]
    if len(names) != len(inputs) or len(set(names)) != len(names) or "" in names:
        raise InputError(f"--sample-names needs {len(inputs)} distinct names, one per input",
                         value=text)
    return names


def summarize_files(
    inputs: Sequence[Path],
    *,
    context: str = "CG,CHG,CHH",
    regions: RegionOptions | None = None,
    genome: Path | None = None,
    fmt: str | None = None,
    input_context: str | None = None,
    min_coverage: int = 1,
    collapse_strands: bool = False,
    bam: ExtractionOptions | None = None,
    sample_names: str | None = None,
    progress: ProgressFactory | None = None,
) -> SummaryRun:
    """Summarise methylation per sample, per context, genome-wide and per region.

    Parameters
    ----------
    inputs
        Call files (Bismark .cov / CX report, MethylDackel bedGraph, methylKit) or BAMs.
    context
        Comma-separated contexts (CG, CHG, CHH, CH, CA, CC, CT, ALL).
    regions
        Regions to summarise besides the genome.
    genome
        Reference FASTA, to assign contexts of files without a trinucleotide column.
    fmt
        Input format (default: detected per file).
    input_context
        The context of every row of files that carry none (CG, CHG or CHH).
    min_coverage, collapse_strands
        Sites with less coverage are left out; merge the two Cs of each CpG.
    bam
        Read filters and trimming for BAM inputs.
    sample_names
        Comma-separated names, one per input (default: file names).
    progress
        See :data:`ProgressFactory`.

    Raises
    ------
    InputError
        Inputs that cannot answer the contexts asked, bad options, unreadable
        files (each problem naming its file).
    """
    from decidua.assays.methylation import (
        BamExtractor,
        ExtractionOptions,
        annotate_from_fasta,
        detect_format,
        iter_calls,
        parse_contexts,
        summarize,
    )
    from decidua.assays.methylation.contexts import ReferenceGenome
    from decidua.assays.methylation.readers import iter_tallies

    contexts = parse_contexts(context)
    kinds = [fmt or detect_format(p) for p in inputs]
    if genome is None:
        for path, kind in zip(inputs, kinds, strict=True):
            check_context_known(path, kind, contexts, input_context)
    names = parse_sample_names(sample_names, inputs)
    region_set = build_regions(regions or RegionOptions(), genome)
    opts = bam or ExtractionOptions()
    ref = ReferenceGenome(genome) if genome is not None else None
    summaries: dict[str, MethylationSummary] = {}
    per_input: list[tuple[str, MethylationSummary]] = []
    warnings: list[str] = []
    try:
        for path, sample, kind in zip(inputs, names, kinds, strict=True):
            tick = progress(sample, "reads" if kind == "bam" else "rows") if progress else None
            if kind == "bam":
                chunks = BamExtractor(path, opts, reference=genome, progress=tick)
            elif (kind == "cytosine_report" and region_set is None and ref is None
                  and not collapse_strands):  # global sums only: summed as the text is read
                chunks = iter_tallies(path, kind, min_coverage=min_coverage)
            else:
                chunks = iter_calls(path, kind, require_sorted=collapse_strands,
                                    context=input_context)

            def annotated(chunks=chunks, tick=tick, kind=kind):  # type: ignore[no-untyped-def]
                done = 0
                for chunk in chunks:
                    if region_set is not None:  # region rows are tabled with pandas
                        _import_in_background("pandas")
                    if ref is not None:
                        chunk = annotate_from_fasta(chunk, ref)
                    done += len(chunk)
                    if tick is not None and kind != "bam":
                        tick(done)
                    yield chunk

            try:
                summary = summarize(annotated(), contexts, region_set,
                                    min_coverage=min_coverage, collapse_strands=collapse_strands)
            except InputError as exc:
                raise InputError([dataclasses.replace(pr, file=pr.file or str(path))
                                  for pr in exc.problems]) from None  # fmt: skip
            warnings += summary_warnings(summary, sample, path, region_set, min_coverage)
            summaries[sample] = summary
            per_input.append((sample, summary))
    finally:
        if ref is not None:
            ref.close()
    return SummaryRun(summaries, contexts, region_set, warnings, tuple(per_input))


def write_mbias(bam: Path, out: Path, opts: ExtractionOptions | None = None,
                genome: Path | None = None) -> None:  # fmt: skip
    """Methylation by read position; ``.txt`` = Bismark's M-bias.txt layout, else a table."""
    from decidua.assays.methylation import ExtractionOptions, extract_mbias

    mbias = extract_mbias(bam, opts or ExtractionOptions(), reference=genome)
    if out.name.lower().endswith(".txt"):
        out.parent.mkdir(parents=True, exist_ok=True)
        mbias.write_report(out)
    else:
        write_table(mbias.to_frame(), out)


def _normal_context(context: str) -> str:
    return context.upper().replace("P", "")


def count_matrices(tables: Sequence[Path], context: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Methylated counts and coverage, sample × region, of one context of summary tables.

    Raises
    ------
    InputError
        Missing columns, no region rows, or a sample repeated across tables.
    """
    import pandas as pd

    from decidua.io.readers import read_frame

    df = pd.concat([read_frame(t) for t in tables], ignore_index=True)
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


def read_groups(path: Path) -> pd.Series:
    """Sample → group of a table with columns ``sample, group``."""
    from decidua.io.readers import read_frame

    g = read_frame(path)
    if not {"sample", "group"} <= set(g.columns):
        raise InputError("groups table needs columns 'sample' and 'group'", file=str(path))
    return g.set_index("sample")["group"].astype(str)


def compare_tables(
    tables: Sequence[Path],
    groups: Path,
    context: str = "CA",
    *,
    group_1: str | None = None,
    group_2: str | None = None,
    prior_df: float | None = None,
) -> pd.DataFrame:
    """Beta-binomial Wald test per region between two groups, with BH FDR, by p-value."""
    from decidua.assays.methylation import compare_groups
    from decidua.assays.methylation.compare import DEFAULT_PRIOR_DF

    y, n = count_matrices(tables, _normal_context(context))
    labels = read_groups(groups)
    missing = [s for s in y.index if s not in labels.index]
    if missing:
        raise InputError(f"samples without a group: {', '.join(missing[:5])}", file=str(groups))
    res = compare_groups(y, n, labels.reindex(y.index), group_1=group_1, group_2=group_2,
                         prior_df=DEFAULT_PRIOR_DF if prior_df is None else prior_df)
    return res.to_frame().sort_values("p_value")


def score_tables(
    tables: Sequence[Path], groups: Path, reference_group: str = "control", context: str = "CA"
) -> pd.DataFrame:
    """Stemness-signature score per sample (mean region z-score against a reference group)."""
    import numpy as np

    from decidua.assays.methylation import stemness_score

    y, n = count_matrices(tables, _normal_context(context))
    with np.errstate(invalid="ignore", divide="ignore"):
        level = y / n.where(n > 0)
    labels = read_groups(groups)
    ref = [s for s in level.index if labels.get(s) == reference_group]
    if not ref:
        present = sorted({str(labels[s]) for s in level.index if s in labels.index})
        raise InputError(f"no sample of the summary tables is in the reference group "
                         f"{reference_group!r} (groups present: {', '.join(present) or 'none'})",
                         file=str(groups), value=reference_group)
    frame = stemness_score(level, ref).to_frame()
    frame["group"] = [labels.get(s, "") for s in frame["sample"]]
    return frame


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a result table as JSON-ready dicts."""
    return frame.to_dict(orient="records")
