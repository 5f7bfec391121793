"""M-bias tables against Bismark's Perl extractor (v0.25.1) ``*.M-bias.txt`` outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decidua.assays.methylation.bam import ExtractionOptions, extract_mbias

BISMARK = Path(__file__).resolve().parents[2] / "data" / "methylation" / "bismark"


def _parse_bismark(path: Path) -> pd.DataFrame:
    """Bismark's M-bias text, parsed independently into a long table."""
    rows = []
    read = context = None
    for line in path.read_text().splitlines():
        if line.endswith(("context (R1)", "context (R2)", "context")):
            parts = line.split()
            context = parts[0]
            read = parts[2].strip("()") if len(parts) == 3 else "R1"
        elif line and line[0].isdigit():
            pos, meth, unmeth, _pct, cov = line.split("\t")
            rows.append((read, context, int(pos), int(meth), int(unmeth), int(cov)))
    return pd.DataFrame(rows, columns=["read", "context", "position", "methylated",
                                       "unmethylated", "coverage"])


@pytest.mark.parametrize(
    ("bam", "options", "golden"),
    [
        ("tiny_pe_bismark.bam", ExtractionOptions(), "tiny_pe.no_overlap.M-bias.txt"),
        ("tiny_pe_bismark.bam", ExtractionOptions(no_overlap=False),
         "tiny_pe.include_overlap.M-bias.txt"),
        ("tiny_pe_indels.bam", ExtractionOptions(), "tiny_pe_indels.no_overlap.M-bias.txt"),
        ("mk_se.bam", ExtractionOptions(), "mk_se.M-bias.txt"),
    ],
)
def test_mbias_report_is_identical_to_bismark(tmp_path: Path, bam: str,
                                              options: ExtractionOptions, golden: str) -> None:
    mbias = extract_mbias(BISMARK / bam, options)
    ours = tmp_path / "ours.M-bias.txt"
    mbias.write_report(ours)
    assert ours.read_text() == (BISMARK / golden).read_text()
    frame = mbias.to_frame()[["read", "context", "position", "methylated", "unmethylated",
                              "coverage"]]
    expected = _parse_bismark(BISMARK / golden)
    assert expected["coverage"].sum() > 1000
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_mbias_totals_equal_extracted_calls() -> None:
    from decidua.assays.methylation import extract_bam

    calls, _ = extract_bam(BISMARK / "tiny_pe_bismark.bam")
    frame = extract_mbias(BISMARK / "tiny_pe_bismark.bam").to_frame()
    assert frame["methylated"].sum() == calls.methylated.sum()
    assert frame["unmethylated"].sum() == calls.unmethylated.sum()


def test_trimmed_mbias_is_bismark_shifted_by_the_5prime_trim() -> None:
    """Bismark numbers positions from the first base kept after --ignore / --ignore_r2."""
    options = ExtractionOptions(ignore=5, ignore_r2=3, ignore_3prime=2, ignore_3prime_r2=4)
    ours = extract_mbias(BISMARK / "tiny_pe_bismark.bam", options).to_frame()
    bismark = _parse_bismark(BISMARK / "tiny_pe.ignore_5_3_2_4.M-bias.txt")
    for read, shift in (("R1", 5), ("R2", 3)):
        mine = ours[ours["read"] == read]
        assert (mine.loc[mine["position"] <= shift, "coverage"] == 0).all()
        theirs = bismark[bismark["read"] == read].copy()
        theirs["position"] += shift
        merged = theirs.merge(mine, on=["context", "position"], suffixes=("_b", ""))
        assert len(merged) == len(theirs) > 100
        for col in ("methylated", "unmethylated"):
            np.testing.assert_array_equal(merged[col], merged[f"{col}_b"])
        assert mine["coverage"].sum() == theirs["coverage"].sum()


def test_mbias_without_calls_is_empty_but_well_formed(tmp_path: Path) -> None:
    mbias = extract_mbias(BISMARK / "tiny_pe_bismark.bam", ExtractionOptions(min_mapq=255))
    assert mbias.to_frame().empty
    out = tmp_path / "empty.M-bias.txt"
    mbias.write_report(out, paired=True)
    lines = out.read_text().splitlines()
    assert lines[0] == "CpG context (R1)" and "CHH context (R2)" in lines
    assert not any(line[:1].isdigit() for line in lines)
