"""The timing package's layout: public names re-exported lazily, numba only for fitting."""

from __future__ import annotations

import subprocess
import sys

import decidua.assays.timing as timing


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (sys.modules untouched by this test session)."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return proc.stdout.strip()


def test_import_loads_neither_numba_nor_matplotlib() -> None:
    out = _run(
        "import sys, decidua.assays.timing as t; t.GENES; "
        "print(sorted(m for m in ('numba', 'matplotlib', 'statsmodels') if m in sys.modules))"
    )
    assert out == "[]"


def test_placing_on_the_shipped_reference_needs_no_numba() -> None:
    out = _run(
        "import sys, decidua.assays.timing as t; ref = t.load_default_reference(); "
        "p = ref.place(t.load_endotime_training_data().iloc[:3]); "
        "print(len(p.ids), 'numba' in sys.modules)"
    )
    assert out == "3 False"


def test_every_public_name_resolves() -> None:
    for name in timing.__all__:
        assert getattr(timing, name) is not None, name
    assert set(timing.__all__) <= set(dir(timing))
    try:
        timing.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("unknown attribute did not raise")
