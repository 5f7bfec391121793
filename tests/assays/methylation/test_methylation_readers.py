"""Readers: formats, engines, strand collapse (bsseq), and clear errors on bad input."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pysam
import pytest

from decidua.assays.methylation import detect_format, extract_bam, iter_calls, read_calls
from decidua.assays.methylation.calls import MethylationCalls
from decidua.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
FIELDS = ("chrom", "pos", "strand", "context", "trinucleotide", "methylated", "unmethylated")

TRUTH = pd.DataFrame(
    {
        "chrom": ["chr1", "chr1", "chr1", "chr1", "chr2", "chr2"],
        "pos": [101, 102, 250, 251, 10, 11],
        "methylated": [3, 0, 5, 2, 1, 7],
        "unmethylated": [1, 4, 0, 2, 2, 3],
    }
)


def _same(a: MethylationCalls, b: MethylationCalls) -> bool:
    return a.chrom_names == b.chrom_names and all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS[1:]
    ) and np.array_equal(a.chrom, b.chrom)


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("bismark/tiny_pe.no_overlap.CX.bismark.cov.gz", "bismark_cov"),
        ("bismark/tiny_pe.no_overlap.covered.CX_report.txt.gz", "cytosine_report"),
        ("bsseq/test_data.cytosineReport.gz", "cytosine_report"),
        ("methylkit/bismark_coverage_CpG.bed", "bismark_cov"),
        ("methylkit/bismark_cytosineReport.txt", "cytosine_report"),
        ("methylkit/test1.myCpG.txt", "methylkit"),
        ("methylkit/generic1.CpG.txt", "methylkit"),
        ("methyldackel/synthetic_CpG.bedGraph", "bedgraph"),
        ("methyldackel/synthetic_CpG.methylKit", "methylkit"),
        ("methyldackel/synthetic.cytosine_report.txt", "cytosine_report"),
        ("bismark/tiny_pe_bismark.bam", "bam"),
    ],
)
def test_detect_format(path: str, fmt: str) -> None:
    assert detect_format(DATA / path) == fmt


@pytest.mark.parametrize(
    "path",
    [
        "bismark/tiny_pe.no_overlap.CX.bismark.cov.gz",
        "bismark/tiny_pe.no_overlap.covered.CX_report.txt.gz",
        "bsseq/test_data.cytosineReport.gz",
        "bsseq/test_data.fastq_bismark.bismark.cov.gz",
        "methylkit/bismark_cytosineReport.txt",
        "methyldackel/synthetic_CpG.bedGraph",
    ],
)
@pytest.mark.parametrize("block_size", [64, 1 << 20])
def test_fast_and_arrow_engines_agree(path: str, block_size: int) -> None:
    """Two independent parsers (compiled byte loop vs Arrow CSV) give identical calls."""
    fast = read_calls(DATA / path, engine="fast", block_size=block_size)
    arrow = read_calls(DATA / path, engine="arrow", block_size=max(block_size, 1 << 16))
    assert len(fast) > 0
    assert _same(fast, arrow)


def test_cytosine_report_matches_pandas_parse() -> None:
    path = DATA / "bismark" / "tiny_pe.no_overlap.covered.CX_report.txt.gz"
    ref = pd.read_csv(path, sep="\t", header=None,
                      names=["chrom", "pos", "strand", "methylated", "unmethylated", "context",
                             "trinucleotide"])
    ours = read_calls(path).to_frame()
    ref["context"] = ref["context"].replace({"CG": "CG"})
    pd.testing.assert_frame_equal(ours, ref[list(FIELDS)], check_dtype=False)


def test_methyldackel_formats_recover_the_same_truth() -> None:
    d = DATA / "methyldackel"
    for name, fmt in (("synthetic_CpG.bedGraph", "bedgraph"),
                      ("synthetic_CpG.methylKit", "methylkit")):
        calls = read_calls(d / name)
        frame = calls.to_frame()[["chrom", "pos", "methylated", "unmethylated"]]
        pd.testing.assert_frame_equal(frame, TRUTH, check_dtype=False, obj=fmt)
        assert (calls.to_frame().context == "CG").all() or fmt == "methylkit"
    report = read_calls(d / "synthetic.cytosine_report.txt").to_frame()
    cg = report[report.context == "CG"][["chrom", "pos", "methylated", "unmethylated"]]
    pd.testing.assert_frame_equal(cg.reset_index(drop=True), TRUTH, check_dtype=False)
    mk = read_calls(d / "synthetic_CpG.methylKit").to_frame()
    assert list(mk.strand) == ["+", "-", "+", "-", "+", "-"]
    chh = read_calls(d / "synthetic_CHH.bedGraph").to_frame()
    assert list(chh.context) == ["CHH", "CHH"] and list(chh.pos) == [121, 134]


def test_methyldackel_merged_bedgraph_equals_strand_collapse_of_report() -> None:
    d = DATA / "methyldackel"
    merged = read_calls(d / "synthetic_merged_CpG.bedGraph").to_frame()
    report = read_calls(d / "synthetic.cytosine_report.txt")
    collapsed = report.take(report.context == 0).collapse_cpg_strands().to_frame()
    for col in ("chrom", "pos", "methylated", "unmethylated"):
        assert list(merged[col]) == list(collapsed[col])


def test_bsseq_strand_collapse_counts() -> None:
    """bsseq's read.bismark test: 100 loci, 50 after strandCollapse, counts summed."""
    path = DATA / "bsseq" / "test_data.cytosineReport.gz"
    calls = read_calls(path)
    assert len(calls) == 100
    collapsed = calls.collapse_cpg_strands()
    assert len(collapsed) == 50
    assert (collapsed.strand == 0).all()
    raw = pd.read_csv(path, sep="\t", header=None, names=["c", "p", "s", "m", "u", "x", "t"])
    raw["top"] = np.where(raw.s == "+", raw.p, raw.p - 1)
    expected = raw.groupby(["c", "top"], as_index=False)[["m", "u"]].sum()
    assert list(collapsed.pos) == list(expected.top)
    assert list(collapsed.methylated) == list(expected.m)
    assert list(collapsed.unmethylated) == list(expected.u)
    assert collapsed.methylated.sum() == calls.methylated.sum()


