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


def test_shipped_reference_reloads_and_saves_byte_for_byte(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The typed state and calibration write exactly the JSON they were read from."""
    shipped = timing.default_reference_path()
    ref = timing.TimingReference.load(shipped)
    assert ref.save(tmp_path / "again.json").read_bytes() == shipped.read_bytes()


def test_fitted_state_and_calibration_are_typed_and_frozen() -> None:
    import dataclasses

    import pytest

    from decidua.stats import Interval

    ref = timing.load_default_reference()
    assert dataclasses.is_dataclass(ref.state) and dataclasses.is_dataclass(ref.calibration)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.state.out_of_phase_days = 0.0  # type: ignore[misc, union-attr]
    cal = ref.calibration
    assert cal is not None and cal.out_of_phase is not None
    # the earlier dict keys still read the same values
    assert cal["mass_level"] == cal.mass_level
    assert cal["held_out"]["BATCH"] == list(cal.held_out.batch)
    assert cal["out_of_phase"]["raw"]["ece"] == cal.out_of_phase.raw.ece
    thr = ref.threshold_interval
    assert isinstance(thr, Interval) and thr.low <= thr.estimate <= thr.high
    assert ref.summary()["asynchrony_threshold"] == thr.summary()
    assert thr.estimate == ref.asynchrony_threshold


def test_placement_summary_carries_the_interval() -> None:
    ref = timing.load_default_reference()
    placed = ref.place(timing.load_endotime_training_data().iloc[:4])
    rows = placed.summary()
    assert [r["ID"] for r in rows] == list(placed.ids)
    parts = (rows, placed.intervals, placed.interval_low, placed.interval_high)
    for r, iv, lo, hi in zip(*parts, strict=True):
        assert set(r) == {"ID", "estimate", "low", "high", "level"}
        assert (iv.low, iv.high) == (lo, hi) and iv.level == timing.INTERVAL_LEVEL
        assert iv.contains(iv.estimate)
