"""Endometrial timing from six-gene RT-qPCR (EndoTime-compatible).

Decidua's own implementation of the method published as EndoTime:

    Lipecki J, Mitchell AE, Muter J, Lucas ES, Makwana K, Fishwick K, Odendaal J,
    Hawkes A, Vrljicak P, Brosens JJ, Ott S. "EndoTime: non-categorical timing
    estimates for luteal endometrium." Human Reproduction 2022;37(4):747-761.
    doi:10.1093/humrep/deac006 (PMC8971653). Reference software: the R package
    ``endotime`` 1.0, github.com/AE-Mitchell/EndoTime, commit 8abb0ad (GPL-3).

No EndoTime code is used; the algorithm was re-expressed from its description
and the package's behaviour. In outline:

1. ΔCt values are inverted (−ΔCt, so larger means more expression), min-max
   scaled per gene over the cohort, and (optionally) shifted per qPCR batch so
   that every batch has the same grand mean (one scalar per batch).
2. Each biopsy starts at its reported LH+ day, ties broken by a uniform jitter
   of ±0.5 day and spread evenly by rank.
3. Iteration: for every biopsy, every *other* biopsy (plus linearly extrapolated
   pseudo-points beyond both ends) is sorted by current time; a window of
   ``gene_window`` neighbours slides along time, and for each window a normal
   density (unweighted mean, tent-weighted SD) gives the pseudo-likelihood of
   the biopsy's value for each gene. Per-gene density curves are normalised,
   mirrored at both ends, averaged over genes and over ``aggregate_window``
   consecutive windows; the biopsy moves to the time of the highest average.
   The new times are turned into ranks and spread evenly over the LH range.
   Windows shrink by 10 per iteration down to 20; the run stops when the
   Euclidean distance between successive time vectors is <= 2.
4. Asynchrony score: SD across genes of the per-gene density peaks (window 80).
   Threshold: the breakpoint of a two-segment linear fit to the sorted scores.
5. Estimated LH day: pseudotime ranks are mapped onto the sorted reported LH
   days and smoothed with a 21-biopsy tent kernel.

What Decidua adds: an iteration cap with a reported stop reason and a
principled default (the average of the orderings at the window floor, see
:data:`DEFAULT_FINAL`), seeded random tie-breaking instead of EndoTime's
row-order dependence, a seed ensemble (the orderings of several derived seeds averaged
per biopsy, :data:`DEFAULT_N_SEEDS`), a frozen, versioned reference that places new biopsies
without refitting (interval, out-of-phase probability, batch rules), a bagged
asynchrony threshold frozen with the reference, placement intervals calibrated
by leave-one-batch-out split-conformal prediction and a Platt-calibrated
out-of-phase probability (:meth:`TimingReference.calibrate`),
a default reference shipped with the package (:func:`load_default_reference`;
regenerate with ``python -m decidua.assays.timing --write-default-reference``
or ``decidua timing write-default-reference``),
timing-adjusted centiles for any marker, and compiled (numba) window
computations. Measured agreement with EndoTime and the reasons for each choice
are in ``docs/timing.md``.

The package has one concept per module (``constants``, ``validation``,
``kernels`` (numba), ``density``, ``ordering``, ``threshold``, ``results``,
``reference``, ``calibration``, ``persistence``, ``default``, ``centiles``,
``plot``); every public name is importable from ``decidua.assays.timing`` and
loaded on first use, so importing the package loads neither numba nor
matplotlib (placing biopsies on a saved reference never needs numba).

Examples
--------
>>> import decidua.assays.timing as timing
>>> timing.GENES
('GPX3', 'SLC15A2', 'IL2RB', 'CXCL14', 'DPP4', 'IGFBP1')
>>> ref = timing.load_default_reference()
>>> ref.result.asynchrony_threshold > 0
True
"""

