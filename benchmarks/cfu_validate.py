"""CFU validation on your own photographs: Decidua and OpenCFU against manual counts.

Usage::

    .venv/bin/python benchmarks/cfu_validate.py counts.csv [--min-radius-px 3] [--json]

``counts.csv`` has a header and one row per image: ``image`` (path, relative
to the CSV's folder or absolute), ``manual`` (your count by eye, an integer
>= 0) and optionally ``layout`` (``dish`` by default, or ``6-well`` ... as
``decidua cfu count --layout``; the manual count is then the plate's total).
Each image is counted by Decidua with default settings (or with a minimum
colony radius in pixels, ``--min-radius-px``, e.g. 3 to match OpenCFU's
default on bacterial plates) and by OpenCFU 4 (``opencfu -i IMAGE -m auto``,
rows with IsValid == 1) when ``opencfu`` is on PATH, in the same run. The
table gives both counts, their signed relative errors against the manual
count and, at the end, each tool's median and worst absolute error. An image
that cannot be read or counted is reported on its row (exit code 1 at the
end), never a traceback. Nothing is written besides the output.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from decidua.assays.clonogenicity.count import count_image_file
from decidua.errors import DeciduaError


def read_sheet(path: Path) -> list[dict]:
    """Rows of the validation sheet, checked (file, row and column named on error)."""
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"image", "manual"} - set(reader.fieldnames or [])
            if missing:
                raise SystemExit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            rows = []
            for i, r in enumerate(reader, start=2):
                try:
                    manual = int(str(r["manual"]).strip())
                except ValueError:
                    raise SystemExit(f"{path}: row {i}, column manual: not an integer "
                                     f"({r['manual']!r})") from None
                if manual < 0:
                    raise SystemExit(f"{path}: row {i}, column manual: negative ({manual})")
                img = Path(str(r["image"]).strip())
                rows.append({"row": i, "image": img if img.is_absolute() else path.parent / img,
                             "manual": manual,
                             "layout": (r.get("layout") or "dish").strip() or "dish"})
    except OSError as exc:
        raise SystemExit(f"{path}: {exc.strerror or exc}") from None
    return rows


def opencfu_count(image: Path) -> int | None:
    """OpenCFU's valid detections on one image, or None without OpenCFU."""
    exe = shutil.which("opencfu")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-i", str(image), "-m", "auto"], capture_output=True, text=True,
                          check=False)
    n = 0
    for line in proc.stdout.splitlines()[1:]:
        f = line.split(",")
        if len(f) > 7 and f[0] == "1":
            n += 1
    return n if proc.returncode == 0 else None


def _err(count: int | None, manual: int) -> float | None:
    if count is None:
        return None
    return (count - manual) / manual if manual else (0.0 if count == 0 else math.inf)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sheet", type=Path)
    ap.add_argument("--min-radius-px", type=float, default=None,
                    help="Decidua's minimum colony radius in px (default: 0.1 mm2 area)")
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = ap.parse_args(argv)
    rows = read_sheet(args.sheet)
    kw = {} if args.min_radius_px is None else {"min_area_px": math.pi * args.min_radius_px**2}
    failed = False
    out = []
    for r in rows:
        rec = {"image": str(r["image"]), "layout": r["layout"], "manual": r["manual"],
               "decidua": None, "opencfu": None, "error": None}
        try:
            _img, res = count_image_file(r["image"], r["layout"], use_sidecar=False, **kw)
            rec["decidua"] = res.total
        except DeciduaError as exc:
            rec["error"] = str(exc)
            failed = True
        if r["layout"] == "dish" and r["image"].exists():
            rec["opencfu"] = opencfu_count(r["image"])  # no multi-well mode in OpenCFU
        rec["decidua_error"] = _err(rec["decidua"], r["manual"])
        rec["opencfu_error"] = _err(rec["opencfu"], r["manual"])
        out.append(rec)
    summary = {}
    for tool in ("decidua", "opencfu"):
        e = [abs(x[f"{tool}_error"]) for x in out if x[f"{tool}_error"] is not None]
        summary[tool] = ({"images": len(e), "median_abs_error": float(np.median(e)),
                          "worst_abs_error": float(max(e))} if e else None)
    if args.json:
        print(json.dumps({"images": out, "summary": summary}))
        return 1 if failed else 0
    print(f"{'image':40s} {'layout':8s} {'manual':>6s} {'decidua':>7s} {'err':>7s} "
          f"{'opencfu':>7s} {'err':>7s}")
    for x in out:
        def cell(v, e):
            return (f"{v:7d} {e:+7.1%}" if v is not None and e is not None and math.isfinite(e)
                    else f"{'-' if v is None else v:>7} {'-':>7}")
        print(f"{Path(x['image']).name[:40]:40s} {x['layout']:8s} {x['manual']:6d} "
              f"{cell(x['decidua'], x['decidua_error'])} {cell(x['opencfu'], x['opencfu_error'])}")
        if x["error"]:
            print(f"  error: {x['error']}")
    for tool, s in summary.items():
        if s:
            print(f"{tool}: {s['images']} images, median |error| {s['median_abs_error']:.1%}, "
                  f"worst {s['worst_abs_error']:.1%}")
        else:
            print(f"{tool}: no counts" + (" (opencfu not on PATH)" if tool == "opencfu" else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
