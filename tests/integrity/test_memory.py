"""Memory of an import at the file-size cap is bounded (issue #11, item 13).

A file just under :data:`decidua.io.readers.MAX_FILE_BYTES` (200 MB) holds far
more rows than :data:`decidua.io.importers.MAX_IMPORT_ROWS`; the reader must
stop past the row cap and refuse it, naming the file and the cap, without
holding the file in memory. The import runs through the real CLI in a child
process whose peak resident memory (``ru_maxrss``) is measured; the bound,
500 MB, is the issue's target (before this fix the reader read the whole file
as bytes, then as text, then as rows: well above it).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openpyxl import Workbook

from decidua.errors import InputError
from decidua.io.importers import MAX_IMPORT_ROWS
from decidua.io.readers import MAX_FILE_BYTES, read_table

LIMIT_MB = 500

# The real console entry point in a grandchild; its peak is read as RUSAGE_CHILDREN.
CHILD = textwrap.dedent(
    """
    import resource, subprocess, sys
    cli = "import sys; from decidua.cli import main; sys.argv[0] = 'decidua'; main()"
    res = subprocess.run([sys.executable, "-c", cli, *sys.argv[1:]])
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("MAXRSS_KB", kb, file=sys.stderr)
    sys.exit(res.returncode)
    """
)


def _run_import(db: str, path: Path) -> tuple[int, str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run(
        [sys.executable, "-c", CHILD, "--db", db, "import", "patients", str(path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    kb = int(res.stderr.rsplit("MAXRSS_KB", 1)[1].split()[0])
    return res.returncode, res.stdout + res.stderr, kb / 1024


def _big_csv(path: Path, target_bytes: int) -> int:
    """Patients rows (valid ones) up to ``target_bytes``; returns the number of rows."""
    header = "patient_id,year_of_birth,bmi,ethnicity,study_group,consent_research\n"
    n = 0
    with path.open("w") as fh:
        fh.write(header)
        size = len(header)
        while True:
            block = "".join(
                f"M-{i:08d},1985,22.5,white,rpl,yes\n" for i in range(n, n + 10_000)
            )
            if size + len(block) > target_bytes:
                return n
            fh.write(block)
            size += len(block)
            n += 10_000


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_file_at_the_size_cap_is_refused_in_bounded_memory(db: str, tmp_path: Path) -> None:
    f = tmp_path / "huge.csv"
    n = _big_csv(f, MAX_FILE_BYTES - 1024)
    assert n > 10 * MAX_IMPORT_ROWS and f.stat().st_size > 0.99 * MAX_FILE_BYTES
    code, out, peak_mb = _run_import(db, f)
    print(f"peak RSS {peak_mb:.0f} MB for {f.stat().st_size / 2**20:.0f} MB, {n:,} rows")
    assert code == 1, out
    assert "huge.csv" in out and f"more than {MAX_IMPORT_ROWS:,} data rows" in out, out
    assert "Traceback" not in out
    assert peak_mb < LIMIT_MB, f"peak resident memory {peak_mb:.0f} MB"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_gzip_expanding_far_beyond_the_cap_is_refused_in_bounded_memory(
    db: str, tmp_path: Path
) -> None:
    # 40 MB of rows compress to well under the size cap; it used to be decompressed whole
    plain = tmp_path / "rows.csv"
    n = _big_csv(plain, 40 * 2**20)
    f = tmp_path / "rows.csv.gz"
    with plain.open("rb") as src, gzip.open(f, "wb", compresslevel=1) as dst:
        while block := src.read(1 << 20):
            dst.write(block * 10)  # 400 MB of text, rows repeated (the reader stops first)
    plain.unlink()
    code, out, peak_mb = _run_import(db, f)
    print(f"peak RSS {peak_mb:.0f} MB for a gzip of {f.stat().st_size / 2**20:.0f} MB")
    assert n > MAX_IMPORT_ROWS
    assert code == 1 and "rows.csv.gz" in out and f"more than {MAX_IMPORT_ROWS:,}" in out, out
    assert peak_mb < LIMIT_MB, f"peak resident memory {peak_mb:.0f} MB"


def test_the_row_cap_applies_to_csv_and_xlsx_while_reading(tmp_path: Path) -> None:
    rows = [["EX-1", 1980], ["EX-2", 1981], [None, None], ["EX-3", 1982]]
    c = tmp_path / "p.csv"
    c.write_text("patient_id,year_of_birth\n" + "".join(
        f"{a or ''},{b or ''}\n" for a, b in rows))  # fmt: skip
    wb = Workbook()
    wb.active.append(["patient_id", "year_of_birth"])
    for r in rows:
        wb.active.append(r)
    x = tmp_path / "p.xlsx"
    wb.save(x)
    for f in (c, x):
        # blank rows do not count; exactly at the cap is read, one past it refused
        assert len(read_table(f, max_rows=3).rows) == 3
        assert len(read_table(f).rows) == 3
        with pytest.raises(InputError, match="more than 2 data rows") as err:
            read_table(f, max_rows=2)
        assert err.value.problems[0].file == str(f)
