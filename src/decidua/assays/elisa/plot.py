"""Plot of a plate's standard curve with its standards and samples (a matplotlib Figure).

``plot_standard_curve(result)`` takes a :class:`~decidua.assays.elisa.PlateResult`
and returns a Figure (no display needed; save with ``fig.savefig``).
Concentration is on a log axis; the zero standard, which a log axis cannot
show, is drawn at the left edge (a fifth of the lowest non-zero standard)
and labelled ``0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from decidua.errors import ModelError

if TYPE_CHECKING:
    from decidua.assays.elisa.plate import PlateResult


def plot_standard_curve(result: PlateResult, *, width: float = 6.4, height: float = 4.8) -> Any:
    """Standards (mean ± SD), the fitted curve, samples placed on it, LLOQ / ULOQ.

    Raises
    ------
    ModelError
        When the plate has no positive standard concentration to scale the axis.
    """
    from matplotlib.figure import Figure

    curve = result.curve
    pts = curve.standards
    pos = [s.concentration for s in pts if s.concentration > 0]
    if not pos:
        raise ModelError(f"plate {result.plate!r}: no positive standard concentration to plot")
    zero_x = min(pos) / 5.0
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xscale("log")
    grid = np.geomspace(zero_x, max(pos) * 2, 200)
    ax.plot(grid, curve.predict(grid), color="0.2", lw=1.5,
            label=f"{curve.model.upper()} fit (R² {curve.r2:.4f})")
    xs = [s.concentration if s.concentration > 0 else zero_x for s in pts]
    ax.errorbar(xs, [s.mean_response for s in pts],
                yerr=[0 if s.sd_response != s.sd_response else s.sd_response for s in pts],
                fmt="o", color="tab:blue", capsize=3, label="standards (mean ± SD)")
    smp = [w for w in result.wells if w.role in ("sample", "control") and w.mask is None
           and w.in_well_concentration is not None]
    if smp:
        ax.plot([w.in_well_concentration for w in smp], [w.od for w in smp], "x",
                color="tab:orange", label="samples (in-well)")
    for q, name in ((result.lloq, "LLOQ"), (result.uloq, "ULOQ")):
        if q is not None:
            ax.axvline(q, color="tab:green", ls="--", lw=1)
            ax.annotate(name, (q, ax.get_ylim()[1]), fontsize=8, ha="center", va="bottom")
    ticks = [zero_x, *[t for t in ax.get_xticks() if zero_x < t <= max(pos) * 2]]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0", *[f"{t:g}" for t in ticks[1:]]])
    ax.set_xlim(zero_x / 1.5, max(pos) * 2)
    ax.set_xlabel("concentration (assay units, in the well)")
    ax.set_ylabel("response (OD)")
    ax.set_title(f"plate {result.plate}" + (f" — {result.analyte}" if result.analyte else ""))
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


__all__ = ["plot_standard_curve"]
