"""CFU colony counting: Decidua vs OpenCFU, counts and speed in the same run.

Usage::

    .venv/bin/python benchmarks/cfu.py [--repeat 3] [--overlay-dir DIR]

Work measured (both tools pinned to one CPU core, wall time per image,
best of ``--repeat`` runs):

1. Synthetic 35 mm dishes, 1400 x 1400 px (2.0 MP), at 30 / 150 / 300
   colonies, and a synthetic 6-well plate scanned at 600 dpi (3015 x 2017 px),
   from :func:`decidua.assays.clonogenicity.synthetic.make_plate` (seeded):
   the true count is known, so both tools' errors are printed. OpenCFU gets
   the same minimum colony radius as Decidua (``-r``), so neither counts the
   abortive (< 50-cell) colonies by design; OpenCFU has no multi-well mode
   (``-m auto`` finds one dish), so its 6-well count is not per well. Two
   dishes have what real photographs have: pen writing, a glare spot and a
   lid edge; pale colonies on a dark background (the picture inverted); and
   dense clusters (60 % of 200 colonies placed against another).
2. OpenCFU's own sample photographs (``tests/data/cfu/opencfu``, provenance
   in the README there): counts of both tools and their disagreement.
   Decidua is run with ``min_area_px = pi * 3**2`` to match OpenCFU's default
   minimum radius of 3 px (these are bacterial colonies, not 50-cell
   stromal colonies).

OpenCFU (``opencfu`` on PATH, Debian package) runs in command-line mode
``opencfu -i IMAGE -m auto`` (automatic dish mask, default threshold); its
count is the number of rows with ``IsValid == 1``. Its time includes
process start-up (~tens of ms). If ``opencfu`` is absent the baseline
columns say so and the script still runs.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: no library thread pools

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from decidua.assays.clonogenicity.count import (  # noqa: E402
    count_colonies,
    load_image,
    render_overlay,
)
from decidua.assays.clonogenicity.synthetic import make_plate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "cfu" / "opencfu"
#: OpenCFU's default minimum colony radius (px), ``opencfu -h``.
OPENCFU_MIN_RADIUS_PX = 3


def _opencfu() -> tuple[str, Path] | None:
    exe = shutil.which("opencfu")
    if exe is None:
        return None
    share = Path(exe).resolve().parents[1] / "share" / "opencfu"
    return exe, share if share.is_dir() else Path.cwd()


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_opencfu(tool: tuple[str, Path], image: Path, repeat: int, min_radius: int | None = None,
                cpu: int = 0):
    """Count with OpenCFU; returns (count, best wall s, best CPU s, detections x, y, r)."""
    exe, cwd = tool
    cmd = [exe, "-i", str(image), "-m", "auto"]
    if min_radius is not None:
        cmd += ["-r", str(int(min_radius))]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    best = best_cpu = math.inf
    out = ""
    for _ in range(repeat):
        c0 = _child_cpu()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, _child_cpu() - c0)
        out = proc.stdout
    rows = []
    for line in out.splitlines()[1:]:
        f = line.split(",")
        if len(f) > 7 and f[0] == "1":
            rows.append((float(f[1]), float(f[2]), float(f[7])))
    return len(rows), best, best_cpu, np.array(rows).reshape(-1, 3)


def run_decidua(img: np.ndarray, layout: str, repeat: int, **kw):
    best = best_cpu = math.inf
    res = None
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = count_colonies(img, layout, **kw)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return res, (best, best_cpu)


def _overlay(path: Path, img: np.ndarray, res, ocfu: np.ndarray | None) -> None:
    out = render_overlay(img, res)
    if ocfu is not None:
        for x, y, r in ocfu:  # OpenCFU's colonies as magenta circles
            cv2.circle(out, (int(x), int(y)), int(r) + 3, (255, 0, 255), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), out[..., ::-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--overlay-dir", type=Path, default=None,
                    help="write QC overlays (Decidua outlines + OpenCFU circles in magenta)")
    ap.add_argument("--cpu", type=int, default=0,
                    help="CPU core both tools are pinned to (default 0)")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    cv2.setNumThreads(1)
    print(f"load average at start (1, 5, 15 min): {_load()}; pinned to CPU {args.cpu}")
    tool = _opencfu()
    if tool is None:
        print("opencfu not found on PATH: baseline skipped (apt-get install opencfu)")
    if args.overlay_dir:
        args.overlay_dir.mkdir(parents=True, exist_ok=True)

    header = (f"{'work':40s} {'MP':>4s} {'truth':>5s} {'decidua':>7s} {'opencfu':>7s} "
              f"{'ours s':>7s} {'ocfu s':>7s} {'ratio':>6s} {'ours cpu':>8s} {'ocfu cpu':>8s} "
              f"{'ratio':>6s}")
    print("seconds: best of --repeat runs, wall clock and CPU time; ratio = ours / opencfu")
    print(header)
    print("-" * len(header))
    tmp = Path(tempfile.mkdtemp(prefix="cfu-bench-"))
    # (layout, colonies per well, seed, generator options, label); "inverted"
    # turns the picture into pale colonies on a dark background
    synthetic = [("dish", 30, 1, {}, ""), ("dish", 150, 1, {}, ""), ("dish", 300, 1, {}, ""),
                 ("6-well", 40, 1, {}, ""),
                 ("dish", 60, 4, {"n_writing": 3, "glare": 0.3, "lid": True},
                  " +pen, glare, lid"),
                 ("dish", 60, 5, {"inverted": True}, " pale on dark"),
                 ("dish", 200, 0, {"touching_fraction": 0.6}, " clusters")]
    for layout, n, seed, opts, label in synthetic:
        opts = dict(opts)
        inverted = opts.pop("inverted", False)
        plate = make_plate(layout, n, seed=seed, **opts)
        image = 255 - plate.image if inverted else plate.image
        path = tmp / f"syn_{layout}_{n}_{seed}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        truth = sum(plate.counts().values())
        res, t_ours = run_decidua(image, layout, args.repeat)
        # same minimum colony size for OpenCFU (its -r is a radius in px)
        r_min = round(math.sqrt(res.min_area_px / math.pi))
        oc_n, oc_t, oc_c, oc_xy = (run_opencfu(tool, path, args.repeat, r_min, args.cpu) if tool
                                   else (None, None, None, None))
        _row(f"synthetic {layout} n={n}/well{label}", image, truth, res.total, oc_n, t_ours,
             (oc_t, oc_c))
        if args.overlay_dir:
            _overlay(args.overlay_dir / path.name, image, res, oc_xy)
    for path in sorted(SAMPLES.glob("*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
            continue
        img = load_image(path)
        res, t_ours = run_decidua(img, "dish", args.repeat,
                                  min_area_px=math.pi * OPENCFU_MIN_RADIUS_PX**2)
        oc_n, oc_t, oc_c, oc_xy = (run_opencfu(tool, path, args.repeat, cpu=args.cpu) if tool
                                   else (None, None, None, None))
        _row(f"OpenCFU sample {path.name}", img, None, res.total, oc_n, t_ours, (oc_t, oc_c))
        if args.overlay_dir:
            _overlay(args.overlay_dir / f"{path.stem}.png", img, res, oc_xy)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end (1, 5, 15 min): {_load()}")
    return 0


def _load() -> str:
    """The machine's load average (timings on a shared machine depend on it)."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _row(work, img, truth, ours, ocfu, t_ours, t_ocfu) -> None:
    mp = img.shape[0] * img.shape[1] / 1e6
    cells = []
    for mine, theirs in zip(t_ours, t_ocfu, strict=True):
        ratio = f"{mine / theirs:6.2f}" if theirs else "   n/a"
        their = f"{theirs:7.3f}" if theirs is not None else "    n/a"
        cells.append(f"{mine:7.3f} {their} {ratio}")
    print(f"{work:40s} {mp:4.1f} {truth if truth is not None else '-':>5} {ours:7d} "
          f"{ocfu if ocfu is not None else 'n/a':>7} {cells[0]}  {cells[1]}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
