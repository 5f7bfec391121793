"""Plots of a timing reference and of centiles (matplotlib Figures, no display needed).

They use the public attributes of the objects only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from decidua.assays.timing.validation import validate_timing_table
from decidua.errors import ModelError

if TYPE_CHECKING:
    from decidua.assays.timing.centiles import TimingCentiles
    from decidua.assays.timing.reference import TimingReference
    from decidua.assays.timing.results import Placement


def _figure(nrows: int = 1, ncols: int = 1, **kw: Any):  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def plot_gene_curves(
    reference: TimingReference,
    placement: Placement | None = None,
    new_biopsies: pd.DataFrame | None = None,
):  # type: ignore[no-untyped-def]
    """Per-gene curves (mean ± SD) over estimated LH day with the cohort's points.

    ``placement`` with the matching ``new_biopsies`` table highlights new biopsies.
    Returns a matplotlib Figure (Agg; no display needed).

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> fig = plot_gene_curves(load_default_reference())
    >>> len(fig.axes)
    6
    """
    res = reference.result
    if res is None:
        raise ModelError("the timing reference has not been fitted or loaded")
    genes = reference.genes
    expression = reference.expression
    ncols = 3
    nrows = int(math.ceil(len(genes) / ncols))
    fig, axes = _figure(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), layout="constrained")
    curves = reference.curves()
    tc = curves["estimated_lh_day"].to_numpy()
    xs_new = None
    if placement is not None and new_biopsies is not None:
        data = validate_timing_table(new_biopsies, genes, require_lh=False)
        xs_new = reference.scale(data)
    for j, g in enumerate(genes):
        ax = axes[j // ncols][j % ncols]
        mean, sd = curves[f"{g}_mean"].to_numpy(), curves[f"{g}_sd"].to_numpy()
        ax.scatter(res.estimated_lh_day, expression[:, j], s=6, c="0.6", label="reference")
        ax.plot(tc, mean, c="C0", lw=2, label="curve")
        ax.fill_between(
            tc,
            mean - sd,
            mean + sd,
            color="C0",
            alpha=0.2,
        )
        if xs_new is not None and placement is not None:
            ax.scatter(
                placement.estimated_lh_day,
                xs_new[:, j],
                s=40,
                c="C3",
                marker="*",
                zorder=5,
                label="new biopsy",
            )
        ax.set_title(g)
        ax.set_xlabel("estimated LH+ day")
        ax.set_ylabel("scaled −ΔCt")
    for k in range(len(genes), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Timing reference (research use only; not a diagnostic device)", fontsize=9)
    return fig


def plot_asynchrony(reference: TimingReference):  # type: ignore[no-untyped-def]
    """Sorted asynchrony scores of the reference with the threshold.

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> plot_asynchrony(load_default_reference()).axes[0].get_ylabel()
    'asynchrony score (days)'
    """
    res = reference.result
    if res is None:
        raise ModelError("the timing reference has not been fitted or loaded")
    fig, axes = _figure(figsize=(5, 3.5), layout="constrained")
    ax = axes[0][0]
    y = np.sort(res.asynchrony_score)
    ax.plot(np.arange(1, len(y) + 1), y, ".", ms=3)
    ax.axhline(res.asynchrony_threshold, c="C3", ls="--", label="threshold")
    ax.set_xlabel("rank")
    ax.set_ylabel("asynchrony score (days)")
    ax.legend()
    return fig


def plot_centiles(centiles: TimingCentiles, time: float | None = None, value: float | None = None):  # type: ignore[no-untyped-def]
    """Centile chart (5/10/50/90/95) over cycle time, with a patient's value.

    Examples
    --------
    >>> from decidua.assays.timing import TimingCentiles
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(1, 13, 200)
    >>> c = TimingCentiles("marker").fit(t, t + rng.normal(0, 1, 200))
    >>> plot_centiles(c, time=7.0, value=8.0).axes[0].get_xlabel()
    'estimated_lh_day'
    """
    knots = centiles.knots
    if knots is None:
        raise ModelError("centiles have not been fitted or loaded")
    grid = np.linspace(knots[0], knots[-1], 100)
    tab = centiles.curves(grid)
    fig, axes = _figure(figsize=(5.5, 4), layout="constrained")
    ax = axes[0][0]
    for col in tab.columns[1:]:
        ax.plot(grid, tab[col], c="C0", lw=2 if col == "p50" else 1, label=col)
    if time is not None and value is not None:
        ax.plot([time], [value], "*", c="C3", ms=14, label="patient")
    ax.set_xlabel(centiles.time_name)
    ax.set_ylabel(centiles.marker)
    ax.legend(fontsize=7)
    ax.set_title("research use only; not a diagnostic device", fontsize=8)
    return fig
