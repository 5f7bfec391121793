"""Equivalence with Bismark's own outputs (Perl extractor v0.25.1, coverage2cytosine).

Goldens were produced by Bismark, not by us (see tests/data/methylation/README.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decidua.assays.methylation import (
    ExtractionOptions,
    annotate_from_fasta,
    extract_bam,
    read_calls,
    summarize,
)
from decidua.assays.methylation.calls import trinucleotide_text

BISMARK = Path(__file__).resolve().parents[2] / "data" / "methylation" / "bismark"

CASES = [
    ("tiny_pe_bismark.bam", "tiny_pe.no_overlap.CX.bismark.cov.gz", {}),
    ("tiny_pe_bismark.bam", "tiny_pe.include_overlap.CX.bismark.cov.gz", {"no_overlap": False}),
    (
        "tiny_pe_bismark.bam",
        "tiny_pe.ignore_5_3_2_4.CX.bismark.cov.gz",
        {"ignore": 5, "ignore_r2": 3, "ignore_3prime": 2, "ignore_3prime_r2": 4},
    ),
    ("tiny_pe_indels.bam", "tiny_pe_indels.no_overlap.CX.bismark.cov.gz", {}),
    ("tiny_pe_indels.bam", "tiny_pe_indels.include_overlap.CX.bismark.cov.gz",
     {"no_overlap": False}),
    (
        "tiny_pe_indels.bam",
        "tiny_pe_indels.ignore_4_6_3_2.CX.bismark.cov.gz",
        {"ignore": 4, "ignore_r2": 6, "ignore_3prime": 3, "ignore_3prime_r2": 2},
    ),
    ("mk_se.bam", "mk_se.CX.bismark.cov.gz", {}),
    ("mk_se.bam", "mk_se.ignore_3_3prime_2.CX.bismark.cov.gz",
     {"ignore": 3, "ignore_3prime": 2}),
]


def _per_position(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts per (chrom, pos), summed over strands — the key of a Bismark .cov file."""
    out = frame.groupby(["chrom", "pos"], as_index=False)[["methylated", "unmethylated"]].sum()
    return out.sort_values(["chrom", "pos"]).reset_index(drop=True)


@pytest.mark.parametrize(("bam", "golden", "opts"), CASES, ids=[c[1] for c in CASES])
def test_bam_extraction_equals_bismark_coverage(bam: str, golden: str, opts: dict) -> None:
    calls, stats = extract_bam(BISMARK / bam, ExtractionOptions(**opts))
    ours = _per_position(calls.to_frame())
    theirs = _per_position(read_calls(BISMARK / golden).to_frame())
    assert len(ours) == len(theirs)
    pd.testing.assert_frame_equal(ours, theirs)
    assert stats.calls == int(theirs.methylated.sum() + theirs.unmethylated.sum())


def _splitting_totals(path) -> dict[str, int]:  # type: ignore[no-untyped-def]
    text = path.read_text()
    out = {}
    for ctx in ("CpG", "CHG", "CHH"):
        out[f"meth_{ctx}"] = int(re.search(rf"Total methylated C's in {ctx} context:\t(\d+)",
                                           text).group(1))
        out[f"unmeth_{ctx}"] = int(re.search(rf"Total C to T conversions in {ctx} context:\t(\d+)",
                                             text).group(1))
    out["total"] = int(re.search(r"Total number of C's analysed:\t(\d+)", text).group(1))
    return out