# ruff: noqa: F401 - the TYPE_CHECKING imports re-export the lazily loaded names

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> submodule that defines it (loaded on first attribute access).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "CALIBRATION_LEVELS",
            "CALIBRATION_STEP",
            "CENTILES_VERSION",
            "DEFAULT_AGGREGATE_WINDOW",
            "DEFAULT_EUCLIDEAN_STOP",
            "DEFAULT_FINAL",
            "DEFAULT_GENE_WINDOW",
            "DEFAULT_MAX_ITERATIONS",
            "DEFAULT_N_SEEDS",
            "DEFAULT_PATIENCE",
            "DEFAULT_REFERENCE_SEED",
            "DEFAULT_THRESHOLD_RULE",
            "GENES",
            "HOURS_PER_DAY",
            "INTERVAL_LEVEL",
            "LH_JITTER_DAYS",
            "LH_MAP_RADIUS",
            "MIN_NEW_BATCH_SIZE",
            "MODEL_VERSION",
            "OUT_OF_PHASE_LOGIT_EPS",
            "OUT_OF_PHASE_QUANTILE",
            "READABLE_MODEL_VERSIONS",
            "RELIABILITY_BINS",
            "REQUIRED_COLUMNS",
            "STANDARD_CENTILES",
            "THRESHOLD_BOOTSTRAP",
            "WINDOW_FLOOR",
            "WINDOW_STEP",
        ),
        "constants",
    ),
    "load_endotime_training_data": "validation",
    "validate_timing_table": "validation",
    "ensemble_seeds": "ordering",
    "segmented_threshold": "threshold",
    "Placement": "results",
    "TimingFitResult": "results",
    "TimingReference": "reference",
    **dict.fromkeys(
        (
            "DEFAULT_REFERENCE_COMMAND",
            "default_reference_path",
            "fit_default_reference",
            "load_default_reference",
            "training_data_sha256",
            "write_default_reference",
        ),
        "default",
    ),
    "CENTILE_GRID": "centiles",
    "CENTILE_INTERIOR_KNOTS": "centiles",
    "CentileScores": "centiles",
    "TimingCentiles": "centiles",
    "plot_asynchrony": "plot",
    "plot_centiles": "plot",
    "plot_gene_curves": "plot",
}
#: The generic calibration statistics, re-exported from :mod:`decidua.stats.calibration`.
_STATS_EXPORTS = ("platt_apply", "platt_fit", "reliability")


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    elif name in _STATS_EXPORTS:
        module = importlib.import_module("decidua.stats.calibration")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_STATS_EXPORTS])


# For type checkers and IDEs only; the names are listed once, in _EXPORTS, from which
# __all__ is built below (hence no unused-import warnings for this block).
if TYPE_CHECKING:  # pragma: no cover
    from decidua.assays.timing.centiles import (
        CENTILE_GRID,
        CENTILE_INTERIOR_KNOTS,
        CentileScores,
        TimingCentiles,
    )
    from decidua.assays.timing.constants import *  # noqa: F403
    from decidua.assays.timing.default import (
        DEFAULT_REFERENCE_COMMAND,
        default_reference_path,
        fit_default_reference,
        load_default_reference,
        training_data_sha256,
        write_default_reference,
    )
    from decidua.assays.timing.ordering import (
        ensemble_seeds,
    )
    from decidua.assays.timing.plot import (
        plot_asynchrony,
        plot_centiles,
        plot_gene_curves,
    )
    from decidua.assays.timing.reference import (
        TimingReference,
    )
    from decidua.assays.timing.results import (
        Placement,
        TimingFitResult,
    )
    from decidua.assays.timing.threshold import (
        segmented_threshold,
    )
    from decidua.assays.timing.validation import (
        load_endotime_training_data,
        validate_timing_table,
    )
    from decidua.stats.calibration import platt_apply, platt_fit, reliability

#: Every public name, from the lazy-loading table (one list of names, not two).
__all__ = sorted([*_EXPORTS, *_STATS_EXPORTS])
