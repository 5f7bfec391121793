"""Start-up time of ``decidua --help`` against a bare Typer app of similar size.

Usage::

    .venv/bin/python benchmarks/startup.py [--runs 10]

Work measured: wall time and CPU time (user + system) of a fresh process
printing the root help, median of ``--runs`` runs, the programs alternating so
that all see the same load. On a shared, loaded machine the wall times grow
with the load; the ratios to the bare app and the CPU times stay comparable.

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
import resource
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


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


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
        walls: dict[str, list[float]] = {k: [] for k in work}
        cpus: dict[str, list[float]] = {k: [] for k in work}
        for cmd in work.values():  # warm the file cache once
            run(cmd)
        for _ in range(args.runs):
            for name, cmd in work.items():
                w, c = run(cmd)
                walls[name].append(w)
                cpus[name].append(c)
    med = {k: statistics.median(v) for k, v in walls.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    names = list(work)
    base, base_cpu = med[names[1]], cpu[names[1]]
    load = os.getloadavg()[0]
    print(f"median of {args.runs} runs, {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"Python {sys.version.split()[0]}")  # fmt: skip
    print(f"{'work':<52} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6}")
    for name in names:
        print(f"{name:<52} {med[name]:>7.3f} {med[name] / base:>6.2f} "
              f"{cpu[name]:>7.3f} {cpu[name] / base_cpu:>6.2f}")  # fmt: skip
    print(f"decidua --help target < 0.300 s wall: {'met' if med[names[0]] < 0.3 else 'NOT met'}"
          + (" (the machine is loaded: compare the ratios)" if load > (os.cpu_count() or 1)
             else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
