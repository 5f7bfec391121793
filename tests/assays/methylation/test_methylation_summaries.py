"""Summaries and region sets, checked against brute-force pandas on synthetic truth.

Synthetic generator (documented truth): ``_random_calls(seed, n)`` draws sorted
sites on three chromosomes with random strands, trinucleotides and counts; every
expected value is recomputed independently with plain pandas loops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decidua.assays.methylation import (
    MethylationCalls,
    RegionSet,
    collapse_stream,
    fixed_bins,
    gene_bodies,
    iter_calls,
    motif_sites,
    read_bed,
    read_calls,
    read_chrom_sizes,
    region_matrix,
    summarize,
    telomere_bins,
)
from decidua.assays.methylation.calls import context_from_trinucleotide
from decidua.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
SIZES = {"chrA": 5000, "chrB": 3000, "chrC": 800}


def _random_calls(seed: int, n: int = 2000) -> MethylationCalls:
    rng = np.random.default_rng(seed)
    names = tuple(SIZES)
    share = np.array(list(SIZES.values())) / sum(SIZES.values())
    chrom = np.sort(rng.choice(3, size=n, p=share)).astype(np.int32)
    pos = np.empty(n, np.int64)
    for c, name in enumerate(names):
        k = int((chrom == c).sum())
        pos[chrom == c] = np.sort(rng.choice(np.arange(1, SIZES[name] + 1), size=k,
                                             replace=False))
    tri = (rng.integers(0, 4, n) * 5 + rng.integers(0, 4, n)).astype(np.uint8)
    cov = rng.integers(0, 12, n)
    meth = rng.binomial(cov, rng.random(n))
    return MethylationCalls(names, chrom, pos, rng.choice(np.array([1, -1], np.int8), n),
                            context_from_trinucleotide(tri), tri, meth.astype(np.int64),
                            (cov - meth).astype(np.int64))


def _brute(calls: MethylationCalls, regions: RegionSet, ctx_filter, min_cov: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    f = calls.to_frame()
    f["cov"] = f.methylated + f.unmethylated
    f = f[(f["cov"] >= min_cov) & ctx_filter(f)]
    rows = []
    for c, s, e, name in zip(regions.chrom, regions.start, regions.end, regions.name,
                             strict=True):
        sub = f[(f.chrom == c) & (f.pos > s) & (f.pos <= e)]
        m, u = sub.methylated.sum(), sub.unmethylated.sum()
        rows.append({"region": name, "n_sites": len(sub), "methylated": m, "unmethylated": u,
                     "weighted": m / (m + u) if m + u else np.nan,
                     "mean_of_sites": (sub.methylated / sub["cov"]).mean() if len(sub)
                     else np.nan})
    return pd.DataFrame(rows)


def _overlapping_regions(seed: int) -> RegionSet:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(40):
        c = list(SIZES)[k % 3]
        s = int(rng.integers(0, SIZES[c] - 10))
        e = int(min(SIZES[c], s + rng.integers(1, 1500)))
        rows.append((c, s, e, f"r{k}"))
    rows.append(("chrZ", 0, 100, "absent_chrom"))
    return RegionSet.from_records(rows)


@pytest.mark.parametrize("min_cov", [1, 5])
def test_region_summary_equals_brute_force(min_cov: int) -> None:
    calls = _random_calls(1)
    regions = _overlapping_regions(2)
    res = summarize(calls, ("CG", "CHH", "CA"), regions, min_coverage=min_cov).region_frame()
    filters = {
        "CG": lambda f: f.context == "CG",
        "CHH": lambda f: f.context == "CHH",
        "CA": lambda f: f.trinucleotide.str[:2] == "CA",
    }
    for ctx, flt in filters.items():
        ours = res[res.context == ctx].reset_index(drop=True)
        ref = _brute(calls, regions, flt, min_cov)
        for col in ("n_sites", "methylated", "unmethylated"):
            assert list(ours[col]) == list(ref[col]), (ctx, col)
        np.testing.assert_allclose(ours.weighted, ref.weighted, equal_nan=True)
        np.testing.assert_allclose(ours.mean_of_sites, ref.mean_of_sites, equal_nan=True)


def test_global_summary_weighted_and_mean_of_sites() -> None:
    calls = _random_calls(3)
    g = summarize(calls, ("CG", "CH", "ALL"), min_coverage=2).global_frame().set_index("context")
    f = calls.to_frame()
    f["cov"] = f.methylated + f.unmethylated
    f = f[f["cov"] >= 2]
    ch = f[f.context != "CG"]
    assert g.loc["CH", "n_sites"] == len(ch)
    assert g.loc["CH", "weighted"] == pytest.approx(ch.methylated.sum() / ch["cov"].sum())
    assert g.loc["CH", "mean_of_sites"] == pytest.approx((ch.methylated / ch["cov"]).mean())
    assert g.loc["ALL", "n_sites"] == len(f)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=1999), min_size=0, max_size=6, unique=True))
def test_chunking_does_not_change_results(cuts: list[int]) -> None:
    calls = _random_calls(4)
    regions = _overlapping_regions(5)
    edges = [0, *sorted(cuts), len(calls)]
    chunks = [calls.take(slice(a, b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    whole = summarize(calls, ("CG", "CHG"), regions).to_frame()
    parts = summarize(chunks, ("CG", "CHG"), regions).to_frame()
    pd.testing.assert_frame_equal(whole, parts)
    # strand collapse streamed over chunks equals collapse in memory
    merged = MethylationCalls.concat(collapse_stream(chunks)).to_frame()
    memory = calls.collapse_cpg_strands().to_frame()
    cols = list(memory.columns)
    pd.testing.assert_frame_equal(merged.sort_values(cols).reset_index(drop=True),
                                  memory.sort_values(cols).reset_index(drop=True))


def test_streaming_file_summary_equals_in_memory() -> None:
    path = DATA / "bismark" / "tiny_pe.no_overlap.covered.CX_report.txt.gz"
    bins = fixed_bins({"Ecoli_K12": 4_686_137}, 100_000)
    streamed = summarize(iter_calls(path, block_size=2048), ("CG", "CA", "CHH"), bins,
                         collapse_strands=True).to_frame()
    memory = summarize(read_calls(path).collapse_cpg_strands(), ("CG", "CA", "CHH"),
                       bins).to_frame()
    pd.testing.assert_frame_equal(streamed, memory)
    assert streamed[streamed.region != "genome"].methylated.sum() == memory[
        memory.region == "genome"].methylated.sum()


def test_fixed_and_telomere_bins() -> None:
    bins = fixed_bins({"a": 2500}, 1000)
    assert list(bins.start) == [0, 1000, 2000] and list(bins.end) == [1000, 2000, 2500]
    tel = telomere_bins({"a": 10_000, "b": 3_000}, distance=2_500, width=1_000)
    f = tel.to_frame().set_index("name")
    assert (f.loc["a:p0", "start"], f.loc["a:p0", "end"]) == (0, 1000)
    assert (f.loc["a:p2", "start"], f.loc["a:p2", "end"]) == (2000, 2500)
    assert (f.loc["a:q0", "start"], f.loc["a:q0", "end"]) == (9000, 10_000)
    assert (f.loc["a:q2", "start"], f.loc["a:q2", "end"]) == (7500, 8000)
    assert (f.loc["b:q0", "start"], f.loc["b:q0", "end"]) == (2000, 3000)
    with pytest.raises(InputError):
        fixed_bins({"a": 10}, 0)


def test_read_bed_and_chrom_sizes(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\nchr1\t10\t20\tgeneA\nchr1\t15\t40\n")
    r = read_bed(bed)
    assert list(r.name) == ["geneA", "chr1:15-40"] and list(r.end) == [20, 40]
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t10\n")
    with pytest.raises(InputError) as err:
        read_bed(bad)
    assert err.value.row == 1
    fai = tmp_path / "g.fa.fai"
    fai.write_text("chr1\t1000\t6\t60\t61\nchr2\t50\t1100\t60\t61\n")
    assert read_chrom_sizes(fai) == {"chr1": 1000, "chr2": 50}


def test_gene_bodies_from_gtf(tmp_path: Path) -> None:
    gtf = tmp_path / "g.gtf"
    gtf.write_text(
        '#!genome-build test\n'
        'chr4\tsrc\tgene\t173331\t173339\t.\t-\t.\tgene_id "ENSG1"; gene_name "HMGB2";\n'
        'chr4\tsrc\texon\t173331\t173335\t.\t-\t.\tgene_id "ENSG1"; gene_name "HMGB2";\n'
        'chr1\tsrc\tgene\t10\t20\t.\t+\t.\tgene_id "ENSG2"; gene_name "OTHER";\n'
    )
    r = gene_bodies(gtf)
    assert list(r.chrom) == ["chr4"] and list(r.start) == [173330] and list(r.end) == [173339]
    assert list(r.name) == ["HMGB2"]
    with pytest.raises(InputError):
        gene_bodies(gtf, ["NOPE"])


def test_motif_sites_find_ca_repeats_on_both_strands(tmp_path: Path) -> None:
    fa = tmp_path / "m.fa"
    seq = "GGGG" + "CA" * 7 + "GGGGGG" + "TG" * 6 + "AAAA" + "CA" * 3 + "GG"
    fa.write_text(">m\n" + seq + "\n")
    pysam.faidx(str(fa))
    r = motif_sites(fa)
    assert list(r.start) == [4, 24]
    assert list(r.end) == [18, 36]


def test_region_matrix_and_min_sites() -> None:
    regions = _overlapping_regions(7)
    s1 = summarize(_random_calls(8), ("CG",), regions)
    s2 = summarize(_random_calls(9), ("CG",), regions)
    m = region_matrix({"s1": s1, "s2": s2}, "CG")
    assert m.shape == (2, len(regions))
    assert np.isnan(m.loc["s1", "absent_chrom"])
    r1 = s1.region_frame()
    r1 = r1[r1.context == "CG"].set_index("region")
    assert m.loc["s1", "r0"] == pytest.approx(r1.loc["r0", "weighted"])
    m_strict = region_matrix({"s1": s1, "s2": s2}, "CG", min_sites=10_000)
    assert m_strict.isna().all().all()


COV = DATA / "bismark" / "tiny_pe.no_overlap.CX.bismark.cov.gz"
PLAIN_GZ_FASTA = DATA / "bismark" / "NC_010473.covered_masked.fa.gz"


def test_summarize_refuses_inputs_without_context() -> None:
    raw = pd.read_csv(COV, sep="\t", header=None)
    covered = int(((raw[4] + raw[5]) > 0).sum())
    with pytest.raises(InputError, match="has a known cytosine context") as err:
        summarize(iter_calls(COV), ("ALL", "CG"))
    assert "annotate_from_fasta" in str(err.value) and "context='CG'" in str(err.value)
    with pytest.raises(InputError, match="trinucleotide"):
        summarize(iter_calls(COV, context="CHH"), ("CA",))
    s = summarize(iter_calls(COV), ("ALL", "CG"), allow_unknown_context=True)
    g = s.global_frame().set_index("context")
    assert g.loc["ALL", "n_sites"] == covered and g.loc["CG", "n_sites"] == 0
    assert s.unknown_sites == {"ALL": 0, "CG": covered}
    assert s.covered_sites == covered and s.chromosomes == ("Ecoli_K12",)
    # declared CpG context: the dinucleotide is known (G), so CA is a true zero
    s = summarize(iter_calls(COV, context="CpG"), ("CG", "CA"))
    assert s.unknown_sites == {"CG": 0, "CA": 0}
    assert s.global_frame().set_index("context").loc["CG", "methylated"] == raw[4].sum()


def test_summary_frame_coordinates_are_integers() -> None:
    regions = RegionSet.from_records([("Ecoli_K12", 0, 100_000, "a")])
    df = summarize(read_calls(COV, context="CG"), ("CG",), regions).to_frame()
    assert list(df.columns[:4]) == ["region", "chrom", "start", "end"]
    assert str(df["start"].dtype) == "Int64" and str(df["end"].dtype) == "Int64"
    assert df["start"].tolist()[1:] == [0] and df["end"].tolist()[1:] == [100_000]
    assert df["start"].isna().tolist() == [True, False]
    plain = summarize(read_calls(COV, context="CG"), ("CG",)).to_frame()
    assert str(plain["end"].dtype) == "Int64" and len(plain) == 1


def test_plain_gzip_fasta_is_read(tmp_path: Path, ecoli_fasta: Path,
                                  capfd: pytest.CaptureFixture[str]) -> None:
    from decidua.assays.methylation import annotate_from_fasta
    from decidua.assays.methylation.contexts import fasta_for_htslib

    calls = read_calls(COV)
    ours = annotate_from_fasta(calls, PLAIN_GZ_FASTA).to_frame()
    pd.testing.assert_frame_equal(ours, annotate_from_fasta(calls, ecoli_fasta).to_frame())
    copy = fasta_for_htslib(PLAIN_GZ_FASTA)
    assert copy != str(PLAIN_GZ_FASTA) and fasta_for_htslib(PLAIN_GZ_FASTA) == copy  # cached
    assert fasta_for_htslib(ecoli_fasta) == str(ecoli_fasta)
    bgz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(ecoli_fasta), str(bgz))
    assert fasta_for_htslib(bgz) == str(bgz)  # htslib reads bgzip itself
    sites = motif_sites(PLAIN_GZ_FASTA, "GATC")
    assert len(sites) == len(motif_sites(bgz, "GATC")) > 0
    truncated = tmp_path / "cut.fa.gz"
    truncated.write_bytes(PLAIN_GZ_FASTA.read_bytes()[:5000])
    with pytest.raises(InputError, match="cut.fa.gz"):
        annotate_from_fasta(calls, truncated)
    junk = tmp_path / "junk.fa"
    junk.write_bytes(b"\x00\x01 not a fasta\n")
    capfd.readouterr()
    with pytest.raises(InputError, match="cannot open reference FASTA") as err:
        annotate_from_fasta(calls, junk)
    assert "junk.fa" in str(err.value)
    assert "[E::" not in capfd.readouterr().err


def test_read_bed_header_line(tmp_path: Path) -> None:
    bed = tmp_path / "h.bed"
    bed.write_text("#comment\nchrom\tchromStart\tchromEnd\nc1\t5\t10\n")
    r = read_bed(bed)
    assert (r.chrom.tolist(), r.start.tolist(), r.end.tolist()) == (["c1"], [5], [10])
    bed.write_text("c1\t5\t10\nchrom\tstart\tend\n")  # not a header once data has started
    with pytest.raises(InputError, match="row 2"):
        read_bed(bed)
