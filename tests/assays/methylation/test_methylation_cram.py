"""CRAM input: the same calls as the BAM it was converted from (samtools 1.16.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decidua.assays.methylation import extract_bam
from decidua.assays.methylation.bam import ExtractionOptions
from decidua.errors import InputError

BISMARK = Path(__file__).resolve().parents[2] / "data" / "methylation" / "bismark"
FIELDS = ("chrom", "pos", "strand", "context", "trinucleotide", "methylated", "unmethylated")


def _equal(a: object, b: object) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


@pytest.mark.parametrize("options", [ExtractionOptions(),
                                     ExtractionOptions(no_overlap=False, count_orphans=True),
                                     ExtractionOptions(ignore=5, ignore_r2=3, ignore_3prime=2)])
def test_cram_with_reference_gives_the_bam_calls(ecoli_fasta: Path,
                                                 options: ExtractionOptions) -> None:
    bam_calls, bam_stats = extract_bam(BISMARK / "tiny_pe_bismark.bam", options)
    cram_calls, cram_stats = extract_bam(BISMARK / "tiny_pe_bismark.cram", options,
                                         reference=ecoli_fasta)
    assert len(bam_calls) > 4000
    assert cram_calls.chrom_names == bam_calls.chrom_names
    assert _equal(cram_calls, bam_calls)
    assert cram_stats == bam_stats


def test_cram_with_embedded_reference_needs_no_fasta() -> None:
    bam_calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.bam")
    cram_calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.embed_ref.cram")
    assert _equal(cram_calls, bam_calls)


def test_cram_with_wrong_reference_is_an_error(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.fa"
    wrong.write_text(">Ecoli_K12\n" + "ACGT" * 1000 + "\n")
    with pytest.raises(InputError) as err:
        extract_bam(BISMARK / "tiny_pe_bismark.cram", reference=wrong)
    assert err.value.file is not None and err.value.file.endswith("tiny_pe_bismark.cram")
    assert "reference" in str(err.value)


def test_cram_with_plain_gzip_reference() -> None:
    # the reference as downloaded (plain gzip, which htslib cannot use directly)
    bam_calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.bam")
    cram_calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.cram",
                                reference=BISMARK / "NC_010473.covered_masked.fa.gz")
    assert len(cram_calls) > 4000
    assert _equal(cram_calls, bam_calls)
