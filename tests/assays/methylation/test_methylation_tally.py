"""The tally path (``iter_tallies``) and the written-out report kernel (``parse_report``).

References, independent of the code under test: the generic layout-driven
kernel ``parse_block`` (the one the Arrow engine has been checked against
since issue 6), the summary of the same file read into columns by
``iter_calls`` (and by the Arrow engine), and Python's ``zlib`` for where a
cut gzip stream ends. Data: Bismark's own CX report of its ``tiny_pe`` test
BAM (4,445 rows, one chromosome), split into gzip members anywhere, and
random / malformed lines from hypothesis.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pysam
import pytest
from gzip_helpers import zlib_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decidua.assays.methylation import ContextTally, iter_calls, iter_tallies, summarize
from decidua.assays.methylation import _fastparse as fp
from decidua.assays.methylation.summaries import SummaryAccumulator
from decidua.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
TEXT = gzip.decompress(
    (DATA / "bismark" / "tiny_pe.no_overlap.covered.CX_report.txt.gz").read_bytes())
CONTEXTS = ("CG", "CHG", "CHH", "CA", "CC", "CT", "CH", "ALL")


def _kernels(text: bytes) -> tuple[tuple, tuple]:
    """(parse_block with REPORT_LAYOUT, parse_report) on ``text``: results and columns."""
    buf = np.frombuffer(bytearray(text), np.uint8)
    cap = len(buf) // fp.MIN_LINE_BYTES + 1
    out = []
    for which in ("block", "report"):
        cols = [np.zeros(cap, np.int64), np.zeros(cap, np.int8), np.zeros(cap, np.int64),
                np.zeros(cap, np.int64), np.zeros(cap, np.uint8), np.zeros(cap, np.uint8)]
        runs = [np.zeros(cap, np.int64) for _ in range(3)]
        if which == "block":
            res = fp.parse_block(buf, fp.REPORT_LAYOUT, *cols, *runs)
        else:
            res = fp.parse_report(buf, *cols, *runs, np.empty((0, 6, 4)), 1)
        n, k = res[0], res[1]
        out.append((tuple(res), [c[:n].tolist() for c in cols], [r[:k].tolist() for r in runs]))
    return out[0], out[1]


def test_parse_report_equals_parse_block_on_bismark_report() -> None:
    a, b = _kernels(TEXT)
    assert a == b
    assert a[0] == (4445, 1, 4445, fp.ERR_NONE, -1)


_FIELD = st.one_of(
    st.sampled_from(["chr1", "chr2", "", "c\r", "12", "-3", "+", "-", "CG", "CHG", "CHH",
                     "CGA", "CTT", "CA", "X", "1a", "007", "\r", "-", "--1"]),
    st.integers(-5, 10**6).map(str),
)
_LINE = st.one_of(
    st.tuples(st.sampled_from(["chr1", "chr2", "chrM"]), st.integers(0, 10**9),
              st.sampled_from(["+", "-"]), st.integers(0, 500), st.integers(0, 500),
              st.sampled_from(["CG", "CHG", "CHH", "N", "CGX"]),
              st.sampled_from(["CGA", "CAT", "CTG", "CCN", "NNN", "CG", "", "CGA\r"]))
    .map(lambda f: "\t".join(map(str, f))),
    st.lists(_FIELD, min_size=0, max_size=9).map("\t".join),
)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=12), crlf=st.booleans())
def test_parse_report_equals_parse_block_on_random_and_malformed_lines(
        lines: list[str], crlf: bool) -> None:
    """Same rows, runs, line count, error code and error column, well-formed or not."""
    text = (("\r\n" if crlf else "\n").join(lines) + "\n").encode()
    a, b = _kernels(text)
    assert a == b


def test_tally_mode_sums_as_context_table(tmp_path: Path) -> None:
    buf = np.frombuffer(bytearray(TEXT), np.uint8)
    cap = len(buf) // fp.MIN_LINE_BYTES + 1
    cols = [np.zeros(cap, np.int64), np.zeros(cap, np.int8), np.zeros(cap, np.int64),
            np.zeros(cap, np.int64), np.zeros(cap, np.uint8), np.zeros(cap, np.uint8)]
    runs = [np.zeros(cap, np.int64) for _ in range(3)]
    for min_cov in (1, 3):
        fp.parse_report(buf, *cols, *runs, np.empty((0, 6, 4)), 1)
        pos, strand, meth, unmeth, ctx, tri = (c[:4445] for c in cols)
        ref = fp.context_table(ctx, tri, meth, unmeth, min_cov)
        table = np.zeros((4, 6, 4))
        empty = np.empty(0, np.int64)
        res = fp.parse_report(buf, empty, np.empty(0, np.int8), empty, empty,
                              np.empty(0, np.uint8), np.empty(0, np.uint8), *runs, table,
                              min_cov)
        assert res[0] == 4445
        assert np.array_equal(table, ref)
        # every site of the tiny BAM has coverage 1
        assert (ref[:, :, 0].sum() > 0) == (min_cov == 1)


def _members(cuts: list[int]) -> bytes:
    bounds = [0, *sorted(cuts), len(TEXT)]
    return b"".join(gzip.compress(TEXT[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))


def _same_summary(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.rows_read == b.rows_read
    assert a.covered_sites == b.covered_sites
    assert a.unknown_sites == b.unknown_sites
    assert a.chromosomes == b.chromosomes
    for c in a.contexts:
        assert np.array_equal(a.global_sums[c], b.global_sums[c]), c


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, len(TEXT)), max_size=15),
       block_size=st.sampled_from([64, 1000, 4096, 1 << 16, 8 << 20]),
       min_cov=st.sampled_from([1, 2, 5]))
def test_tallies_summarise_exactly_as_calls_for_any_member_split(
        tmp_path: Path, cuts: list[int], block_size: int, min_cov: int) -> None:
    """Many small members, empty members, member boundaries inside lines, any block size."""
    path = tmp_path / "m.CX_report.txt.gz"
    path.write_bytes(_members(cuts))
    got = summarize(iter_tallies(path, block_size=block_size, min_coverage=min_cov), CONTEXTS,
                    min_coverage=min_cov)
    ref = summarize(iter_calls(path, "cytosine_report", engine="arrow"), CONTEXTS,
                    min_coverage=min_cov)
    _same_summary(got, ref)
    assert got.rows_read == 4445
    assert got.chromosomes == ("Ecoli_K12",)


def test_tallies_of_bgzip_and_plain_file_equal_the_column_path(tmp_path: Path) -> None:
    plain = tmp_path / "r.CX_report.txt"
    plain.write_bytes(TEXT)
    bgz = tmp_path / "r.CX_report.txt.gz"
    pysam.tabix_compress(str(plain), str(bgz), force=True)
    ref = summarize(iter_calls(plain, "cytosine_report"), CONTEXTS)
    for path in (plain, bgz):
        _same_summary(summarize(iter_tallies(path, block_size=4096), CONTEXTS), ref)


def _zlib_lines(data: bytes) -> int:
    return zlib_prefix(data).count(b"\n")


@pytest.mark.parametrize("fraction", [0.3, 0.75])
def test_truncated_members_through_tallies_name_file_and_first_incomplete_line(
        tmp_path: Path, fraction: float) -> None:
    data = _members([len(TEXT) // 5 * k for k in range(1, 5)])
    cut = data[: int(len(data) * fraction)]
    path = tmp_path / "cut.CX_report.txt.gz"
    path.write_bytes(cut)
    for block_size in (4096, 8 << 20):
        with pytest.raises(InputError) as err:
            summarize(iter_tallies(path, block_size=block_size), CONTEXTS)
        assert err.value.file == str(path)
        assert err.value.row == _zlib_lines(cut) + 1
        assert "truncated" in str(err.value)


def test_corrupt_member_and_bad_line_through_tallies(tmp_path: Path) -> None:
    second = bytearray(gzip.compress(TEXT[20000:]))
    second[len(second) // 2] ^= 0xFF
    path = tmp_path / "bad.CX_report.txt.gz"
    path.write_bytes(gzip.compress(TEXT[:20000]) + bytes(second))
    with pytest.raises(InputError) as err:
        list(iter_tallies(path))
    assert err.value.file == str(path)
    assert err.value.row is not None and err.value.row > TEXT[:20000].count(b"\n")

    lines = TEXT.split(b"\n")
    lines[100] = lines[100].replace(b"\t+\t", b"\t?\t").replace(b"\t-\t", b"\t?\t")
    lines[200] = b"chr1\t5\t+\t-1\t2\tCG\tCGA"
    bad = tmp_path / "bad.CX_report.txt"
    bad.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as err:
        list(iter_tallies(bad))
    assert (err.value.file, err.value.row, err.value.column) == (str(bad), 101, "strand")


def test_tally_guards(tmp_path: Path) -> None:
    cov = DATA / "bismark" / "tiny_pe.no_overlap.CX.bismark.cov.gz"
    with pytest.raises(InputError, match="cytosine reports"):
        list(iter_tallies(cov))
    tally = ContextTally(np.zeros((4, 6, 4)), 3, ("chr1",), 2)
    with pytest.raises(InputError, match="min_coverage"):
        SummaryAccumulator(("CG",), min_coverage=1).add(tally)
    assert len(tally) == 3


def test_tallies_with_varied_coverage_and_chromosomes(tmp_path: Path) -> None:
    """A generated report (Poisson coverage, three chromosomes, CRLF lines) in 7 members."""
    rng = np.random.default_rng(7)
    n = 30_000
    chrom = np.repeat(["chr1", "chr2", "chrX"], n // 3)
    cov = rng.poisson(4, n)
    meth = rng.binomial(cov, 0.4)
    tri = rng.choice(["CGA", "CAG", "CTT", "CCN", "CNA", "CGN"], n)
    ctx = np.where(np.char.startswith(tri, "CG"), "CG", rng.choice(["CHG", "CHH"], n))
    lines = [f"{c}\t{i + 1}\t{'+-'[i % 2]}\t{m}\t{k - m}\t{x}\t{t}\r"
             for i, (c, k, m, x, t) in enumerate(zip(chrom, cov, meth, ctx, tri, strict=True))]
    text = ("\n".join(lines) + "\n").encode()
    cuts = sorted(rng.integers(0, len(text), 6).tolist())
    bounds = [0, *cuts, len(text)]
    path = tmp_path / "g.CX_report.txt.gz"
    path.write_bytes(b"".join(gzip.compress(text[a:b]) for a, b in zip(bounds, bounds[1:],
                                                                          strict=False)))
    for min_cov in (1, 3):
        got = summarize(iter_tallies(path, block_size=8192, min_coverage=min_cov), CONTEXTS,
                        min_coverage=min_cov)
        ref = summarize(iter_calls(path, "cytosine_report", block_size=8192), CONTEXTS,
                        min_coverage=min_cov)
        _same_summary(got, ref)  # same blocks: bit-identical sums
        arrow = summarize(iter_calls(path, "cytosine_report", engine="arrow"), CONTEXTS,
                          min_coverage=min_cov)
        for c in CONTEXTS:  # other chunks: counts exact, sums of fractions to rounding
            assert np.array_equal(got.global_sums[c][:3], arrow.global_sums[c][:3])
            assert np.isclose(got.global_sums[c][3], arrow.global_sums[c][3], rtol=1e-12)
        assert got.chromosomes == ("chr1", "chr2", "chrX")
        assert got.global_sums["ALL"][0] == int((cov >= min_cov).sum())
