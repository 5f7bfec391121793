"""A timing-gene ΔCt far outside the reference range is not placed silently (issue #11,
item 12), and Python warnings reach users as one plain line (item 11).

"Far" is judged from the shipped reference's own training cohort (EndoTime
training data): more than ``FAR_OUTSIDE_SD`` SDs beyond the gene's lowest or
highest training ΔCt. The biopsies are EndoTime training biopsies (inside the
range by construction) with one value moved out of it. The qPCR plate is
synthetic with known truth (Cq = 15 + ΔCt, symmetric duplicates), as in
``tests/assays/qpcr/test_import_qpcr.py``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from decidua.assays.timing import GENES, load_default_reference, load_endotime_training_data
from decidua.cli import app
from decidua.services.timing import FAR_OUTSIDE_SD, far_outside_reference
from decidua.store import models as m
from decidua.store.session import session_scope

EXAMPLES = Path(__file__).resolve().parents[1].parent / "examples" / "import"
runner = CliRunner()


def _limits(gene: str) -> tuple[float, float, float]:
    st = load_default_reference().state
    j = load_default_reference().genes.index(gene)
    span = st.scaling_max[j] - st.scaling_min[j]
    sd = float(st.expression[:, j].std(ddof=1) * span)
    return float(-st.scaling_max[j]), float(-st.scaling_min[j]), sd


def _biopsies(tmp_path: Path, cxcl14: list[float]) -> Path:
    train = load_endotime_training_data().head(len(cxcl14))
    f = tmp_path / "new.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", *GENES])
        for k, (_, t) in enumerate(train.iterrows()):
            w.writerow([f"N{k + 1}", *(cxcl14[k] if g == "CXCL14" else t[g] for g in GENES)])
    return f


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point, so that stderr is exactly what a user sees."""
    code = "import sys; from decidua.cli import main; sys.argv[0] = 'decidua'; main()"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


def test_the_training_cohort_is_not_far_outside_its_own_range() -> None:
    train = load_endotime_training_data()
    assert far_outside_reference(load_default_reference(), train) == {}


def test_far_outside_delta_ct_warns_in_one_plain_line_and_flags_the_placement(
    tmp_path: Path,
) -> None:
    lo, hi, sd = _limits("CXCL14")
    near = hi + 0.5 * FAR_OUTSIDE_SD * sd  # outside the range, not far: placed as usual
    far = hi + 1.5 * FAR_OUTSIDE_SD * sd
    assert far < 45  # below the hard bound: placed, but with a warning
    f = _biopsies(tmp_path, [2.0, near, far])
    r = _cli("timing", "place", "default", str(f), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    rows = rows["biopsies"] if isinstance(rows, dict) else rows
    assert [("qc_flags" in x) for x in rows] == [False, False, True]
    assert "CXCL14" in rows[2]["qc_flags"][0]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    far_lines = [ln for ln in lines if "far outside" in ln]
    assert len(far_lines) == 1, r.stderr
    assert far_lines[0].startswith("Warning: ") and "row 4, biopsy 'N3'" in far_lines[0]
    assert f"ΔCt {far:g}" in far_lines[0]
    # the plain-line handler: no "file.py:NN: UserWarning:" header, no source line
    assert "UserWarning" not in r.stderr and "warnings.warn" not in r.stderr
    assert ".py:" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_import_qpcr_flags_a_far_outside_placement_for_qc(db: str, tmp_path: Path) -> None:
    for kind in ("patients", "biopsies"):
        res = runner.invoke(app, ["--db", db, "import", kind, str(EXAMPLES / f"{kind}.csv")])
        assert res.exit_code == 0, res.output
    codes = ["EX-001-B1", "EX-001-B2", "EX-002-B1", "EX-003-B1"]
    train = load_endotime_training_data().head(len(codes))
    _, hi, sd = _limits("CXCL14")
    far = round(hi + 1.5 * FAR_OUTSIDE_SD * sd, 2)
    rows = [("well", "sample", "target", "cq")]
    for i, (_, t) in enumerate(train.iterrows()):
        col = 1
        levels = [("RPL19", 0.0)] + [
            (g, far if (i == 0 and g == "CXCL14") else float(t[g])) for g in GENES
        ]
        for target, level in levels:
            for d in (-0.05, 0.05):
                rows.append((f"{'ABCD'[i]}{col}", f"S{i + 1}", target, f"{15.0 + level + d:.6f}"))
                col += 1
    plate = tmp_path / "plate.csv"
    with plate.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    mp = tmp_path / "map.csv"
    mp.write_text("sample,biopsy_id\n" + "".join(f"S{i + 1},{c}\n" for i, c in enumerate(codes)))
    res = runner.invoke(app, ["--db", db, "import", "qpcr", str(plate), "--biopsy-map", str(mp)])
    assert res.exit_code == 0, res.output
    assert "far outside" in res.output and "EX-001-B1" in res.output
    with session_scope(db) as s:
        got = {
            code: (r.qc_status, r.values.get("qc_flags"))
            for r, code in s.execute(
                select(m.AssayResult, m.Biopsy.code)
                .join(m.Biopsy, m.Biopsy.id == m.AssayResult.biopsy_id)
                .where(m.AssayResult.kind == "timing")
            )
        }
    assert got["EX-001-B1"][0] == "pending" and "CXCL14" in got["EX-001-B1"][1][0]
    assert all(got[c][1] is None for c in codes[1:])