def test_methylkit_counts_round_from_percentages() -> None:
    calls = read_calls(DATA / "methylkit" / "test1.myCpG.txt")
    raw = pd.read_csv(DATA / "methylkit" / "test1.myCpG.txt", sep="\t")
    assert len(calls) == len(raw)
    assert np.array_equal(calls.coverage, raw.coverage.to_numpy())
    assert np.array_equal(calls.methylated, np.rint(raw.coverage * raw.freqC / 100).astype(int))


# --------------------------------------------------------------------------- errors


def _write(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


GOOD = "".join(f"chr1\t{p}\t+\t1\t2\tCHH\tCAT\n" for p in range(1, 2001))


@pytest.mark.parametrize("engine", ["fast", "arrow"])
def test_truncated_gzip_names_file_and_line(tmp_path: Path, engine: str) -> None:
    full = _write(tmp_path / "full.txt.gz", GOOD * 20, gz=True)
    data = full.read_bytes()
    cut = tmp_path / "cut.CX_report.txt.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_calls(cut, "cytosine_report", engine=engine)
    assert err.value.file == str(cut)
    assert err.value.row is not None and err.value.row > 1
    assert "truncated" in str(err.value)


@pytest.mark.parametrize("block_size", [4096, 8 << 20])
def test_truncated_gzip_row_is_the_first_incomplete_line(tmp_path: Path, block_size: int) -> None:
    """The fast engine reports exactly the line where the inflated text stops."""
    import zlib

    text = "".join(f"chr1\t{p}\t+\t{p % 7}\t2\tCHH\tCAT\n" for p in range(1, 20001))
    data = gzip.compress(text.encode(), compresslevel=6)
    cut = tmp_path / "cut.CX_report.txt.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    partial = zlib.decompressobj(wbits=31).decompress(cut.read_bytes())
    complete_lines = partial.count(b"\n")
    assert 1000 < complete_lines < 20000
    with pytest.raises(InputError) as err:
        read_calls(cut, "cytosine_report", engine="fast", block_size=block_size)
    assert err.value.row == complete_lines + 1
    assert err.value.file == str(cut)


@pytest.mark.parametrize("engine", ["fast", "arrow"])
def test_multi_member_gzip_and_bgzip_read_in_full(tmp_path: Path, engine: str) -> None:
    """Concatenated gzip members and BGZF (bgzip) files give the plain file's calls."""
    src = DATA / "bismark" / "tiny_pe.no_overlap.covered.CX_report.txt.gz"
    text = gzip.decompress(src.read_bytes())
    plain = tmp_path / "r.CX_report.txt"
    plain.write_bytes(text)
    half = text.index(b"\n", len(text) // 2) + 1
    multi = tmp_path / "multi.CX_report.txt.gz"
    multi.write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:]))
    bgz = tmp_path / "r.CX_report.txt.bgz"
    pysam.tabix_compress(str(plain), str(bgz))
    assert bgz.read_bytes().count(b"\x1f\x8b\x08\x04") > 1  # several BGZF blocks
    expected = read_calls(plain, engine=engine)
    assert len(expected) == 4445
    for path in (multi, bgz):
        assert _same(read_calls(path, "cytosine_report", engine=engine, block_size=1 << 16),
                     expected), path.name


