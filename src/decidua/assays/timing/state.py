"""The fitted state of a timing reference, as typed frozen records.

Everything :meth:`TimingReference.place <decidua.assays.timing.TimingReference.place>`
needs besides the settings and the per-biopsy :class:`TimingFitResult`: the
scaling, the batch shifts, the per-gene window curves, the pseudotime -> LH-day
map, the threshold's bootstrap interval and the out-of-phase cut. Written to and
read from the JSON reference by :mod:`decidua.assays.timing.persistence`
(the file layout does not depend on these classes).

Examples
--------
>>> import numpy as np
>>> c = WindowCurves(time=np.array([1.0, 2.0]), mean=np.ones((2, 1)), sd=np.ones((2, 1)))
>>> WindowCurves.from_dict(c.to_dict(("GPX3",)), ("GPX3",)).to_dict(("GPX3",))
{'pseudotime': [1.0, 2.0], 'mean': {'GPX3': [1.0, 1.0]}, 'sd': {'GPX3': [1.0, 1.0]}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from decidua.stats import Interval

#: Coverage of the reported bootstrap interval of the asynchrony threshold (5th-95th pct).
THRESHOLD_BOOTSTRAP_LEVEL = 0.90


@dataclass(frozen=True)
class WindowCurves:
    """Per-gene window statistics over pseudotime (one row per window).

    Attributes
    ----------
    time
        (m,) median pseudotime of each window.
    mean, sd
        (m, genes) unweighted mean and tent-weighted SD of the scaled −ΔCt.

    Examples
    --------
    >>> c = WindowCurves(time=np.array([1.0, 2.0]), mean=np.ones((2, 1)), sd=np.ones((2, 1)))
    >>> c.to_dict(("GPX3",))["mean"]
    {'GPX3': [1.0, 1.0]}
    """

    time: np.ndarray
    mean: np.ndarray
    sd: np.ndarray

    def to_dict(self, genes: Sequence[str]) -> dict[str, Any]:
        """JSON form: ``pseudotime`` and per-gene ``mean`` / ``sd`` lists."""
        return {
            "pseudotime": self.time.tolist(),
            "mean": {g: self.mean[:, j].tolist() for j, g in enumerate(genes)},
            "sd": {g: self.sd[:, j].tolist() for j, g in enumerate(genes)},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], genes: Sequence[str]) -> WindowCurves:
        """Inverse of :meth:`to_dict`."""
        return cls(
            time=np.asarray(d["pseudotime"], float),
            mean=np.column_stack([d["mean"][g] for g in genes]),
            sd=np.column_stack([d["sd"][g] for g in genes]),
        )


@dataclass(frozen=True)
class TimingState:
    """What a fitted (or loaded) reference holds besides its settings and cohort result.

    Attributes
    ----------
    scaling_min, scaling_max
        (genes,) per-gene minimum and maximum of the inverted ΔCt (min-max scaling).
    batch_shifts
        Shift added to each reference batch's scaled values.
    batch_level
        Grand mean every batch is shifted to (a new batch of >= ``MIN_NEW_BATCH_SIZE``
        biopsies is shifted to it too).
    batch_sizes
        Biopsies per reference batch.
    lh_range
        Reported LH+ days covered by the cohort (placement refuses days outside).
    final_gene_window, final_aggregate_window
        Windows of the last ordering (used for placement).
    placement_curves, asynchrony_curves
        Window curves at the final gene window and at the initial one (asynchrony).
    time_map_pseudotime, time_map_lh_day
        Sorted pseudotimes of the cohort and their estimated LH days (the map).
    threshold_psi, threshold_segmented
        Breakpoint rank and threshold of the single broken-stick fit.
    threshold_bootstrap
        Median and 5th-95th percentiles of the bootstrap thresholds.
    out_of_phase_days
        The cohort's ``OUT_OF_PHASE_QUANTILE`` of |eLH − LH| (days).
    expression
        (n, genes) scaled, batch-corrected −ΔCt of the cohort.
    seed
        Seed of the fit (None when fitted with a Generator).
    member_seeds, member_stop_reasons, member_iterations
        The seed-ensemble members.
    max_iterations_used
        Iteration cap of the fit (None for a loaded reference: its ``max_iterations``).

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> st = load_default_reference().state
    >>> st.lh_range, st.final_gene_window, st.threshold_bootstrap.level
    ((5.0, 12.0), 20, 0.9)
    """

    scaling_min: np.ndarray
    scaling_max: np.ndarray
    batch_shifts: Mapping[str, float]
    batch_level: float
    batch_sizes: Mapping[str, int]
    lh_range: tuple[float, float]
    final_gene_window: int
    final_aggregate_window: int
    placement_curves: WindowCurves
    asynchrony_curves: WindowCurves
    time_map_pseudotime: np.ndarray
    time_map_lh_day: np.ndarray
    threshold_psi: float
    threshold_segmented: float
    threshold_bootstrap: Interval
    out_of_phase_days: float
    expression: np.ndarray
    seed: int | None
    member_seeds: tuple[int | None, ...]
    member_stop_reasons: tuple[str, ...]
    member_iterations: tuple[int, ...]
    max_iterations_used: int | None = None
