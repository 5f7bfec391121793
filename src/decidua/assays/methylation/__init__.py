"""CpG and non-CpG (CpA / CHG / CHH) methylation from bisulfite sequencing.

Readers for Bismark, MethylDackel and methylKit outputs and for Bismark BAMs
(one in-memory representation, :class:`MethylationCalls`), context
annotation, streaming summaries per context and region, group comparison and
a stemness-signature score (Lucas et al., Stem Cells 2016;34:346–356).

Pure science code: no database, web or CLI imports, no printing. Names are
imported from their submodules on first use, so reading a text file does not
load pysam or scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule; imported on first use (start-up: issue 10).
_EXPORTS = {
    "BamExtractor": "bam",
    "CONTEXTS": "calls",
    "ContextTally": "calls",
    "DEFAULT_CA_MOTIF": "regions",
    "DEFAULT_GENES": "regions",
    "DEFAULT_TELOMERE_BIN_BP": "regions",
    "DEFAULT_TELOMERE_DISTANCE_BP": "regions",
    "DINUCLEOTIDES": "calls",
    "ExtractionOptions": "bam",
    "ExtractionStats": "bam",
    "GroupComparison": "compare",
    "MBias": "bam",
    "MethylationCalls": "calls",
    "MethylationSummary": "summaries",
    "RegionSet": "regions",
    "SELECTORS": "contexts",
    "StemnessScore": "compare",
    "SummaryAccumulator": "summaries",
    "TEXT_FORMATS": "readers",
    "annotate_from_fasta": "contexts",
    "collapse_stream": "summaries",
    "compare_groups": "compare",
    "context_mask": "contexts",
    "detect_format": "readers",
    "extract_bam": "bam",
    "extract_mbias": "bam",
    "fixed_bins": "regions",
    "gene_bodies": "regions",
    "iter_calls": "readers",
    "iter_tallies": "readers",
    "motif_sites": "regions",
    "parse_contexts": "contexts",
    "read_bed": "regions",
    "read_calls": "readers",
    "read_chrom_sizes": "regions",
    "region_matrix": "summaries",
    "stemness_score": "compare",
    "summarize": "summaries",
    "telomere_bins": "regions",
}

__all__ = [
    "BamExtractor",
    "CONTEXTS",
    "ContextTally",
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
    "iter_tallies",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'decidua.assays.methylation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"decidua.assays.methylation.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
