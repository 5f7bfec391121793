"""Methylation use cases on Bismark's own test outputs (tests/data/methylation/bismark):
totals must equal Bismark's splitting report for the same BAM (CpG 1,040 methylated,
322 unmethylated; CHH 39 / 1,914)."""

from __future__ import annotations

from pathlib import Path

import pytest

from decidua.errors import InputError
from decidua.services import methylation as svc

BISMARK = Path(__file__).resolve().parents[1] / "data" / "methylation" / "bismark"
REPORT = BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz"


def test_summarize_files_matches_bismark_and_warns_about_foreign_regions(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("chrZ\t0\t100\tz\n")
    ticks: list[int] = []
    run = svc.summarize_files([REPORT], context="CG,CHH", sample_names="s1",
                              regions=svc.RegionOptions(regions=bed),
                              progress=lambda sample, unit: ticks.append)  # fmt: skip
    g = run.genome_rows().set_index("context")
    assert (g.loc["CG", "methylated"], g.loc["CG", "unmethylated"]) == (1040, 322)
    assert (g.loc["CHH", "methylated"], g.loc["CHH", "unmethylated"]) == (39, 1914)
    assert list(run.table.columns) == svc.SUMMARY_COLUMNS and set(run.table["sample"]) == {"s1"}
    assert ticks and ticks == sorted(ticks)  # rows read so far, growing
    assert len(run.warnings) == 1 and "chrZ" in run.warnings[0]
    assert list(run.matrix().columns) == ["sample", "z|CG", "z|CHH"]


def test_summary_without_regions_is_tallied_and_equals_the_column_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No regions, genome or strand merging: the report is summed as it is parsed
    (readers.iter_tallies), with Bismark's totals and every number of the column path."""
    from decidua.assays.methylation import iter_calls, readers, summarize

    used: list[Path] = []
    real = readers.iter_tallies

    def spy(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(readers, "iter_tallies", spy)
    contexts = ("CG", "CHG", "CHH", "CA", "CC", "CT")
    run = svc.summarize_files([REPORT], context=",".join(contexts), sample_names="s1")
    assert used == [REPORT]
    g = run.genome_rows().set_index("context")
    assert (g.loc["CG", "methylated"], g.loc["CG", "unmethylated"]) == (1040, 322)
    assert (g.loc["CHH", "methylated"], g.loc["CHH", "unmethylated"]) == (39, 1914)
    ref = summarize(iter_calls(REPORT), contexts)
    got = run.summaries["s1"]
    assert (got.rows_read, got.covered_sites, got.chromosomes) == (
        ref.rows_read, ref.covered_sites, ref.chromosomes)
    assert all(got.global_sums[c] == ref.global_sums[c] for c in contexts)


def test_bad_options_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--sample-names needs 1"):
        svc.summarize_files([REPORT], sample_names="a,b")
    with pytest.raises(InputError, match="--chrom-sizes"):
        svc.summarize_files([REPORT], regions=svc.RegionOptions(bins=1000))
    with pytest.raises(InputError, match="carries no cytosine context"):
        svc.summarize_files([BISMARK / "tiny_pe.no_overlap.CX.bismark.cov.gz"], context="CG")


def test_bam_options_are_declared_once() -> None:
    from decidua.cli import load_command

    group = load_command("methylation")

    def options(name: str) -> dict[str, tuple]:
        return {p.opts[0]: (p.help, p.default) for p in group.commands[name].params
                if p.opts[0] in {"--min-mapq", "--keep-duplicates", "--include-overlap",
                                 "--ignore", "--ignore-r2", "--ignore-3prime",
                                 "--ignore-3prime-r2"}}  # fmt: skip

    assert len(options("mbias")) == 7 and options("summarize") == options("mbias")
