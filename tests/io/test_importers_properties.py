"""Property tests: whatever a file contains, an import either succeeds or
fails with row/column-level problems and leaves the database untouched."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decidua.errors import InputError
from decidua.io.importers import import_file
from decidua.store import migrate
from decidua.store.session import dispose_engines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]

cell_values = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["", "yes", "no", "NaN", "miscarriage", "live_birth", "normal", "abnormal"]),
)


@st.composite
def mutated_file(draw: st.DrawFn, kind: str) -> bytes:
    with (EXAMPLES / f"{kind}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["cell", "cell", "cell", "dup", "drop_col", "rename_col"]))
        if action == "cell" and body:
            r = draw(st.integers(0, len(body) - 1))
            c = draw(st.integers(0, len(header) - 1))
            body[r][c] = draw(cell_values)
        elif action == "dup" and body:
            body.append(list(body[draw(st.integers(0, len(body) - 1))]))
        elif action == "drop_col" and len(header) > 1:
            c = draw(st.integers(0, len(header) - 1))
            header = header[:c] + header[c + 1 :]
            body = [row[:c] + row[c + 1 :] for row in body]
        elif action == "rename_col":
            c = draw(st.integers(0, len(header) - 1))
            header = [*header[:c], draw(st.text(min_size=1, max_size=8)), *header[c + 1 :]]
    out = io.StringIO()
    csv.writer(out).writerows([header, *body])
    data = out.getvalue().encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(max_size=8)) + data[pos:]
    return data


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_file_imports_cleanly_or_changes_nothing(data: st.DataObject, snap) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'p.sqlite'}"
        migrate.upgrade(url)
        kind = data.draw(st.sampled_from(KINDS))
        for parent in KINDS[: KINDS.index(kind)]:
            import_file(EXAMPLES / f"{parent}.csv", parent, url=url, actor="t")
        content = data.draw(mutated_file(kind))
        path = Path(tmp) / f"{kind}.csv"
        path.write_bytes(content)
        before = snap(url)
        try:
            import_file(path, kind, url=url, actor="t")
        except InputError as exc:
            assert snap(url) == before
            for p in exc.problems:
                assert p.file == str(path)
                assert p.reason
            message = str(exc)
            assert str(path) in message
        dispose_engines()
