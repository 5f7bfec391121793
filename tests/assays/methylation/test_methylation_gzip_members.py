"""gzip members: any split of a CX report into members (and bgzip) reads exactly as the plain file.

Data: Bismark's own CX report of its ``tiny_pe`` test BAM (4,445 rows, two
chromosomes, in ``tests/data/methylation/bismark``). References: the plain
file read by the same engine and by the independent Arrow engine; for
truncations, Python's ``zlib`` inflating member by member (not ISA-L).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest
from gzip_helpers import zlib_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decidua.assays.methylation import read_calls, summarize
from decidua.assays.methylation.calls import MethylationCalls
from decidua.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
TEXT = gzip.decompress(
    (DATA / "bismark" / "tiny_pe.no_overlap.covered.CX_report.txt.gz").read_bytes())
FIELDS = ("chrom", "pos", "strand", "context", "trinucleotide", "methylated", "unmethylated")
CONTEXTS = ("CG", "CHG", "CHH", "CA", "CC", "CT")


def _same(a: MethylationCalls, b: MethylationCalls) -> bool:
    return a.chrom_names == b.chrom_names and all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MethylationCalls]:
    path = tmp_path_factory.mktemp("plain") / "r.CX_report.txt"
    path.write_bytes(TEXT)
    calls = read_calls(path, "cytosine_report", engine="fast")
    assert len(calls) == 4445 == TEXT.count(b"\n")
    assert _same(calls, read_calls(path, "cytosine_report", engine="arrow"))
    return path, calls


def _members(cuts: list[int], levels: list[int]) -> bytes:
    bounds = [0, *sorted(cuts), len(TEXT)]
    return b"".join(gzip.compress(TEXT[a:b], compresslevel=levels[i % len(levels)])
                    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)))


_zlib_prefix = zlib_prefix


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, len(TEXT)), max_size=12),
       levels=st.lists(st.integers(0, 9), min_size=1, max_size=4),
       block_size=st.sampled_from([64, 1000, 4096, 1 << 16, 8 << 20]))
def test_any_member_split_reads_as_the_plain_file(tmp_path: Path, plain: tuple,
                                                  cuts: list[int], levels: list[int],
                                                  block_size: int) -> None:
    """Members cut anywhere (mid-line, empty members, stored blocks), any block size."""
    path = tmp_path / "m.CX_report.txt.gz"
    path.write_bytes(_members(cuts, levels))
    got = read_calls(path, "cytosine_report", engine="fast", block_size=block_size)
    assert _same(got, plain[1])


def test_bgzip_and_members_give_the_plain_summary_exactly(tmp_path: Path, plain: tuple) -> None:
    """Totals of every context (CG, CHG, CHH, CA, CC, CT) are identical, not just close."""
    bgz = tmp_path / "r.CX_report.txt.gz"
    pysam.tabix_compress(str(plain[0]), str(bgz), force=True)
    assert bgz.read_bytes().count(b"\x1f\x8b\x08\x04") > 2  # several BGZF blocks
    multi = tmp_path / "m.CX_report.txt.gz"
    multi.write_bytes(_members([len(TEXT) // 3, 2 * len(TEXT) // 3], [1, 6]))
    from decidua.assays.methylation import iter_calls

    ref = summarize(iter_calls(plain[0], "cytosine_report", engine="arrow"), CONTEXTS)
    for path in (bgz, multi):
        for block_size in (4096, 8 << 20):
            got = summarize(iter_calls(path, "cytosine_report", block_size=block_size),
                            CONTEXTS)
            assert got.rows_read == ref.rows_read == 4445
            for c in CONTEXTS:
                assert np.array_equal(got.global_sums[c], ref.global_sums[c]), (path.name, c)


@pytest.mark.parametrize("kind", ["members", "bgzip"])
@pytest.mark.parametrize("fraction", [0.35, 0.8])
def test_truncated_multi_member_names_the_first_incomplete_line(
        tmp_path: Path, plain: tuple, kind: str, fraction: float) -> None:
    if kind == "bgzip":
        full = tmp_path / "full.gz"
        pysam.tabix_compress(str(plain[0]), str(full), force=True)
        data = full.read_bytes()
    else:
        data = _members([len(TEXT) // 4, len(TEXT) // 2, 3 * len(TEXT) // 4], [6])
    cut = data[: int(len(data) * fraction)]
    complete = _zlib_prefix(cut).count(b"\n")
    assert 0 < complete < 4445
    path = tmp_path / "cut.CX_report.txt.gz"
    path.write_bytes(cut)
    for block_size in (4096, 8 << 20):
        with pytest.raises(InputError) as err:
            read_calls(path, "cytosine_report", engine="fast", block_size=block_size)
        assert err.value.file == str(path)
        assert err.value.row == complete + 1
        assert "truncated" in str(err.value)


def test_corrupt_second_member_is_an_error_naming_the_file(tmp_path: Path) -> None:
    first = gzip.compress(TEXT[:20000])
    second = bytearray(gzip.compress(TEXT[20000:]))
    second[len(second) // 2] ^= 0xFF
    path = tmp_path / "bad.CX_report.txt.gz"
    path.write_bytes(first + bytes(second))
    with pytest.raises(InputError) as err:
        read_calls(path, "cytosine_report", engine="fast")
    assert err.value.file == str(path)
    assert err.value.row is not None and err.value.row > TEXT[:20000].count(b"\n")


def test_reading_a_text_file_loads_no_pandas_pyarrow_or_pysam(plain: tuple) -> None:
    """Start-up: the parser (numba) is loaded once a file is read; pandas, pyarrow, pysam never."""
    code = (
        "import sys\n"
        "from decidua.assays.methylation import ExtractionOptions, iter_calls, summarize\n"
        "from decidua.assays.methylation.readers import known_annotation\n"
        "heavy = ('pandas', 'pyarrow', 'numba', 'pysam', 'scipy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        f"s = summarize(iter_calls({str(plain[0])!r}), ('CG', 'CA'))\n"
        "print(s.rows_read, sorted(m for m in heavy[:4] if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    assert out[0] == "[]"
    assert out[1] == "4445 ['numba']"


def test_parser_start_up_skips_scipy_linalg_and_numba_blas_still_works() -> None:
    """numba's array-math registry loads without scipy.linalg; np.dot in numba code still runs."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from decidua.assays.methylation import _fastparse as fp\n"
        "z = np.zeros(4, np.int64)\n"
        "fp.context_table(np.zeros(4, np.uint8), np.zeros(4, np.uint8), z, z, 1)\n"
        "print('scipy.linalg' in sys.modules)\n"
        "import numba.np.arraymath as am\n"
        "from numba import njit\n"
        "dot = njit(lambda a, b: np.dot(a, b))\n"
        "a = np.arange(12.0).reshape(3, 4)\n"
        "print(am._HAVE_BLAS, np.allclose(dot(a, a.T), a @ a.T))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    assert out == ["False", "True True"]
