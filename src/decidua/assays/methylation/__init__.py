"""CpG and non-CpG (CpA / CHG / CHH) methylation from bisulfite sequencing.

Readers for Bismark, MethylDackel and methylKit outputs and for Bismark BAMs
(one in-memory representation, :class:`MethylationCalls`), context
annotation, streaming summaries per context and region, group comparison and
a stemness-signature score (Lucas et al., Stem Cells 2016;34:346–356).

Pure science code: no database, web or CLI imports, no printing.
"""

from decidua.assays.methylation.bam import (
    BamExtractor,
    ExtractionOptions,
    ExtractionStats,
    MBias,
    extract_bam,
    extract_mbias,
)
from decidua.assays.methylation.calls import CONTEXTS, DINUCLEOTIDES, MethylationCalls
from decidua.assays.methylation.compare import (
    GroupComparison,
    StemnessScore,
    compare_groups,
    stemness_score,
)
from decidua.assays.methylation.contexts import (
    SELECTORS,
    annotate_from_fasta,
    context_mask,
    parse_contexts,
)
from decidua.assays.methylation.readers import TEXT_FORMATS, detect_format, iter_calls, read_calls
from decidua.assays.methylation.regions import (
    DEFAULT_CA_MOTIF,
    DEFAULT_GENES,
    DEFAULT_TELOMERE_BIN_BP,
    DEFAULT_TELOMERE_DISTANCE_BP,
    RegionSet,
    fixed_bins,
    gene_bodies,
    motif_sites,
    read_bed,
    read_chrom_sizes,
    telomere_bins,
)
from decidua.assays.methylation.summaries import (
    MethylationSummary,
    SummaryAccumulator,
    collapse_stream,
    region_matrix,
    summarize,
)

__all__ = [
    "BamExtractor",
    "CONTEXTS",
    "DEFAULT_CA_MOTIF",
    "DEFAULT_GENES",
    "DEFAULT_TELOMERE_BIN_BP",
    "DEFAULT_TELOMERE_DISTANCE_BP",
    "DINUCLEOTIDES",
    "ExtractionOptions",
    "ExtractionStats",
    "GroupComparison",
    "MBias",
    "MethylationCalls",
    "MethylationSummary",
    "RegionSet",
    "SELECTORS",
    "StemnessScore",
    "SummaryAccumulator",
    "TEXT_FORMATS",
    "annotate_from_fasta",
    "collapse_stream",
    "compare_groups",
    "context_mask",
    "detect_format",
    "extract_bam",
    "extract_mbias",
    "fixed_bins",
    "gene_bodies",
    "iter_calls",
    "motif_sites",
    "parse_contexts",
    "read_bed",
    "read_calls",
    "read_chrom_sizes",
    "region_matrix",
    "stemness_score",
    "summarize",
    "telomere_bins",
]
