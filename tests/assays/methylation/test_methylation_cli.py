"""`decidua methylation …` through Typer's CliRunner on the Bismark test files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from decidua.cli import app

runner = CliRunner()
DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
BISMARK = DATA / "bismark"


def test_summarize_bam_and_report_agree(tmp_path: Path, ecoli_fasta: Path) -> None:  # type: ignore[no-untyped-def]
    bed = tmp_path / "r.bed"
    bed.write_text("Ecoli_K12\t0\t2000000\tleft\nEcoli_K12\t2000000\t4686137\tright\n")
    out = tmp_path / "s.tsv"
    matrix = tmp_path / "m.tsv"
    result = runner.invoke(app, [
        "methylation", "summarize", str(BISMARK / "tiny_pe_bismark.bam"),
        str(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz"),
        "--genome", str(ecoli_fasta), "--regions", str(bed), "--context", "CA,CG,CHH",
        "--out", str(out), "--matrix", str(matrix),
    ])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t")
    a = table[table["sample"] == "tiny_pe_bismark"].drop(columns="sample").reset_index(drop=True)
    b = table[table["sample"] != "tiny_pe_bismark"].drop(columns="sample").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    cg = a[(a.region == "genome") & (a.context == "CG")].iloc[0]
    assert (cg.methylated, cg.unmethylated) == (1040, 322)  # Bismark splitting report
    lr = a[(a.region != "genome") & (a.context == "CG")]
    assert lr.methylated.sum() == 1040
    m = pd.read_csv(matrix, sep="\t")
    assert list(m.columns[:3]) == ["sample", "left|CA", "right|CA"]


def test_summarize_json_and_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    result = runner.invoke(app, ["methylation", "summarize",
                                 str(BISMARK / "tiny_pe.no_overlap.CX.bismark.cov.gz"),
                                 "--context", "CG,CH", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["context"] for r in rows] == ["CG", "CH"]
    assert rows[0]["methylated"] == 0  # coverage file: no context without --genome
    bad = tmp_path / "bad.cov"
    bad.write_text("chr1\t5\t5\t50\t1\n")
    result = runner.invoke(app, ["methylation", "summarize", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert "bad.cov" in result.output and "row 1" in result.output


def _write_summary(tmp_path: Path, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    rows = []
    samples = [f"ctl{i}" for i in range(5)] + [f"rpl{i}" for i in range(5)]
    for s in samples:
        for r in range(30):
            p = 0.06 if (s.startswith("ctl") or r >= 5) else 0.02
            n = 400
            m = rng.binomial(n, p)
            rows.append({"sample": s, "region": f"ca{r}", "chrom": "c", "start": r, "end": r + 1,
                         "context": "CA", "n_sites": 10, "methylated": m,
                         "unmethylated": n - m, "weighted": m / n, "mean_of_sites": m / n})
    table = tmp_path / "summary.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    groups = tmp_path / "groups.csv"
    pd.DataFrame({"sample": samples, "group": ["control"] * 5 + ["rpl"] * 5}).to_csv(
        groups, index=False)
    return table, groups


def test_compare_and_score_commands(tmp_path: Path) -> None:
    table, groups = _write_summary(tmp_path, 3)
    out = tmp_path / "dmr.tsv"
    result = runner.invoke(app, ["methylation", "compare", str(table), "--groups", str(groups),
                                 "--context", "CpA", "--group-1", "rpl", "--group-2", "control",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    dmr = pd.read_csv(out, sep="\t")
    top5 = set(dmr.sort_values("p_value").region.head(5))
    assert top5 == {f"ca{i}" for i in range(5)}
    assert (dmr.set_index("region").loc[list(top5), "difference"] < 0).all()
    result = runner.invoke(app, ["methylation", "score", str(table), "--groups", str(groups),
                                 "--context", "CA", "--json"])
    assert result.exit_code == 0, result.output
    scores = pd.DataFrame(json.loads(result.output)).set_index("sample")
    assert scores.loc[[f"rpl{i}" for i in range(5)], "score"].max() < scores.loc[
        [f"ctl{i}" for i in range(5)], "score"].min()


def test_sample_names_option(tmp_path: Path) -> None:
    out = tmp_path / "s.tsv"
    args = ["methylation", "summarize", str(BISMARK / "tiny_pe.no_overlap.CX.bismark.cov.gz"),
            str(BISMARK / "mk_se.CX.bismark.cov.gz"), "--context", "ALL", "--out", str(out)]
    result = runner.invoke(app, [*args, "--sample-names", "S1,S2"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t")
    assert list(table["sample"]) == ["S1", "S2"]
    assert list(table["methylated"]) == [1103, 388]  # totals of the Bismark coverage files
    result = runner.invoke(app, ["methylation", "summarize",
                                 str(DATA / "methylkit" / "generic1.CpG.txt"), "--input-context",
                                 "CG", "--context", "CG", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, sep="\t")["methylated"].tolist() == [155]
    result = runner.invoke(app, [*args, "--sample-names", "S1"])
    assert result.exit_code == 1 and "--sample-names" in result.output


def test_mbias_command_writes_bismark_layout_and_table(tmp_path: Path) -> None:
    txt = tmp_path / "m.M-bias.txt"
    result = runner.invoke(app, ["methylation", "mbias", str(BISMARK / "tiny_pe_bismark.bam"),
                                 "--out", str(txt)])
    assert result.exit_code == 0, result.output
    assert txt.read_text() == (BISMARK / "tiny_pe.no_overlap.M-bias.txt").read_text()
    tsv = tmp_path / "m.tsv"
    result = runner.invoke(app, ["methylation", "mbias", str(BISMARK / "mk_se.bam"),
                                 "--ignore", "3", "--out", str(tsv)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tsv, sep="\t")
    assert set(table["read"]) == {"R1"}
    assert table.loc[table["position"] <= 3, "coverage"].sum() == 0
    assert table["coverage"].sum() > 0
