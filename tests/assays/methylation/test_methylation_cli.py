"""`decidua methylation …` through Typer's CliRunner on the Bismark test files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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


def test_summarize_json_and_bad_input(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.csv"
    cov = BISMARK / "tiny_pe.no_overlap.CX.bismark.cov.gz"
    # a coverage file has no context: refused (it used to report 0 CG sites), naming the fix
    result = runner.invoke(app, ["methylation", "summarize", str(cov), "--context", "CA,CG,CHH",
                                 "--out", str(out)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert cov.name in text and "--genome FASTA" in text and "--assume-context CG" in text
    assert not out.exists()
    # with the plain-gzip reference (as downloaded; htslib cannot index it) contexts are assigned
    capfd.readouterr()
    result = runner.invoke(app, ["methylation", "summarize", str(cov), "--context", "CG,CH,CHH",
                                 "--genome", str(BISMARK / "NC_010473.covered_masked.fa.gz"),
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert "[E::" not in capfd.readouterr().err  # no raw htslib messages
    rows = {r["context"]: r for r in json.loads(result.stdout)}
    # totals of Bismark's splitting report for the same BAM
    assert (rows["CG"]["methylated"], rows["CG"]["unmethylated"]) == (1040, 322)
    assert (rows["CHH"]["methylated"], rows["CHH"]["unmethylated"]) == (39, 1914)
    assert (rows["CH"]["methylated"], rows["CH"]["unmethylated"]) == (24 + 39, 1106 + 1914)
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


def test_assume_context_for_cpg_only_coverage(tmp_path: Path) -> None:
    cov = DATA / "methylkit" / "bismark_coverage_CpG.bed"  # Bismark CpG-only coverage
    raw = pd.read_csv(cov, sep="\t", header=None)
    out = tmp_path / "s.tsv"
    result = runner.invoke(app, ["methylation", "summarize", str(cov), "--assume-context", "CpG",
                                 "--context", "CG,CA,CHH", "--out", str(out)])
    assert result.exit_code == 0, result.output
    t = pd.read_csv(out, sep="\t").set_index("context")
    covered = int(((raw[4] + raw[5]) > 0).sum())
    assert t.loc["CG", "n_sites"] == covered
    assert (t.loc["CG", "methylated"], t.loc["CG", "unmethylated"]) == (raw[4].sum(), raw[5].sum())
    # a CpG is known not to be a CpA or CHH site: 0 is the true count here, not a blind spot
    assert t.loc["CA", "n_sites"] == 0 and t.loc["CHH", "n_sites"] == 0
    result = runner.invoke(app, ["methylation", "summarize", str(cov), "--assume-context", "CHH",
                                 "--context", "CA", "--out", str(out)])
    assert result.exit_code == 1
    assert "base after each C" in result.output and "--genome" in result.output
    result = runner.invoke(app, ["methylation", "summarize", str(cov), "--assume-context", "CXX",
                                 "--out", str(out)])
    assert result.exit_code == 1 and "CXX" in result.output


def test_bam_dinucleotide_needs_genome(tmp_path: Path) -> None:
    result = runner.invoke(app, ["methylation", "summarize", str(BISMARK / "tiny_pe_bismark.bam"),
                                 "--context", "CG,CA", "--out", str(tmp_path / "s.tsv")])
    assert result.exit_code == 1
    assert "tiny_pe_bismark.bam" in result.output and "CA" in result.output


def test_region_table_has_integer_coordinates(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("chrom\tstart\tend\tname\n"  # a column-name header line is skipped
                   "Ecoli_K12\t0\t100000\tleft\nEcoli_K12\t100000\t4686137\tright\n")
    out = tmp_path / "s.tsv"
    result = runner.invoke(app, ["methylation", "summarize",
                                 str(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz"),
                                 "--regions", str(bed), "--context", "CG", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    header = lines[0]
    rows = {r[header.index("region")]: r for r in lines[1:]}
    s, e = header.index("start"), header.index("end")
    assert (rows["left"][s], rows["left"][e]) == ("0", "100000")
    assert (rows["right"][s], rows["right"][e]) == ("100000", "4686137")
    assert (rows["genome"][s], rows["genome"][e]) == ("", "")
    table = pd.read_csv(out, sep="\t")
    assert int(table.loc[table.region != "genome", "methylated"].sum()) == 1040
    pq = tmp_path / "s.parquet"
    result = runner.invoke(app, ["methylation", "summarize",
                                 str(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz"),
                                 "--regions", str(bed), "--context", "CG", "--out", str(pq)])
    assert result.exit_code == 0, result.output
    back = pd.read_parquet(pq)
    assert str(back["start"].dtype) == "Int64" and str(back["end"].dtype) == "Int64"
    assert back["start"].isna().tolist() == [True, False, False]


def test_region_file_problems(tmp_path: Path) -> None:
    report = str(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz")
    out = tmp_path / "s.tsv"
    wrong = tmp_path / "chr.bed"
    wrong.write_text("chr1\t0\t1000\nchr2\t0\t1000\nchr3\t5\t50\n")
    result = runner.invoke(app, ["methylation", "summarize", report, "--regions", str(wrong),
                                 "--context", "CG", "--out", str(out)])
    assert result.exit_code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert "none of the 3 regions" in warning and "chr1" in warning and "Ecoli_K12" in warning
    assert pd.read_csv(out, sep="\t").query("region != 'genome'")["n_sites"].sum() == 0
    empty = tmp_path / "empty.bed"
    empty.write_text("track name=x\n# nothing\n\n")
    result = runner.invoke(app, ["methylation", "summarize", report, "--regions", str(empty),
                                 "--context", "CG", "--out", str(out)])
    assert result.exit_code == 1 and "empty.bed" in result.output
    assert "no intervals" in result.output


def test_compare_refuses_repeated_samples(tmp_path: Path) -> None:
    table, groups = _write_summary(tmp_path, 4)
    result = runner.invoke(app, ["methylation", "compare", str(table), str(table), "--groups",
                                 str(groups), "--context", "CA", "--out", str(tmp_path / "d.tsv")])
    assert result.exit_code == 1 and "repeated" in result.output
    result = runner.invoke(app, ["methylation", "score", str(table), str(table), "--groups",
                                 str(groups), "--context", "CA"])
    assert result.exit_code == 1 and "repeated" in result.output
    result = runner.invoke(app, ["methylation", "score", str(table), "--groups", str(groups),
                                 "--context", "CA", "--reference-group", "ctrl"])
    assert result.exit_code == 1
    assert "'ctrl'" in result.output and "control, rpl" in result.output


def test_sites_the_reference_cannot_place_are_reported(tmp_path: Path) -> None:
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c1\nACNAGCGT\n")  # C2 is followed by N; the bottom-strand C5 by T then N
    cov = tmp_path / "s.bismark.cov"
    cov.write_text("c1\t2\t2\t50\t1\t1\nc1\t5\t5\t100\t3\t0\nc1\t6\t6\t25\t1\t3\n")
    out = tmp_path / "s.tsv"
    result = runner.invoke(app, ["methylation", "summarize", str(cov), "--genome", str(fasta),
                                 "--context", "CG,CA,CT", "--out", str(out)])
    assert result.exit_code == 0, result.output
    t = pd.read_csv(out, sep="\t").set_index("context")
    assert t.loc["CG", ["n_sites", "methylated", "unmethylated"]].tolist() == [1, 1, 3]
    assert t.loc["CT", ["n_sites", "methylated"]].tolist() == [1, 3]  # C5: CpT, context unknown
    assert t.loc["CA", "n_sites"] == 0
    warning = " ".join(result.stderr.split())
    assert "of 3 covered sites" in warning and "CG: 2" in warning and "CA: 1" in warning
    assert "CT: 1" in warning
