"""Run every benchmark script in this folder, one after the other.

Run: .venv/bin/python benchmarks/run_all.py   (or `make bench`)
Each script prints its own table (work, Decidua's time, the baseline measured
in the same run, ratio). A script whose baseline tool is missing says so and
reports Decidua's time alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for script in sorted(here.glob("*.py")):
        if script.name == Path(__file__).name or script.name.startswith("_"):
            continue
        print(f"\n=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
