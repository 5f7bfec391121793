"""Start-up time of ``decidua --help`` against a bare Typer app of similar size.

Usage::

    .venv/bin/python benchmarks/startup.py [--runs 10]

Work measured: wall time of a fresh process printing the root help, median of
``--runs`` runs, the two programs alternating so that both see the same load.

- ``decidua --help``: the real entry point (``decidua.cli:main``).
- Baseline: a Typer app written in one file the plain way (every sub-app
  defined and registered on import, no Decidua code) with as many command
  groups as Decidua has (:data:`decidua.cli.COMMANDS`), four commands of
  three options each per group. It is what any Typer CLI of this size costs,
  so the ratio shows what Decidua adds on top (the target: < 0.3 s, the bare
  app ~0.2 s on the project's 2-core machine).

A third row, ``decidua risk predict``, times a command that runs the risk
model (numpy and scipy load; no database, no pandas).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PATH = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
ENV = {**os.environ, "PYTHONPATH": _PATH}
DECIDUA = [sys.executable, "-c", "import sys; sys.argv[0] = 'decidua'; "
           "from decidua.cli import main; main()"]  # fmt: skip


def bare_app_source(n_groups: int, n_commands: int = 4) -> str:
    """A plain Typer app: ``n_groups`` groups of ``n_commands`` commands."""
    lines = ["import typer", "", "app = typer.Typer(help='A bare Typer app.', "
             "no_args_is_help=True)", ""]  # fmt: skip
    for g in range(n_groups):
        lines.append(f"g{g} = typer.Typer(help='Group {g}.', no_args_is_help=True)")
        for c in range(n_commands):
            lines += [
                f"@g{g}.command('c{c}')",
                f"def g{g}_c{c}(path: str = typer.Argument(..., help='A file.'),",
                "         n: int = typer.Option(1, '--n', help='A number.'),",
                "         name: str = typer.Option('x', '--name', help='A name.'),",
                "         as_json: bool = typer.Option(False, '--json', help='JSON.')) -> None:",
                f"    '''Command {c} of group {g}.'''",
                "    print(path, n, name, as_json)",
                "",
            ]
        lines.append(f"app.add_typer(g{g}, name='group{g}')")
    lines += ["", "if __name__ == '__main__':", "    app()", ""]
    return "\n".join(lines)


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from decidua.cli import COMMANDS

    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_typer_app.py"
        bare.write_text(bare_app_source(len(COMMANDS)))
        work = {
            "decidua --help": [*DECIDUA, "--help"],
            f"bare Typer --help ({len(COMMANDS)} groups x 4 commands)": [
                sys.executable, str(bare), "--help"],
            "decidua risk predict --age 34 --losses 3 --json": [
                *DECIDUA, "risk", "predict", "--age", "34", "--losses", "3", "--json"],
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in work}
        for cmd in work.values():  # warm the file cache once
            wall(cmd)
        for _ in range(args.runs):
            for name, cmd in work.items():
                times[name].append(wall(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    names = list(work)
    base = med[names[1]]
    print(f"median of {args.runs} runs, {os.cpu_count()} CPUs, Python "
          f"{sys.version.split()[0]}")  # fmt: skip
    print(f"{'work':<52} {'median s':>9} {'ratio to bare':>14}")
    for name in names:
        print(f"{name:<52} {med[name]:>9.3f} {med[name] / base:>14.2f}")
    print(f"decidua --help target < 0.300 s: {'met' if med[names[0]] < 0.3 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
