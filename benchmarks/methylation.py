"""Benchmark: methylation readers and BAM extraction (issue 6).

Work, in one run:

1. A generated Bismark CX report of N rows (default 50,000,000; 50 chromosomes
   × 1,000,000 sorted rows with realistic contexts and counts), plain and
   gzip-compressed (``gzip -1``), written to a temporary folder and deleted
   afterwards.
   * ours: ``decidua.assays.methylation.summarize(iter_calls(...))`` with
     contexts CG, CHG, CHH, CA (read + parse + global summary), in a child
     process so peak RSS is its own;
   * baselines in the same run: ``wc -l FILE`` (reads and scans every byte
     once: the floor for plain text) and ``zcat FILE > /dev/null`` (the floor
     for gzip), and our Arrow-CSV engine;
   * peak RSS is also measured on a 10× smaller file to show it does not grow
     with file size.
   Targets: uncompressed ≥ 5 M rows/s; gzip within 1.5× of zcat.
2. A Bismark paired-end BAM made by repeating the 203 records of Bismark's
   ``tiny_pe_bismark.bam`` (unique read names, shifted positions; name-grouped,
   not coordinate-sorted, as Bismark writes it).
   * ours: ``BamExtractor`` streamed into ``summarize`` (reads/s), and peak
     RSS again on a 10× larger BAM (the unsorted path spills sorted runs to
     disk, so RSS should not grow);
   * baseline: Bismark's Perl ``bismark_methylation_extractor -p --CX
     --bedGraph`` (same per-site output; single core), if found via the
     ``BISMARK_EXTRACTOR`` environment variable or ``PATH``.
   Target: ≥ 2× the Perl extractor.

3. ``decidua methylation summarize --context CG,CHG,CHH,CA,CC,CT`` of a
   9,000,000-row CX report compressed as concatenated gzip members (one
   ``gzip -6`` member per 1,000,000-row chromosome, as ``cat a.gz b.gz``
   makes) and as bgzip (BGZF blocks of 64 KB, htslib via pysam), the whole
   command in a child process (start-up included), against ``zcat FILE |
   wc -l`` on the same file in the same run (issue 10). Wall and CPU time
   (user + system of the child and its children) are both reported: the
   machine is shared, so wall time depends on the load and CPU time shows
   the work. The genome rows of both files must equal those of the plain
   file (counts exact). Target: wall within 1.5x of ``zcat | wc -l``.

Run: .venv/bin/python benchmarks/methylation.py [N_ROWS] [N_BAM_COPIES] [REPEATS]
     .venv/bin/python benchmarks/methylation.py --members [N_ROWS] [REPEATS]   (part 3 only)

The plain and gzip runs and ``zcat`` are repeated REPEATS times (default 3),
interleaved, and the best wall time of each is reported (shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TINY_BAM = REPO / "tests" / "data" / "methylation" / "bismark" / "tiny_pe_bismark.bam"
ROWS_PER_CHROM = 1_000_000


# ----------------------------------------------------------------------------- generation
def _chrom_block(seed: int = 1) -> bytes:
    """1,000,000 sorted CX-report rows for one chromosome, without the chrom column."""
    rng = np.random.default_rng(seed)
    n = ROWS_PER_CHROM
    pos = np.cumsum(rng.integers(1, 5, n))
    strand = np.where(rng.random(n) < 0.5, "+", "-")
    b2 = rng.choice(np.array(list("ACGT")), n, p=[0.3, 0.25, 0.1, 0.35])
    b3 = rng.choice(np.array(list("ACGT")), n)
    ctx = np.where(b2 == "G", "CG", np.where(b3 == "G", "CHG", "CHH"))
    cov = rng.poisson(8, n)
    level = np.where(ctx == "CG", 0.75, 0.03)
    meth = rng.binomial(cov, level)
    tri = np.char.add(np.char.add("C", b2), b3)
    cols = [pos.astype(str), strand, meth.astype(str), (cov - meth).astype(str), ctx, tri]
    lines = cols[0]
    for c in cols[1:]:
        lines = np.char.add(np.char.add(lines, "\t"), c)
    return ("\n".join(lines.tolist()) + "\n").encode()


def make_cx_report(path: Path, n_rows: int) -> int:
    """Write ``n_rows`` (rounded up to whole chromosomes) and return the row count."""
    block = _chrom_block()
    lines = block.split(b"\n")[:-1]
    n_chrom = max(1, -(-n_rows // ROWS_PER_CHROM))
    with open(path, "wb") as fh:
        for k in range(n_chrom):
            prefix = f"chr{k + 1}\t".encode()
            fh.write(prefix + (b"\n" + prefix).join(lines) + b"\n")
    return n_chrom * ROWS_PER_CHROM


def make_bam(path: Path, copies: int) -> int:
    """Repeat the tiny Bismark BAM ``copies`` times (pairs kept adjacent)."""
    import pysam

    n = 0
    with pysam.AlignmentFile(str(TINY_BAM), "rb") as inp:
        records = list(inp)
        header = inp.header
    records = records[:-1]  # drop the orphan read 1 at the end
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for c in range(copies):
            shift = (c * 7919) % 100_000
            for r in records:
                a = pysam.AlignedSegment.from_dict(r.to_dict(), header)
                a.query_name = f"{r.query_name}_{c}"
                a.reference_start = r.reference_start + shift
                a.next_reference_start = r.next_reference_start + shift
                out.write(a)
                n += 1
    return n


# ----------------------------------------------------------------------------- children
def _peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's pages after fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, path: str) -> None:
    from decidua.assays.methylation import BamExtractor, iter_calls, summarize
    from decidua.assays.methylation import _fastparse as fp

    # warm-up: load the compiled parser from numba's cache outside the timing
    warm = np.frombuffer(b"c\t1\t+\t0\t0\tCG\tCGA\n", np.uint8)
    z = np.zeros(4, np.int64)
    fp.parse_block(warm, fp.REPORT_LAYOUT, z, np.zeros(4, np.int8), z.copy(), z.copy(),
                   np.zeros(4, np.uint8), np.zeros(4, np.uint8), z.copy(), z.copy(), z.copy())
    fp.parse_report(np.frombuffer(bytearray(warm), np.uint8), z, np.zeros(4, np.int8),
                    z.copy(), z.copy(), np.zeros(4, np.uint8), np.zeros(4, np.uint8), z.copy(),
                    z.copy(), z.copy(), np.zeros((0, 6, 4)), 1)
    fp.context_table(np.zeros(4, np.uint8), np.zeros(4, np.uint8), z, z, 1)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if mode in ("fast", "arrow"):
        res = summarize(iter_calls(path, "cytosine_report", engine=mode),
                        ("CG", "CHG", "CHH", "CA"))
        work = res.rows_read
    elif mode == "bam":  # streamed into a summary, as `decidua methylation summarize` does
        extractor = BamExtractor(path)
        summarize(extractor, ("CG", "CHG", "CHH"))
        assert extractor.stats is not None
        work = extractor.stats.reads_seen
    else:
        raise SystemExit(f"unknown mode {mode}")
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss = _peak_rss_mb()
    print(json.dumps({"work": work, "wall": wall, "cpu": cpu, "rss_mb": rss}))


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_shell(cmd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - t0


def timed_cpu(cmd: list[str] | str, **kwargs: object) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child and everything it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_members(plain: Path, out: Path, rows_per_member: int = ROWS_PER_CHROM) -> int:
    """Concatenated ``gzip -6`` members of ``rows_per_member`` lines each; returns members."""
    n = 0
    with open(plain, "rb") as src, open(out, "wb") as dst:
        while True:
            lines = [line for _, line in zip(range(rows_per_member), src, strict=False)]
            if not lines:
                return n
            dst.write(subprocess.run(["gzip", "-6", "-c"], input=b"".join(lines), check=True,
                                     capture_output=True).stdout)
            n += 1


def _genome_counts(tsv: Path) -> list[tuple[str, ...]]:
    rows = [line.split("\t") for line in tsv.read_text().splitlines()]
    head = rows[0]
    keep = [head.index(c) for c in ("context", "n_sites", "methylated", "unmethylated")]
    return [tuple(r[i] for i in keep) for r in rows[1:]]


def members_benchmark(n_rows: int = 9_000_000, repeats: int = 3) -> None:
    """Part 3: the summarize command on multi-member gzip and bgzip vs zcat | wc -l."""
    import pysam

    decidua = [sys.executable, "-c", "import sys; from decidua.cli import main; "
               "sys.argv[0] = 'decidua'; sys.exit(main())"]
    contexts = "CG,CHG,CHH,CA,CC,CT"
    with tempfile.TemporaryDirectory(prefix="decidua-meth-members-") as tmp:
        tmpd = Path(tmp)
        plain = tmpd / "bench.CX_report.txt"
        t = time.perf_counter()
        n = make_cx_report(plain, n_rows)
        multi = tmpd / "members.CX_report.txt.gz"
        n_members = make_members(plain, multi)
        bgz = tmpd / "bgzip.CX_report.txt.gz"
        pysam.tabix_compress(str(plain), str(bgz), force=True)
        print(f"generated {n:,} rows ({plain.stat().st_size / 1e6:.0f} MB plain; "
              f"{n_members} gzip members {multi.stat().st_size / 1e6:.0f} MB; bgzip "
              f"{bgz.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
        expected = None
        out = tmpd / "plain.tsv"
        subprocess.run([*decidua, "methylation", "summarize", "--context", contexts, str(plain),
                        "-o", str(out)], check=True, capture_output=True)
        expected = _genome_counts(out)
        # warm-up (numba cache, page cache) outside the timing
        subprocess.run([*decidua, "methylation", "summarize", "--context", contexts, str(bgz),
                        "-o", str(out)], check=True, capture_output=True)
        rows = []
        for label, path in (("gzip members", multi), ("bgzip", bgz)):
            zc, ours = [], []
            for _ in range(repeats):  # interleaved: both see the same load
                zc.append(timed_cpu(f"zcat {path} | wc -l > /dev/null", shell=True))
                res = tmpd / f"{path.stem}.tsv"
                ours.append(timed_cpu([*decidua, "methylation", "summarize", "--context",
                                       contexts, str(path), "-o", str(res)],
                                      capture_output=True))
                if _genome_counts(res) != expected:
                    raise SystemExit(f"{label}: totals differ from the plain file's")
            print(f"{label} repeats (wall/cpu s): zcat|wc "
                  + " ".join(f"{w:.2f}/{c:.2f}" for w, c in zc) + " | ours "
                  + " ".join(f"{w:.2f}/{c:.2f}" for w, c in ours)
                  + f" | load {os.getloadavg()[0]:.1f}", flush=True)
            rows.append((label, min(zc), min(ours), min(c for _, c in zc),
                         min(c for _, c in ours)))
    print()
    print(f"{'summarize --context ' + contexts:44s} {'zcat|wc s':>9s} {'ours s':>7s} "
          f"{'ratio':>6s} {'zcat|wc cpu':>11s} {'ours cpu':>8s} {'cpu ratio':>9s}")
    for label, (zw, _), (ow, _), zcpu, ocpu in rows:
        print(f"{label + f' ({n:,} rows)':44s} {zw:9.2f} {ow:7.2f} {ow / zw:6.2f} "
              f"{zcpu:11.2f} {ocpu:8.2f} {ocpu / zcpu:9.2f}")
    print("best of the repeats (wall and CPU each); totals equal the plain file's; "
          "target wall ratio <= 1.5")
    print(f"load average during run: {os.getloadavg()}")


def find_perl_extractor() -> str | None:
    env = os.environ.get("BISMARK_EXTRACTOR")
    if env and Path(env).exists():
        return env
    return shutil.which("bismark_methylation_extractor")


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description="Methylation readers (CX report plain/gzip vs wc/zcat) and XM-tag BAM "
        "extraction (vs Bismark's Perl extractor when installed), in one run."
    )
    parser.add_argument("n_rows", nargs="?", type=int, default=50_000_000,
                        help="rows of the generated CX report (default 50,000,000)")
    parser.add_argument("copies", nargs="?", type=int, default=500,
                        help="copies of Bismark's tiny BAM in the generated BAM (default 500)")
    parser.add_argument("repeats", nargs="?", type=int, default=3,
                        help="interleaved repeats; best of N is reported (default 3)")
    args = parser.parse_args()
    n_rows, copies, repeats = args.n_rows, args.copies, args.repeats
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="decidua-meth-bench-") as tmp:
        tmpd = Path(tmp)
        plain = tmpd / "bench.CX_report.txt"
        small = tmpd / "small.CX_report.txt"
        t = time.perf_counter()
        n = make_cx_report(plain, n_rows)
        n_small = make_cx_report(small, max(n // 10, ROWS_PER_CHROM))
        gz = tmpd / "bench.CX_report.txt.gz"
        subprocess.run(f"gzip -1 -c {plain} > {gz}", shell=True, check=True)
        size_gb = plain.stat().st_size / 1e9
        print(f"generated {n:,} rows ({size_gb:.2f} GB plain, {gz.stat().st_size / 1e9:.2f} GB "
              f"gzip) in {time.perf_counter() - t:.0f} s", flush=True)

        cat = timed_shell(f"wc -l {plain} > /dev/null")
        # interleaved repeats on a shared machine: best of N for ours and for zcat alike
        zcats, plains, gzs = [], [], []
        for _ in range(repeats):
            zcats.append(timed_shell(f"zcat {gz} > /dev/null"))
            plains.append(run_child("fast", plain))
            gzs.append(run_child("fast", gz))
        print("repeats (wall s): zcat " + " ".join(f"{z:.1f}" for z in zcats)
              + " | ours plain " + " ".join(f"{r['wall']:.1f}" for r in plains)
              + " | ours gzip " + " ".join(f"{r['wall']:.1f}" for r in gzs)
              + f" | load {os.getloadavg()[0]:.1f}", flush=True)
        zcat = min(zcats)
        fast_plain = dict(min(plains, key=lambda r: r["wall"]),
                          rss_mb=max(r["rss_mb"] for r in plains))
        fast_gz = dict(min(gzs, key=lambda r: r["wall"]), rss_mb=max(r["rss_mb"] for r in gzs))
        arrow_plain = run_child("arrow", plain)
        fast_small = run_child("fast", small)
        rows_out += [
            ("CX plain, ours (fast engine)", fast_plain, f"wc -l {cat:.1f} s", fast_plain["wall"]
             / cat),
            ("CX plain, ours (arrow engine)", arrow_plain, f"wc -l {cat:.1f} s",
             arrow_plain["wall"] / cat),
            ("CX gzip, ours (fast engine)", fast_gz, f"zcat {zcat:.1f} s", fast_gz["wall"] / zcat),
            (f"CX plain {n_small:,} rows (RSS check)", fast_small, "-", float("nan")),
        ]

        bam = tmpd / "bench_pe.bam"
        n_reads = make_bam(bam, copies)
        ours_bam = run_child("bam", bam)
        perl = find_perl_extractor()
        perl_s = None
        if perl:
            outdir = tmpd / "perl_out"
            outdir.mkdir()
            perl_s = timed_shell(f"perl {perl} -p --CX --bedGraph -o {outdir} {bam} "
                                 f"> {tmpd / 'perl.log'} 2>&1")
        rows_out.append((f"BAM {n_reads:,} reads, ours", ours_bam,
                         f"Perl extractor {perl_s:.1f} s" if perl_s else "Perl not found",
                         ours_bam["wall"] / perl_s if perl_s else float("nan")))
        bam.unlink()
        big_bam = tmpd / "bench_pe_big.bam"
        n_big = make_bam(big_bam, copies * 10)
        ours_big = run_child("bam", big_bam)
        rows_out.append((f"BAM {n_big:,} reads, ours (RSS check)", ours_big, "-",
                         float("nan")))

    print()
    print(f"{'work':44s} {'items':>12s} {'ours s':>8s} {'cpu s':>7s} {'items/s':>12s} "
          f"{'peak RSS MB':>11s}  {'baseline (same run)':24s} {'ratio':>6s}")
    for name, r, base, ratio in rows_out:
        print(f"{name:44s} {r['work']:12,d} {r['wall']:8.1f} {r['cpu']:7.1f} "
              f"{r['work'] / r['wall']:12,.0f} {r['rss_mb']:11.0f}  {base:24s} {ratio:6.2f}")
    print()
    plain_rate = fast_plain["work"] / fast_plain["wall"]
    print(f"targets: plain CX >= 5,000,000 rows/s (measured {plain_rate:,.0f});"
          f" gzip / zcat <= 1.5 (measured {fast_gz['wall'] / zcat:.2f});"
          f" BAM ours/Perl time <= 0.5 (measured "
          f"{(ours_bam['wall'] / perl_s) if perl_s else float('nan'):.2f})")
    print(f"load average during run: {os.getloadavg()}")
    print()
    members_benchmark(9_000_000, repeats)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--members":
        members_benchmark(*(int(a) for a in sys.argv[2:4]))
    else:
        main()