@pytest.mark.parametrize("engine", ["fast", "arrow"])
def test_wrong_column_count_names_line(tmp_path: Path, engine: str) -> None:
    text = GOOD + "chr1\t5000\t+\t1\tCHH\tCAT\n" + GOOD
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(InputError) as err:
        read_calls(path, "cytosine_report", engine=engine)
    assert err.value.row == 2001
    assert err.value.file == str(path)


@pytest.mark.parametrize("engine", ["fast", "arrow"])
def test_negative_count_names_line(tmp_path: Path, engine: str) -> None:
    text = GOOD + "chr1\t5000\t+\t-3\t2\tCHH\tCAT\n"
    path = _write(tmp_path / "neg.txt.gz", text, gz=True)
    with pytest.raises(InputError) as err:
        read_calls(path, "cytosine_report", engine=engine)
    assert err.value.row == 2001
    assert "negative" in str(err.value)


@pytest.mark.parametrize("engine", ["fast", "arrow"])
def test_negative_count_in_coverage_file(tmp_path: Path, engine: str) -> None:
    path = _write(tmp_path / "x.cov", "chr1\t5\t5\t50\t1\t1\nchr1\t7\t7\t0\t0\t-1\n")
    with pytest.raises(InputError) as err:
        read_calls(path, "bismark_cov", engine=engine)
    assert err.value.row == 2


@pytest.mark.parametrize("engine", ["fast", "arrow"])
def test_unsorted_input_rejected_when_sorted_required(tmp_path: Path, engine: str) -> None:
    text = "chr1\t10\t+\t1\t0\tCG\tCGA\nchr1\t30\t+\t1\t0\tCG\tCGA\nchr1\t20\t+\t1\t0\tCG\tCGA\n"
    path = _write(tmp_path / "u.txt", text)
    assert len(read_calls(path, "cytosine_report", engine=engine)) == 3
    with pytest.raises(InputError) as err:
        read_calls(path, "cytosine_report", engine=engine, require_sorted=True)
    assert err.value.row == 3 and "not sorted" in str(err.value)
    text2 = "chr1\t10\t+\t1\t0\tCG\tCGA\nchr2\t5\t+\t1\t0\tCG\tCGA\nchr1\t20\t+\t1\t0\tCG\tCGA\n"
    path2 = _write(tmp_path / "u2.txt", text2)
    with pytest.raises(InputError) as err2:
        read_calls(path2, "cytosine_report", engine=engine, require_sorted=True)
    assert err2.value.row == 3


def test_unsorted_across_chunks_detected(tmp_path: Path) -> None:
    rows = [f"chr1\t{p}\t+\t1\t0\tCG\tCGA\n" for p in range(1, 3001)]
    rows[2500] = "chr1\t7\t+\t1\t0\tCG\tCGA\n"
    path = _write(tmp_path / "u.txt", "".join(rows))
    with pytest.raises(InputError) as err:
        read_calls(path, "cytosine_report", block_size=4096, require_sorted=True)
    assert err.value.row == 2501


def test_methylkit_unsorted_real_file_detected() -> None:
    with pytest.raises(InputError) as err:
        read_calls(DATA / "methylkit" / "test1.myCpG.txt", require_sorted=True)
    assert err.value.row == 3  # header is line 1; 9764513 < 9764539


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.txt", "a b c\n")
    with pytest.raises(InputError):
        detect_format(path)
    with pytest.raises(InputError):
        read_calls(tmp_path / "missing.cov")


def _rewrite_bam(src: Path, out: Path, edit: Callable[[int, Any], None]) -> Path:
    """Copy ``src`` to ``out``, calling ``edit(k, read)`` on the k-th record first."""
    with pysam.AlignmentFile(str(src), "rb") as inp, pysam.AlignmentFile(
        str(out), "wb", template=inp
    ) as dst:
        for k, read in enumerate(inp):
            edit(k, read)
            dst.write(read)
    return out


