"""`methylation summarize` writes and prints its genome rows without pandas, byte for byte
as pandas does (start-up, issue 10). Reference: pandas itself (``DataFrame.to_csv`` and
``DataFrame.to_string``) on the same rows, random and real."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decidua.cli.methylation import _genome_text
from decidua.services.methylation import SUMMARY_COLUMNS, write_records, write_table

SRC = Path(__file__).resolve().parents[2] / "src"
REPORT = (Path(__file__).resolve().parents[1] / "data" / "methylation" / "bismark"
          / "tiny_pe.no_overlap.covered.CX_report.txt.gz")  # fmt: skip


def _fraction(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.1:
        return math.nan
    if r < 0.2:
        return rng.choice([0.0, 1.0, 0.5, 0.25])
    if r < 0.3:
        return 10 ** -rng.uniform(0, 8)  # below 1e-6 pandas uses exponents: must not differ
    if r < 0.4:
        return round(rng.random(), rng.randint(1, 4))
    return rng.random()


def _records(rng: random.Random, names: list[str]) -> list[dict]:
    rows = []
    for _ in range(rng.randint(1, 9)):
        count = [rng.choice([0, 1, 7, 10**9, rng.randint(0, 10 ** rng.randint(1, 12))])
                 for _ in range(3)]  # fmt: skip
        rows.append({"sample": rng.choice(names), "region": "genome", "chrom": None,
                     "start": None, "end": None, "context": rng.choice(["CG", "CHG", "CA", "ALL"]),
                     "n_sites": count[0], "methylated": count[1], "unmethylated": count[2],
                     "weighted": _fraction(rng), "mean_of_sites": _fraction(rng)})  # fmt: skip
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["chrom"] = pd.Series([pd.NA] * len(df), dtype=object)
    for col in ("start", "end"):
        df[col] = pd.array([pd.NA] * len(df), dtype="Int64")
    for col in ("n_sites", "methylated", "unmethylated"):
        df[col] = df[col].astype(np.int64)
    return df[SUMMARY_COLUMNS]


def test_text_table_is_pandas_to_string_on_random_rows() -> None:
    rng = random.Random(10)
    laid_out = 0
    for _ in range(1500):
        rows = _records(rng, ["s", "members", "bgzip", "a_very_long_sample_name", "x 1"])
        ref = _frame(rows).drop(columns=["region", "chrom", "start", "end"]).to_string(index=False)
        ours = _genome_text(rows)
        if ours is not None:
            laid_out += 1
            assert ours == ref
    assert laid_out > 300  # the common case is laid out here, not handed to pandas


def test_text_table_hands_unusual_values_to_pandas() -> None:
    row = _records(random.Random(1), ["s"])[:1]
    assert _genome_text([{**row[0], "weighted": 1e-9}]) is None
    assert _genome_text([{**row[0], "sample": "tab\there"}]) is None
    assert _genome_text([{**row[0], "sample": "é"}]) is None


@pytest.mark.parametrize("name", ["summary.tsv", "summary.csv", "summary.txt"])
def test_records_are_written_as_pandas_writes_them(tmp_path: Path, name: str) -> None:
    rng = random.Random(name)
    for k in range(40):
        rows = _records(rng, ["s", 'quo"te', "com,ma", "tab\tsample", "é"])
        ours, ref = tmp_path / f"ours{k}" / name, tmp_path / f"ref{k}" / name
        write_records(rows, SUMMARY_COLUMNS, ours, sep="," if name.endswith(".csv") else "\t")
        write_table(_frame(rows), ref)
        assert ours.read_bytes() == ref.read_bytes()


def test_genome_only_summary_loads_no_pandas_and_matches_the_table(tmp_path: Path) -> None:
    out = tmp_path / "s.tsv"
    code = (
        "import sys\n"
        "from decidua.cli import app\n"
        "try:\n"
        f"    app(['methylation', 'summarize', {str(REPORT)!r}, '--context', "
        f"'CG,CHG,CHH,CA,CC,CT', '-o', {str(out)!r}], prog_name='decidua')\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "sys.stderr.write('\\nLOADED ' + str(sorted(m for m in ('pandas', 'pyarrow') "
        "if m in sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr.rsplit("LOADED ", 1)[1] == "[]"
    # the same run tabled by pandas (the summary's DataFrame) writes the same bytes and text
    from decidua.services.methylation import summarize_files

    run = summarize_files([REPORT], context="CG,CHG,CHH,CA,CC,CT")
    ref = tmp_path / "ref.tsv"
    write_table(run.table, ref)
    assert out.read_bytes() == ref.read_bytes()
    text = (
        run.genome_rows().drop(columns=["region", "chrom", "start", "end"]).to_string(index=False)
    )
    assert r.stdout.startswith(text + "\n")
    records = [{k: v for k, v in rec.items() if k not in ("chrom", "start", "end")}
               for rec in run.genome_records()]  # fmt: skip
    frame = run.genome_rows().drop(columns=["chrom", "start", "end"])
    assert json.dumps(records) == json.dumps(frame.to_dict(orient="records"), default=float)


def test_progress_is_drawn_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal (pipes, CI, the benchmark) and with --json no Rich progress is made;
    on a terminal the spinner is Rich's, and both accept the same calls."""
    from decidua.cli import methylation as cli_meth
    from decidua.cli.output import err_console

    monkeypatch.setattr(type(err_console.rich), "is_terminal", property(lambda self: False))
    assert isinstance(cli_meth._progress(False), cli_meth._NoProgress)
    monkeypatch.setattr(type(err_console.rich), "is_terminal", property(lambda self: True))
    assert isinstance(cli_meth._progress(True), cli_meth._NoProgress)
    from rich.progress import Progress

    bar = cli_meth._progress(False)
    assert isinstance(bar, Progress)
    for p in (bar, cli_meth._NoProgress()):
        with p:
            p.update(p.add_task("s1", total=None, unit="rows"), completed=5)
