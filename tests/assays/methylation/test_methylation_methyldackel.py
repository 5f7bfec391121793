"""Real MethylDackel 0.6.1 outputs (tests/data/methylation/methyldackel, see README there).

* Decidua's readers return exactly the per-site counts MethylDackel wrote, for
  every output layout (bedGraph, ``--methylKit``, ``--cytosine_report``,
  ``--mergeContext``), and the layouts agree with one another.
* Decidua's own XM-tag extraction of a BAM agrees with MethylDackel's
  extraction of the same BAM, site by site, with the differences explained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decidua.assays.methylation import extract_bam, read_calls
from decidua.assays.methylation.bam import ExtractionOptions
from decidua.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
MDK = DATA / "methyldackel"
KEY = ["chrom", "pos"]
COUNTS = ["chrom", "pos", "methylated", "unmethylated"]
# (output prefix, contexts written)
RUNS = [("cg", ("CpG",)), ("chgchh", ("CpG", "CHG", "CHH")), ("tiny_pe", ("CpG", "CHG", "CHH"))]
CONTEXT_NAME = {"CpG": "CG", "CHG": "CHG", "CHH": "CHH"}


def _suffix(prefix: str) -> str:
    return ".gz" if prefix == "tiny_pe" else ""


def _raw_bedgraph(path: Path) -> pd.DataFrame:
    """The file as MethylDackel wrote it, parsed independently with pandas."""
    raw = pd.read_csv(path, sep="\t", skiprows=1, header=None,
                      names=["chrom", "start", "end", "pct", "methylated", "unmethylated"])
    raw["pos"] = raw["start"] + 1
    return raw


def _ours(path: Path, **kwargs: object) -> pd.DataFrame:
    return read_calls(path, **kwargs).to_frame()  # type: ignore[arg-type]


def _bedgraphs(prefix: str) -> pd.DataFrame:
    """All per-context bedGraphs of one run, read by Decidua, sorted by position."""
    frames = [_ours(MDK / f"{prefix}_{c}.bedGraph{_suffix(prefix)}") for c in dict(RUNS)[prefix]]
    return pd.concat(frames).sort_values(KEY, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("engine", ["fast", "arrow"])
@pytest.mark.parametrize(("prefix", "contexts"), RUNS)
def test_bedgraph_counts_are_what_methyldackel_wrote(
    prefix: str, contexts: tuple[str, ...], engine: str
) -> None:
    for c in contexts:
        path = MDK / f"{prefix}_{c}.bedGraph{_suffix(prefix)}"
        raw = _raw_bedgraph(path)
        ours = _ours(path, engine=engine)
        assert len(raw) > 0
        pd.testing.assert_frame_equal(ours[COUNTS], raw[COUNTS], check_dtype=False)
        assert (ours["context"] == CONTEXT_NAME[c]).all()


@pytest.mark.parametrize(("prefix", "contexts"), RUNS)
def test_methylkit_layout_gives_the_bedgraph_counts(prefix: str, contexts: tuple[str, ...]) -> None:
    for c in contexts:
        sfx = _suffix(prefix)
        mk_path = MDK / f"{prefix}_{c}.methylKit{sfx}"
        mk = _ours(mk_path)
        bg = _ours(MDK / f"{prefix}_{c}.bedGraph{sfx}")
        pd.testing.assert_frame_equal(mk[COUNTS], bg[COUNTS], check_dtype=False)
        raw = pd.read_csv(mk_path, sep="\t")
        np.testing.assert_array_equal(mk["methylated"] + mk["unmethylated"], raw["coverage"])
        np.testing.assert_array_equal(mk["strand"], np.where(raw["strand"] == "F", "+", "-"))


@pytest.mark.parametrize("engine", ["fast", "arrow"])
@pytest.mark.parametrize("prefix", ["cg", "chgchh"])
def test_cytosine_report_is_what_methyldackel_wrote_and_matches_bedgraphs(
    prefix: str, engine: str
) -> None:
    path = MDK / f"{prefix}.cytosine_report.txt"
    raw = pd.read_csv(path, sep="\t", header=None, names=[
        "chrom", "pos", "strand", "methylated", "unmethylated", "context", "trinucleotide"])
    ours = _ours(path, engine=engine)
    pd.testing.assert_frame_equal(ours[list(raw.columns)], raw, check_dtype=False)
    covered = ours[ours["methylated"] + ours["unmethylated"] > 0].reset_index(drop=True)
    bg = _bedgraphs(prefix)
    assert len(covered) == len(bg) > 0
    pd.testing.assert_frame_equal(covered[COUNTS + ["context"]], bg[COUNTS + ["context"]],
                                  check_dtype=False)


def test_merged_context_bedgraph_equals_strand_collapse_of_the_report() -> None:
    report = read_calls(MDK / "cg.cytosine_report.txt")
    collapsed = report.take(report.context == 0).collapse_cpg_strands().filter_coverage(1)
    merged_path = MDK / "cg_merged_CpG.bedGraph"
    merged = _ours(merged_path)
    raw = _raw_bedgraph(merged_path)
    assert (raw["end"] - raw["start"] == 2).all()  # one row per CpG (both strands)
    assert len(merged) == len(collapsed) > 0
    pd.testing.assert_frame_equal(merged[COUNTS], collapsed.to_frame()[COUNTS],
                                  check_dtype=False)


def test_our_bam_extraction_equals_methyldackel_on_its_test_bam() -> None:
    """MethylDackel ``-q 2`` on its own Bismark-aligned test BAM (one pair of full overlap).

    MethylDackel was run for CpG only; Decidua's CpG calls equal its bedGraph at
    every site but position 17, where the mates disagree with equal base
    quality: Bismark's rule (Decidua's default) keeps read 1's call,
    MethylDackel drops both.
    """
    calls, stats = extract_bam(MDK / "cg_aln.bam", ExtractionOptions(min_mapq=2))
    assert stats.reads_filtered == 2  # the MAPQ-1 pair
    ours = calls.to_frame()
    assert list(ours.loc[ours["context"] != "CG", "pos"]) == [99]  # CpA at the contig end
    ours = ours[ours["context"] == "CG"]
    bg = _ours(MDK / "cg_CpG.bedGraph")
    assert len(bg) == 48
    conflict = ours["pos"] == 17
    assert conflict.sum() == 1
    pd.testing.assert_frame_equal(ours.loc[~conflict, COUNTS].reset_index(drop=True),
                                  bg[COUNTS], check_dtype=False)
    both_mates = extract_bam(MDK / "cg_aln.bam",
                             ExtractionOptions(min_mapq=2, no_overlap=False))[0].to_frame()
    at17 = both_mates[both_mates["pos"] == 17].iloc[0]
    assert (at17["methylated"], at17["unmethylated"]) == (1, 1)  # the mates disagree
    sequence = "".join((MDK / "cg100.fa").read_text().split("\n")[1:]).upper()
    assert sequence[98:100] == "CA"


def test_bam_without_xm_tags_from_methyldackel_tests_is_refused() -> None:
    with pytest.raises(InputError) as err:
        extract_bam(MDK / "chgchh_aln.bam")
    assert err.value.file is not None and err.value.file.endswith("chgchh_aln.bam")
    assert "XM" in str(err.value)


def test_bismark_bam_extraction_agrees_with_methyldackel() -> None:
    """Same Bismark BAM, Decidua (XM tags, Bismark rules) vs MethylDackel (defaults).

    Matched setting: Decidua counts the orphan read 1 (MethylDackel does not
    look for the mate). MAPQ (all 42) and base-quality defaults do not bind on
    this BAM. Every site both tools report has identical counts and context;
    the sites only one reports are the two documented overlap differences.
    """
    bam = DATA / "bismark" / "tiny_pe_bismark.bam"
    ours = extract_bam(bam, ExtractionOptions(count_orphans=True))[0].to_frame()
    both_mates = extract_bam(bam, ExtractionOptions(count_orphans=True, no_overlap=False))[0]
    both_mates_df = both_mates.to_frame()
    mdk = _bedgraphs("tiny_pe")
    j = ours.merge(mdk, on=KEY, how="outer", suffixes=("", "_mdk"), indicator=True)
    shared = j[j["_merge"] == "both"]
    assert len(shared) == 4391
    for col in ("methylated", "unmethylated", "context"):
        assert (shared[col] == shared[f"{col}_mdk"]).all(), col
    # (1) Decidua only: overlapping mates disagree. Bismark keeps read 1's call;
    # MethylDackel drops both when their base qualities are equal.
    ours_only = j[j["_merge"] == "left_only"][KEY].merge(both_mates_df, on=KEY)
    assert len(ours_only) == 83
    assert ((ours_only["methylated"] == 1) & (ours_only["unmethylated"] == 1)).all()
    # (2) MethylDackel only: read-2 bases that Bismark's --no_overlap drops (read 2
    # reaching 5' of read 1 in dovetailed pairs); counted with --include_overlap.
    mdk_only = j[j["_merge"] == "right_only"][KEY]
    check = mdk_only.merge(mdk, on=KEY).merge(both_mates_df, on=KEY, suffixes=("_mdk", ""))
    assert len(check) == len(mdk_only) == 35
    assert (check["methylated"] == check["methylated_mdk"]).all()
    assert (check["unmethylated"] == check["unmethylated_mdk"]).all()
