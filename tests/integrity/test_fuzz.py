"""Fuzzing the CLI (issue #11, acceptance): every importer and the analysis commands' inputs.

Whatever hypothesis puts in a file or an option, a command exits 0 or 1 —
never a traceback (an exception other than ``SystemExit`` in the runner's
result) — and an import that exits 1 leaves the database exactly as it was.
Files are the example import files mutated cell by cell (text, numbers,
NaN/inf, huge values, formulas, case variants of ids, empty cells, dropped,
renamed or duplicated columns and rows, raw bytes).
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from decidua.cli import app
from decidua.io.importers import import_file
from decidua.store import migrate
from decidua.store import models as m
from decidua.store.session import dispose_engines, session_scope

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]
GENES = ["CXCL14", "DPP4", "GPX3", "IGFBP1", "IL2RB", "SLC15A2"]
runner = CliRunner()

cells = st.one_of(
    st.text(max_size=10),
    st.integers(-(10**9), 10**9).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["", " ", "yes", "no", "NaN", "1e300", "-0", "=1+1", "[/]", "ex-001",
                     "EX-001", "miscarriage", "normal", "P1", "A1", "0", "999999"]),
)  # fmt: skip


def _ok(r) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code in (0, 1), (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output


@st.composite
def mutated(draw: st.DrawFn, rows: list[list[str]]) -> bytes:
    header, body = list(rows[0]), [list(r) for r in rows[1:]]
    for _ in range(draw(st.integers(0, 5))):
        action = draw(st.sampled_from(["cell"] * 5 + ["dup", "drop_col", "rename", "drop_row"]))
        if action == "cell" and body:
            r, c = draw(st.integers(0, len(body) - 1)), draw(st.integers(0, len(header) - 1))
            body[r][c] = draw(cells)
        elif action == "dup" and body:
            body.append(list(body[draw(st.integers(0, len(body) - 1))]))
        elif action == "drop_row" and len(body) > 1:
            body.pop(draw(st.integers(0, len(body) - 1)))
        elif action == "drop_col" and len(header) > 1:
            c = draw(st.integers(0, len(header) - 1))
            header = header[:c] + header[c + 1 :]
            body = [row[:c] + row[c + 1 :] for row in body]
        elif action == "rename":
            header[draw(st.integers(0, len(header) - 1))] = draw(st.text(min_size=1, max_size=8))
    out = io.StringIO()
    csv.writer(out).writerows([header, *body])
    data = out.getvalue().encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(max_size=6)) + data[pos:]
    return data


def _rows(kind: str) -> list[list[str]]:
    with (EXAMPLES / f"{kind}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _state(url: str) -> list[object]:
    out: list[object] = []
    with session_scope(url) as s:
        for table in m.Base.metadata.sorted_tables:
            out.append(sorted(map(repr, s.execute(table.select().order_by(*table.primary_key)))))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_importer_exits_0_or_1_and_changes_nothing_on_1(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'f.sqlite'}"
        migrate.upgrade(url)
        with session_scope(url) as s:
            s.add(m.User(username="tester", role="admin"))
        for kind in KINDS:  # a full database: re-imports compare with stored rows
            import_file(EXAMPLES / f"{kind}.csv", kind, url=url, actor="t")
        kind = data.draw(st.sampled_from(KINDS))
        path = Path(tmp) / f"{kind}.csv"
        path.write_bytes(data.draw(mutated(_rows(kind))))
        flags = data.draw(
            st.sampled_from([[], ["--update"], ["--dry-run"], ["--update", "--json"]])
        )
        before = _state(url)
        r = runner.invoke(app, ["--db", url, "import", kind, str(path), *flags])
        _ok(r)
        if r.exit_code == 1 or "--dry-run" in flags:
            assert _state(url) == before
        dispose_engines()


@settings(max_examples=60, deadline=None)
@given(
    age=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), cells),
    losses=st.one_of(st.integers(-5, 10**6).map(str), cells),
    births=st.one_of(st.integers(-5, 50).map(str), cells),
    calls=st.lists(st.sampled_from(["normal", "abnormal", "weird", "", "NORMAL"]), max_size=4),
)
def test_risk_predict_exits_0_or_1(age: str, losses: str, births: str, calls: list[str]) -> None:
    args = ["risk", "predict", "--age", age, "--losses", losses, "--live-births", births]
    for c in calls:
        args += ["--biopsy", c]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code in (0, 1, 2), r.output  # 2: Click's usage error (not a number)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_timing_place_exits_0_or_1(data: st.DataObject) -> None:
    rows = [["ID", *GENES]] + [
        [f"B{i}", *(f"{v:.3f}" for v in (0.2, 7.6, 2.3, 7.5, 6.2, 10.9))] for i in range(4)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "biopsies.csv"
        path.write_bytes(data.draw(mutated(rows)))
        r = runner.invoke(app, ["timing", "place", "default", str(path), "--json"])
        _ok(r)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_cfu_stats_exits_0_or_1(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.csv"
        path.write_bytes(data.draw(mutated(_rows("cfu"))))
        r = runner.invoke(app, ["cfu", "stats", str(path), "--json"])
        _ok(r)