def test_bam_without_xm_tags_is_refused(tmp_path: Path) -> None:
    def drop_xm(k: int, read: Any) -> None:
        if k >= 5:
            read.set_tag("XM", None)

    out = _rewrite_bam(DATA / "bismark" / "mk_se.bam", tmp_path / "noxm.bam", drop_xm)
    with pytest.raises(InputError) as err:
        extract_bam(out)
    assert err.value.row == 6 and err.value.file == str(out)
    assert "XM" in str(err.value)


def test_bam_filters_mapq_and_duplicates(tmp_path: Path) -> None:
    def flag(k: int, read: Any) -> None:
        if k % 4 == 0:
            read.flag |= 0x400
        if k % 4 == 1:
            read.mapping_quality = 3

    src = DATA / "bismark" / "mk_se.bam"
    out = _rewrite_bam(src, tmp_path / "flags.bam", flag)
    all_calls, _ = extract_bam(src)
    from decidua.assays.methylation import ExtractionOptions

    kept, stats = extract_bam(out, ExtractionOptions(min_mapq=10))
    assert stats.reads_filtered == (stats.reads_seen + 3) // 4 + (stats.reads_seen + 2) // 4
    assert kept.coverage.sum() < all_calls.coverage.sum()
    with_dups, _ = extract_bam(out, ExtractionOptions(skip_duplicates=False))
    assert with_dups.coverage.sum() > kept.coverage.sum()


def test_iter_calls_yields_bounded_chunks() -> None:
    path = DATA / "bismark" / "tiny_pe.no_overlap.covered.CX_report.txt.gz"
    chunks = list(iter_calls(path, block_size=4096))
    assert len(chunks) > 10
    assert max(len(c) for c in chunks) <= 4096 // 11 + 2
    assert sum(len(c) for c in chunks) == 4445


def test_coordinate_sorted_bam_streams_sorted_chunks_with_same_counts(tmp_path: Path) -> None:
    from decidua.assays.methylation import BamExtractor

    src = DATA / "bismark" / "tiny_pe_indels.bam"
    srt = tmp_path / "sorted.bam"
    pysam.sort("-o", str(srt), str(src))
    reference, _ = extract_bam(src)
    extractor = BamExtractor(srt, batch_reads=8)
    chunks = list(extractor)
    assert len(chunks) > 5
    merged = MethylationCalls.concat(chunks)
    key = merged.chrom.astype(np.int64) * 10**10 + merged.pos * 2 + (merged.strand < 0)
    assert np.all(np.diff(key) > 0)  # globally sorted, each site emitted once
    assert merged.to_frame().equals(reference.to_frame())
    assert extractor.stats is not None and extractor.stats.pairs == 101


def test_stopping_early_ends_the_reader_thread(tmp_path: Path) -> None:
    import threading

    path = _write(tmp_path / "big.txt", GOOD * 50)
    gen = iter_calls(path, "cytosine_report", block_size=4096)
    first = next(gen)
    assert len(first) > 0
    gen.close()
    names = [t.name for t in threading.enumerate()]
    assert not any(n.startswith("decidua-methylation") for n in names)


def test_name_sorted_bam_spills_sorted_runs_and_merges_them_exactly(tmp_path: Path) -> None:
    """Bounded memory for unsorted input: sorted runs on disk, merged back in order."""
    from decidua.assays.methylation import BamExtractor

    src = DATA / "bismark" / "tiny_pe_indels.bam"
    reference, ref_stats = extract_bam(src)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    extractor = BamExtractor(src, batch_reads=8, spill_sites=200, tmp_dir=spill_dir)
    chunks = list(extractor)
    assert extractor.spilled_runs > 5
    assert len(chunks) > 5
    assert max(len(c) for c in chunks) <= 2 * 200
    merged = MethylationCalls.concat(chunks)
    key = merged.chrom.astype(np.int64) * 10**10 + merged.pos * 2 + (merged.strand < 0)
    assert np.all(np.diff(key) > 0)
    assert merged.to_frame().equals(reference.to_frame())
    assert extractor.stats == ref_stats
    assert list(spill_dir.iterdir()) == []  # temporary runs removed
    partial = iter(BamExtractor(src, batch_reads=8, spill_sites=200, tmp_dir=spill_dir))
    next(partial)
    assert len(list(spill_dir.iterdir())) == 1  # runs on disk while merging
    partial.close()  # type: ignore[attr-defined]
    assert list(spill_dir.iterdir()) == []