@pytest.mark.parametrize(
    ("report", "opts"),
    [
        ("tiny_pe.no_overlap_splitting_report.txt", {}),
        ("tiny_pe.include_overlap_splitting_report.txt", {"no_overlap": False}),
        ("tiny_pe.ignore_5_3_2_4_splitting_report.txt",
         {"ignore": 5, "ignore_r2": 3, "ignore_3prime": 2, "ignore_3prime_r2": 4}),
    ],
)
def test_per_context_totals_equal_bismark_splitting_report(report: str, opts: dict) -> None:
    expected = _splitting_totals(BISMARK / report)
    calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.bam", ExtractionOptions(**opts))
    summary = summarize(calls, contexts=("CG", "CHG", "CHH")).global_frame().set_index("context")
    for ours, theirs in (("CG", "CpG"), ("CHG", "CHG"), ("CHH", "CHH")):
        assert summary.loc[ours, "methylated"] == expected[f"meth_{theirs}"]
        assert summary.loc[ours, "unmethylated"] == expected[f"unmeth_{theirs}"]
    assert int(summary[["methylated", "unmethylated"]].to_numpy().sum()) == expected["total"]


def test_bam_plus_fasta_equals_coverage2cytosine_cx_report(ecoli_fasta) -> None:  # type: ignore[no-untyped-def]
    """Per-site strand, context, trinucleotide and counts equal the CX report rows."""
    calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.bam")
    ours = annotate_from_fasta(calls, ecoli_fasta).to_frame()
    theirs = read_calls(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz").to_frame()
    pd.testing.assert_frame_equal(ours, theirs)


def test_coverage_file_plus_fasta_recovers_strand_and_context(ecoli_fasta) -> None:  # type: ignore[no-untyped-def]
    cov = read_calls(BISMARK / "tiny_pe.no_overlap.CX.bismark.cov.gz")
    assert (cov.strand == 0).all()
    ours = annotate_from_fasta(cov, ecoli_fasta).sorted().to_frame()
    theirs = read_calls(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz").to_frame()
    pd.testing.assert_frame_equal(ours, theirs)


def test_trinucleotide_totals_equal_cytosine_context_summary() -> None:
    """coverage2cytosine's per-trinucleotide totals (summed over the upstream base)."""
    summary = pd.read_csv(BISMARK / "tiny_pe.no_overlap.cytosine_context_summary.txt", sep="\t")
    expected = summary.groupby("C-context")[["count methylated", "count unmethylated"]].sum()
    calls = read_calls(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz")
    tri = np.array([trinucleotide_text(int(t)) for t in calls.trinucleotide])
    ours = pd.DataFrame({"tri": tri, "m": calls.methylated, "u": calls.unmethylated})
    ours = ours.groupby("tri")[["m", "u"]].sum()
    assert sorted(ours.index) == sorted(expected.index)
    for tri_name, row in expected.iterrows():
        assert ours.loc[tri_name, "m"] == row["count methylated"]
        assert ours.loc[tri_name, "u"] == row["count unmethylated"]


def test_dinucleotide_split_totals_match_cx_report() -> None:
    """CpA/CpC/CpT totals equal sums over the CX report's trinucleotide column."""
    frame = pd.read_csv(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz", sep="\t",
                        header=None, names=["c", "p", "s", "m", "u", "ctx", "tri"])
    calls = read_calls(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz")
    glob = summarize(calls, contexts=("CA", "CC", "CT", "CG", "CH")).global_frame()
    glob = glob.set_index("context")
    for dinuc in ("CA", "CC", "CT", "CG"):
        sub = frame[frame.tri.str[:2] == dinuc]
        assert glob.loc[dinuc, "methylated"] == sub.m.sum()
        assert glob.loc[dinuc, "unmethylated"] == sub.u.sum()
        assert glob.loc[dinuc, "n_sites"] == len(sub)
    ch = frame[frame.ctx != "CG"]
    assert glob.loc["CH", "methylated"] == ch.m.sum()


def test_orphan_read_is_dropped_like_bismark_unless_asked() -> None:
    _, default = extract_bam(BISMARK / "tiny_pe_bismark.bam")
    calls, counted = extract_bam(BISMARK / "tiny_pe_bismark.bam",
                                 ExtractionOptions(count_orphans=True))
    assert default.orphans == 1 and default.pairs == 101
    assert counted.calls > default.calls
