"""Decidualization curves against the reference bands (a matplotlib Figure).

``plot_time_course(culture, reference)`` draws, per marker, the culture's fold
change over day 0 by culture day (log axis) over the reference's median and
lower-upper centile band on each reference day; the response class is in the
panel title when a reference is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decidua.assays.decidualization.course import CultureCourse
    from decidua.assays.decidualization.reference import DecidualizationReference


def plot_time_course(culture: CultureCourse, reference: DecidualizationReference | None = None,
                     *, width: float = 4.0, height: float = 3.4) -> Any:
    """One panel per marker: the culture's curve, the reference band and median."""
    from matplotlib.figure import Figure

    n = max(1, len(culture.markers))
    fig = Figure(figsize=(width * n, height))
    call = reference.classify(culture) if reference is not None else None
    classes = {m.marker: m.response_class for m in call.markers} if call else {}
    for i, mc in enumerate(culture.markers):
        ax = fig.add_subplot(1, n, i + 1)
        ax.set_yscale("log")
        if reference is not None and mc.marker in reference.markers:
            ds = [0.0, *reference.days(mc.marker)]
            bands = [reference.band(mc.marker, d) for d in ds[1:]]
            lo = [1.0] + [b.low for b in bands]
            hi = [1.0] + [b.high for b in bands]
            med = [1.0] + [b.estimate for b in bands]
            ax.fill_between(ds, lo, hi, color="0.85",
                            label=f"reference {reference.lower:.0%}-{reference.upper:.0%}")
            ax.plot(ds, med, color="0.5", lw=1, ls="--", label="reference median")
        ax.plot(mc.days, mc.fold_change, "o-", color="C0", label=culture.culture)
        title = mc.marker
        if mc.marker in classes:
            title += f" ({classes[mc.marker]})"
        ax.set_title(title)
        ax.set_xlabel("culture day (cAMP + MPA)")
        ax.set_ylabel("fold change over day 0")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
