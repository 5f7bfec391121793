"""Start-up stays light: what ``import decidua.cli``, ``decidua --help`` and
``decidua risk predict`` load (in fresh subprocesses; nothing is timed here,
``benchmarks/startup.py`` times it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from decidua.cli import COMMANDS, load_command

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("pandas", "sqlalchemy", "numba", "pysam", "cv2", "pydantic", "numpy", "scipy",
         "alembic", "openpyxl", "matplotlib", "yaml", "decidua.settings",
         "decidua.store")  # fmt: skip


def _loaded_after(code: str) -> tuple[set[str], str]:
    """Top-level modules (and decidua modules) loaded by ``code`` in a fresh interpreter."""
    probe = (
        "import sys, json\n"
        f"{code}\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = json.loads(r.stderr.rsplit("MODULES ", 1)[1])
    return set(names), r.stdout


def _heavy(loaded: set[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        h
        for h in HEAVY
        if h not in allowed and any(m == h or m.startswith(h + ".") for m in loaded)
    )


RUN_CLI = (
    "from decidua.cli import app\n"
    "try:\n"
    "    app({args!r}, prog_name='decidua')\n"
    "except SystemExit as e:\n"
    "    assert e.code in (0, None), e.code\n"
)


def test_import_decidua_cli_loads_no_heavy_library() -> None:
    loaded, _ = _loaded_after("import decidua.cli")
    assert _heavy(loaded) == []
    # no command module either: they load when one of their commands runs
    ours = sorted(m for m in loaded if m.startswith("decidua."))
    assert ours == ["decidua.cli", "decidua.errors"]


def test_root_help_lists_every_command_without_importing_them() -> None:
    loaded, out = _loaded_after(RUN_CLI.format(args=["--help"]))
    assert _heavy(loaded) == []
    assert not any(m.startswith("decidua.cli.") and m != "decidua.cli.output" for m in loaded)
    for name in COMMANDS:
        assert f" {name} " in out


def test_risk_predict_loads_no_database_table_or_image_library() -> None:
    loaded, out = _loaded_after(
        RUN_CLI.format(args=["risk", "predict", "--age", "34", "--losses", "3", "--json"])
    )
    # the risk model needs numpy/scipy; Typer itself validates options with pydantic
    assert _heavy(loaded, allowed=("numpy", "scipy", "pydantic")) == []
    assert json.loads(out)["p_loss"] > 0


def test_risk_predict_imports_only_what_the_model_uses() -> None:
    """The model needs scipy.special (expit, logsumexp, the Beta CDF and quantile), not
    scipy.stats (a second of start-up), nor the rest of scipy or Decidua's other layers."""
    loaded, out = _loaded_after(
        RUN_CLI.format(args=["risk", "predict", "--age", "34", "--losses", "2", "--json"])
    )
    scipy_parts = sorted({m.split(".")[1] for m in loaded if m.startswith("scipy.")})
    assert not [p for p in scipy_parts if not p.startswith("_")
                and p not in ("special", "version")], scipy_parts  # fmt: skip
    assert "scipy.stats" not in loaded and "scipy.optimize" not in loaded
    ours = {m for m in loaded if m.startswith("decidua.")}
    assert not [m for m in ours if m.startswith(("decidua.store", "decidua.io", "decidua.web",
                                                 "decidua.reports", "decidua.assays",
                                                 "decidua.risk.calibration", "decidua.risk.learn",
                                                 "decidua.settings"))]  # fmt: skip
    assert json.loads(out)["p_loss"] > 0


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_table_entry_loads_a_command(name: str) -> None:
    cmd = load_command(name)
    assert cmd.name == name
    assert COMMANDS[name][2]  # a one-line help for the root --help


def test_version() -> None:
    from typer.testing import CliRunner

    from decidua import __version__
    from decidua.cli import app

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout == f"decidua {__version__}\n"


def test_main_freezes_the_heap_at_exit_and_output_is_complete(tmp_path: Path) -> None:
    """main() registers gc.freeze at exit (Python's last collections then skip every object
    left: ~0.1 s of CPU after `methylation summarize`); it runs after the command, and what
    the command wrote and printed is all there."""
    out = tmp_path / "s.tsv"
    report = (Path(__file__).resolve().parents[1] / "data" / "methylation" / "bismark"
              / "tiny_pe.no_overlap.covered.CX_report.txt.gz")  # fmt: skip
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'FROZEN {gc.get_freeze_count()}'))\n"
        "print('before', gc.get_freeze_count())\n"
        "from decidua.cli import main\n"
        f"sys.argv = ['decidua', 'methylation', 'summarize', {str(report)!r}, '-o', {str(out)!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("before 0\n") and r.stdout.rstrip().endswith(f"wrote {out}")
    assert int(r.stderr.rsplit("FROZEN ", 1)[1]) > 10_000
    lines = out.read_text().splitlines()
    assert lines[0].startswith("sample\t") and len(lines) == 4  # header + CG, CHG, CHH
