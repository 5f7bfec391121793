"""Report figures: matplotlib, drawn from a :class:`~decidua.reports.model.Plot`'s data.

SVG for HTML (text as paths, a fixed hash salt and no date: the same data give
the same bytes) and PNG for PDF (no timestamp in the PNG metadata), drawn at the
resolution that gives at least 200 dpi at the width the figure prints at
(:func:`pdf_dpi`: the page stretches each figure to the text width, wider than it is
drawn, so a 6.0 in figure is drawn at 237 dpi).
matplotlib is imported here only, when a report is rendered.

Rendered figures are kept in memory (:func:`rendered`), keyed by a content hash of
what draws them: the plot kind, its data, the format, resolution and printed width, the matplotlib
version and its settings. Regenerating a report from the same records and versions
reuses the pictures (the bytes a fresh drawing gives, since drawing is deterministic);
a changed record changes the data, hence the key, and the figure is drawn again.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

#: Least resolution of a PNG figure in a PDF, at the size it prints.
PDF_DPI = 200

#: Width of a PDF page's text block, inches: A4 less the 15 mm side margins of
#: ``templates/base.html``. A figure prints at 100% of its box, never wider than this.
PDF_TEXT_WIDTH_IN = (210 - 2 * 15) / 25.4

# Titles are placed at ``y=1.0`` (the axes top; no figure has ticks on top): left to
# itself matplotlib measures every tick label of the axes to place a title, for the same
# place (the pictures are byte for byte the same; about 10% of the drawing time).

#: Bound of the in-memory cache of rendered figures (bytes of SVG/PNG kept).
CACHE_BYTES = 64 * 2**20


def _legend(ax, **kw):  # type: ignore[no-untyped-def]
    """A legend only when something is labelled (matplotlib warns on an empty one, and a
    warning reaches the user as a line on stderr)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "decidua"
    plt.rcParams["svg.fonttype"] = "path"
    return plt


def risk_series(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Risk with its interval before and after each biopsy (one point per step).

    Examples
    --------
    >>> fig = risk_series({"labels": ["before", "after B1"], "p_loss": [0.4, 0.5],
    ...                    "low": [0.3, 0.35], "high": [0.5, 0.65]})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    labels = list(data["labels"])
    p = [100 * x for x in data["p_loss"]]
    lo = [100 * x for x in data["low"]]
    hi = [100 * x for x in data["high"]]
    fig = Figure(figsize=(6.0, 2.4))  # fixed layout: cheaper than constrained layout
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.16)
    ax = fig.add_subplot()
    xs = list(range(len(labels)))
    ax.errorbar(xs, p, yerr=[[a - b for a, b in zip(p, lo, strict=True)],
                             [b - a for a, b in zip(p, hi, strict=True)]],
                fmt="o-", color="#1f4e79", ecolor="#7f9fbf", capsize=4)
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_xlim(-0.6, len(xs) - 0.4)  # room for the first and last labels
    ax.set_ylabel("risk of loss (%)")
    ax.set_ylim(0, min(100.0, max(hi, default=0.0) * 1.15 + 5))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("research use only; not a diagnostic device", fontsize=7, y=1.0)
    return fig


#: Colours of pregnancy outcomes on the history timeline (losses red, births green).
_OUTCOME_COLOURS = {"loss": "#b22222", "live birth": "#2e7d32", "other": "#777777"}


def history_timeline(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Obstetric history on one time axis: pregnancies (by outcome), biopsies, treatments.

    ``data``: ``x_label``; ``pregnancies`` [{x, label, group}] with ``group`` in
    loss / live birth / other; ``biopsies`` [{x, label}]; ``interventions``
    [{x0, x1, label}]. ``x`` are days from the first event (dates are not drawn:
    the axis is in years from it, so a pseudonymised report shows the same figure).

    Examples
    --------
    >>> fig = history_timeline({"x_label": "years", "pregnancies": [
    ...     {"x": 0, "label": "1", "group": "loss"}], "biopsies": [{"x": 400, "label": "B1"}],
    ...     "interventions": []})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    fig = Figure(figsize=(6.5, 1.9))  # fixed layout: cheaper than constrained layout
    fig.subplots_adjust(left=0.13, right=0.78, top=0.95, bottom=0.22)
    ax = fig.add_subplot()
    for group, colour in _OUTCOME_COLOURS.items():
        pts = [p for p in data["pregnancies"] if p["group"] == group]
        if pts:
            ax.scatter([p["x"] / 365.25 for p in pts], [1.0] * len(pts), s=70, c=colour,
                       marker="o", label=f"pregnancy: {group}", zorder=3)
            for p in pts:
                ax.annotate(p["label"], (p["x"] / 365.25, 1.0), textcoords="offset points",
                            xytext=(0, 7), ha="center", fontsize=7)
    bx = data["biopsies"]
    if bx:
        ax.scatter([b["x"] / 365.25 for b in bx], [0.5] * len(bx), marker="v", s=50,
                   c="#1f4e79", label="biopsy", zorder=3)
    for v in data["interventions"]:
        ax.plot([v["x0"] / 365.25, v["x1"] / 365.25], [0.0, 0.0], lw=6, c="#e0a030",
                solid_capstyle="butt")
        ax.annotate(v["label"], (v["x0"] / 365.25, 0.0), textcoords="offset points",
                    xytext=(0, 6), fontsize=7)
    ax.set_yticks([1.0, 0.5, 0.0], ["pregnancies", "biopsies", "treatment"], fontsize=8)
    ax.set_ylim(-0.4, 1.5)
    ax.set_xlabel(data.get("x_label", "years from the first event"), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    _legend(ax, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def timing(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Each biopsy's LH+ day from the dates against its timing estimate from gene
    expression (with the interval), on the reference's LH+ axis.

    ``data``: ``labels``, ``lh_day`` (from dates, ``None`` unknown), ``estimate``,
    ``low``, ``high`` (``None`` where not measured).

    Examples
    --------
    >>> fig = timing({"labels": ["B1"], "lh_day": [8], "estimate": [6.4], "low": [5.1],
    ...               "high": [7.8]})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    fig = Figure(figsize=(6.0, 2.6))  # fixed layout: cheaper than constrained layout
    fig.subplots_adjust(left=0.17, right=0.98, top=0.9, bottom=0.17)
    ax = fig.add_subplot()
    ys = list(range(len(data["labels"])))
    for y, d, e, lo, hi in zip(ys, data["lh_day"], data["estimate"], data["low"],
                               data["high"], strict=True):
        if e is not None:
            ax.errorbar([e], [y], xerr=[[e - (lo if lo is not None else e)],
                                        [(hi if hi is not None else e) - e]],
                        fmt="s", c="#1f4e79", capsize=4,
                        label="estimate (gene expression)")
        if d is not None:
            ax.plot([d], [y], "o", mfc="none", c="#b22222", label="LH+ day from dates")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="lower right")
    ax.axvspan(5, 9, color="#2e7d32", alpha=0.08)  # the mid-secretory window, LH+5 to LH+9
    ax.set_yticks(ys, data["labels"], fontsize=8)
    ax.set_xlabel("LH+ day")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("research use only; not a diagnostic device", fontsize=7, y=1.0)
    return fig


def risk_hist(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Histogram of risks (0-100 %) per group: ``{"groups": {name: [p, ...]}}``.

    Examples
    --------
    >>> len(risk_hist({"groups": {"rpl": [0.3, 0.5], "control": [0.1]}}).axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    fig = Figure(figsize=(6.0, 2.6), layout="constrained")
    ax = fig.add_subplot()
    bins = [5 * i for i in range(21)]
    for name, ps in data["groups"].items():
        if ps:
            ax.hist([100 * x for x in ps], bins=bins, alpha=0.55, label=f"{name} (n={len(ps)})")
    ax.set_xlabel("risk of losing the next pregnancy (%)")
    ax.set_ylabel("women")
    _legend(ax, fontsize=7)
    ax.set_title("research use only; not a diagnostic device", fontsize=7, y=1.0)
    return fig


def elisa_curve(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """A stored ELISA plate's standard curve (from its stored parameters) with this biopsy's
    samples on it, and the LLOQ / ULOQ.

    The stored result keeps the fitted curve (model and parameters), not the standards'
    ODs, so the curve is drawn from its parameters (:func:`decidua.assays.elisa.models.response`)
    and each sample well at its in-well concentration (back-calculated, dilution removed)
    and OD. ``data``: ``plate, analyte, model, params`` {a, b, c, d[, g]}, ``r2``,
    ``lloq, uloq`` (in the well), ``samples`` [{label, x, od}].

    Examples
    --------
    >>> fig = elisa_curve({"plate": "P1", "analyte": "PRL", "model": "4pl",
    ...     "params": {"a": 0.05, "b": 1.2, "c": 150.0, "d": 3.2}, "r2": 0.999,
    ...     "lloq": 5.0, "uloq": 400.0, "samples": [{"label": "d0", "x": 20.0, "od": 0.4}]})
    >>> len(fig.axes)
    1
    """
    import numpy as np
    from matplotlib.figure import Figure

    from decidua.assays.elisa.models import response

    _pyplot()
    params = data["params"]
    theta = np.array([float(params[k]) for k in ("a", "b", "c", "d", "g") if k in params])
    xs = [float(s["x"]) for s in data.get("samples", ()) if s.get("x") and s["x"] > 0]
    qs = [float(q) for q in (data.get("lloq"), data.get("uloq")) if q and q > 0]
    c = abs(float(params["c"])) or 1.0
    lo = min([*xs, *qs, c / 30.0]) / 2.0
    hi = max([*xs, *qs, c * 30.0]) * 2.0
    fig = Figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    grid = np.geomspace(lo, hi, 200)
    r2 = data.get("r2")
    ax.plot(grid, response(str(data["model"]), grid, theta), color="0.2", lw=1.5,
            label=f"{str(data['model']).upper()} standard curve"
            + (f" (R\u00b2 {r2:.4f})" if isinstance(r2, float) else ""))
    pts = [s for s in data.get("samples", ()) if s.get("x") and s["x"] > 0
           and s.get("od") is not None]
    if pts:
        ax.plot([s["x"] for s in pts], [s["od"] for s in pts], "x", color="tab:orange",
                ms=8, mew=2, label="this biopsy's samples (in the well)")
        for s in pts:
            ax.annotate(str(s.get("label", "")), (s["x"], s["od"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    for q, name in ((data.get("lloq"), "LLOQ"), (data.get("uloq"), "ULOQ")):
        if q and q > 0:
            ax.axvline(q, color="tab:green", ls="--", lw=1)
            ax.annotate(name, (q, ax.get_ylim()[1]), fontsize=7, ha="center", va="bottom")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("concentration (assay units, in the well)")
    ax.set_ylabel("response (OD)")
    ax.set_title(f"plate {data.get('plate')}" + (f" \u2014 {data['analyte']}"
                                                   if data.get("analyte") else ""),
                 fontsize=9, y=1.0)
    _legend(ax, fontsize=7, loc="best")
    return fig

#: Line styles of the centile lines of a centile chart, by centile.
_CENTILE_STYLE = {"10": (":", 0.8), "25": ("--", 0.9), "50": ("-", 1.4), "75": ("--", 0.9),
                  "90": (":", 0.8)}


def marker_centiles(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Small multiples: each marker on its reference's centile chart by cycle day, with
    this woman's biopsies at the day each was read on.

    ``data``: ``panels`` [{``marker``, ``reference``, ``y_label``, ``points`` [{label,
    day, value, centile}], and either ``days`` + ``centiles`` {"10": [...], ...} (a fitted
    reference) or ``range`` {low, high, day_min, day_max} (a published range)}]. Each line
    and point carries an SVG id (``gid``): ``centile-<marker>-<c>``, ``range-<marker>``,
    ``biopsies-<marker>``.

    Examples
    --------
    >>> fig = marker_centiles({"panels": [{"marker": "IGFBP1 dCq", "reference": "r",
    ...     "y_label": "dCq", "days": [5, 6, 7], "centiles": {"50": [1, 2, 3]},
    ...     "points": [{"label": "B1", "day": 6, "value": 2.5, "centile": 0.7}]}]})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    _pyplot()
    panels = list(data["panels"])
    ncol = 1 if len(panels) == 1 else (2 if len(panels) <= 4 else 3)
    nrow = -(-len(panels) // ncol)
    height = 1.75 * nrow + 0.55
    # a fixed layout (no constrained layout: it lays every text out again, and this figure
    # has many small axes)
    fig = Figure(figsize=(6.6, height))
    fig.subplots_adjust(left=0.08, right=0.95, top=1 - 0.3 / height, bottom=0.4 / height,
                        wspace=0.38, hspace=0.45)
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True)
    for k, ax in enumerate(axes.flat):
        if k >= len(panels):
            ax.set_axis_off()
            continue
        pn = panels[k]
        tag = "".join(ch if ch.isalnum() else "_" for ch in str(pn["marker"]))
        if "centiles" in pn:
            days, cs = pn["days"], pn["centiles"]
            if "25" in cs and "75" in cs:
                ax.fill_between(days, cs["25"], cs["75"], color="#1f4e79", alpha=0.12, lw=0)
            for c, ys in cs.items():
                ls, lw = _CENTILE_STYLE.get(c, ("-", 0.8))
                (line,) = ax.plot(days, ys, ls=ls, lw=lw, c="#1f4e79")
                line.set_gid(f"centile-{tag}-{c}")
                if c in ("10", "50", "90"):
                    ax.text(days[-1], ys[-1], f" {c}", fontsize=5, va="center",
                            c="#1f4e79")
        if "range" in pn:
            r = pn["range"]
            patch = ax.fill_between([r["day_min"], r["day_max"]], [r["low"]] * 2,
                                    [r["high"]] * 2, color="#2e7d32", alpha=0.15, lw=0)
            patch.set_gid(f"range-{tag}")
        pts = pn["points"]
        sc = ax.scatter([p["day"] for p in pts], [p["value"] for p in pts], c="#b22222",
                        s=20, zorder=4)
        sc.set_gid(f"biopsies-{tag}")
        for p in pts:
            ax.text(p["day"], p["value"], " " + str(p["label"]).replace("Biopsy ", "B"),
                    fontsize=5.5, c="#b22222", va="bottom")
        ax.set_title(str(pn["marker"]), fontsize=7.5, y=1.0, pad=2)
        ax.set_ylabel(str(pn.get("y_label", "")), fontsize=5.5, labelpad=1)
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.tick_params(labelsize=6, pad=1, length=2)
        ax.grid(alpha=0.25)
    for j in range(ncol):  # day labels under the lowest panel of each column
        col = [ax for ax in axes[:, j] if ax.axison]
        if col:
            col[-1].set_xlabel("LH+ day", fontsize=6.5, labelpad=1)
            col[-1].xaxis.set_tick_params(labelbottom=True)
    fig.suptitle("research use only; not a diagnostic device", fontsize=6.5, y=0.995)
    return fig


def before_after(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Before / after an intervention: the risk with its interval at both biopsies (left)
    and each marker's centile at both (right), one row per intervention.

    ``data``: ``interventions`` [{``label``, ``risk`` {``before``, ``after``: [p, low,
    high]}, ``centiles`` {marker: [before, after]}}]. SVG ids: ``risk-<k>``,
    ``centile-<k>-<marker>``.

    Examples
    --------
    >>> fig = before_after({"interventions": [{"label": "sitagliptin", "risk": {
    ...     "before": [0.4, 0.3, 0.5], "after": [0.3, 0.2, 0.4]},
    ...     "centiles": {"IGFBP1 dCq": [0.9, 0.5]}}]})
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    _pyplot()
    ivs = list(data["interventions"])
    height = 2.1 * len(ivs) + 0.3
    fig = Figure(figsize=(6.6, height))  # fixed layout (cheaper than constrained)
    fig.subplots_adjust(left=0.09, right=0.8, top=1 - 0.45 / height, bottom=0.3 / height,
                        wspace=0.3, hspace=0.5)
    axes = fig.subplots(len(ivs), 2, squeeze=False)
    for k, (iv, (ax_r, ax_c)) in enumerate(zip(ivs, axes, strict=True)):
        pts = [iv["risk"]["before"], iv["risk"]["after"]]
        ys = [100 * p[0] for p in pts]
        err = [[100 * (p[0] - p[1]) for p in pts], [100 * (p[2] - p[0]) for p in pts]]
        cont = ax_r.errorbar([0, 1], ys, yerr=err, fmt="o-", c="#1f4e79", ecolor="#7f9fbf",
                             capsize=4)
        cont.lines[0].set_gid(f"risk-{k}")
        ax_r.set_xticks([0, 1], ["before", "after"], fontsize=7)
        ax_r.set_xlim(-0.4, 1.4)
        ax_r.set_ylim(0, min(100.0, max(100 * p[2] for p in pts) * 1.15 + 5))
        ax_r.set_ylabel("risk of loss (%)", fontsize=7)
        ax_r.set_title(str(iv["label"]), fontsize=8, y=1.0)
        ax_r.tick_params(labelsize=6.5)
        for name, (cb, ca) in iv["centiles"].items():
            tag = "".join(ch if ch.isalnum() else "_" for ch in str(name))
            (line,) = ax_c.plot([0, 1], [100 * cb, 100 * ca], "o-", lw=1, ms=3)
            line.set_gid(f"centile-{k}-{tag}")
            ax_c.text(1.05, 100 * ca, str(name), fontsize=5.5, va="center")
        ax_c.axhspan(25, 75, color="#1f4e79", alpha=0.08)
        ax_c.set_xticks([0, 1], ["before", "after"], fontsize=7)
        ax_c.set_xlim(-0.2, 1.2)
        ax_c.set_ylim(0, 100)
        ax_c.set_ylabel("centile for the day", fontsize=7)
        ax_c.tick_params(labelsize=6.5)
        for ax in (ax_r, ax_c):
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle("research use only; not a diagnostic device", fontsize=6.5, y=0.995)
    return fig


def roc(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Empirical ROC curve with the AUC and its interval, and the index calls as points.

    ``data``: ``fpr``, ``tpr``, ``auc``, ``low``, ``high``, ``points`` [{label, fpr, tpr}].
    SVG ids: ``roc-curve``, ``roc-point-<k>``.

    Examples
    --------
    >>> len(roc({"fpr": [0, 0.5, 1], "tpr": [0, 1, 1], "auc": 0.75, "low": 0.5,
    ...          "high": 0.9, "points": []}).axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    fig = Figure(figsize=(3.6, 3.3))
    fig.subplots_adjust(left=0.16, right=0.97, top=0.9, bottom=0.14)
    ax = fig.add_subplot()
    (line,) = ax.plot(data["fpr"], data["tpr"], drawstyle="steps-post", c="#1f4e79",
                      label=f"risk: AUC {data['auc']:.3f} ({data['low']:.3f}-"
                            f"{data['high']:.3f})")
    line.set_gid("roc-curve")
    ax.plot([0, 1], [0, 1], ls=":", c="0.5", lw=0.8)
    for k, pt in enumerate(data.get("points") or ()):
        (m,) = ax.plot([pt["fpr"]], [pt["tpr"]], "o", ms=5, label=str(pt["label"]))
        m.set_gid(f"roc-point-{k}")
    ax.set_xlabel("1 - specificity", fontsize=7)
    ax.set_ylabel("sensitivity", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.tick_params(labelsize=6.5)
    _legend(ax, fontsize=6, loc="lower right")
    ax.set_title("research use only; not a diagnostic device", fontsize=6.5, y=1.0)
    return fig


def calibration(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Observed share of events (with its interval) against the mean predicted risk by bin.

    ``data``: ``bins`` [{predicted, observed, low, high, n}]. SVG id ``calibration-points``.

    Examples
    --------
    >>> len(calibration({"bins": [{"predicted": 0.3, "observed": 0.25, "low": 0.1,
    ...                            "high": 0.5, "n": 20}]}).axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    fig = Figure(figsize=(3.6, 3.3))
    fig.subplots_adjust(left=0.16, right=0.97, top=0.9, bottom=0.14)
    ax = fig.add_subplot()
    bins = list(data["bins"])
    xs = [100 * b["predicted"] for b in bins]
    ys = [100 * b["observed"] for b in bins]
    err = [[100 * (b["observed"] - b["low"]) for b in bins],
           [100 * (b["high"] - b["observed"]) for b in bins]]
    cont = ax.errorbar(xs, ys, yerr=err, fmt="o", c="#1f4e79", ecolor="#7f9fbf", capsize=3)
    cont.lines[0].set_gid("calibration-points")
    for b, x, y in zip(bins, xs, ys, strict=True):
        ax.text(x, y, f"  n={b['n']}", fontsize=5.5, va="center")
    ax.plot([0, 100], [0, 100], ls=":", c="0.5", lw=0.8)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("mean predicted risk of loss (%)", fontsize=7)
    ax.set_ylabel("observed losses (%)", fontsize=7)
    ax.tick_params(labelsize=6.5)
    ax.set_title("research use only; not a diagnostic device", fontsize=6.5, y=1.0)
    return fig


def centile_groups(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Box plots of each marker's centiles by study group (one panel per marker).

    ``data``: ``markers`` {marker: {group: [centile 0-100, ...]}}. SVG ids
    ``centiles-<marker>-<group>`` on each box's median line.

    Examples
    --------
    >>> len(centile_groups({"markers": {"IGFBP1 dCq": {"rpl": [10, 50], "control": [40]}}}
    ...                    ).axes)
    1
    """
    from matplotlib.figure import Figure

    _pyplot()
    markers = list(data["markers"].items())
    ncol = min(3, len(markers))
    nrow = -(-len(markers) // ncol)
    height = 1.7 * nrow + 0.4
    fig = Figure(figsize=(6.6, height))
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.3 / height, bottom=0.35 / height,
                        wspace=0.25, hspace=0.6)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(markers):
            ax.set_axis_off()
            continue
        name, groups = markers[k]
        tag = "".join(ch if ch.isalnum() else "_" for ch in str(name))
        labels = list(groups)
        bp = ax.boxplot([groups[g] for g in labels], widths=0.5, showfliers=False)
        for g, med in zip(labels, bp["medians"], strict=True):
            med.set_gid(f"centiles-{tag}-{''.join(c if c.isalnum() else '_' for c in g)}")
        ax.set_xticks(range(1, len(labels) + 1), [f"{g}\n(n={len(groups[g])})" for g in labels],
                      fontsize=5.5)
        ax.set_ylim(0, 100)
        ax.axhspan(25, 75, color="#1f4e79", alpha=0.06)
        ax.set_title(str(name), fontsize=7, y=1.0, pad=2)
        ax.tick_params(labelsize=6, pad=1, length=2)
    fig.suptitle("centile for the day (research use only; not a diagnostic device)",
                 fontsize=6.5, y=0.995)
    return fig


def arms(data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Each woman's marker before and after the start of a trial intervention, by arm.

    ``data``: ``panels`` [{marker, effect, arms {name: [[before, after], ...]}}]. SVG ids
    ``arm-<k>-<arm>``.

    Examples
    --------
    >>> len(arms({"panels": [{"marker": "cfu", "effect": "rate ratio 1.5 (1.1-2.0)",
    ...     "arms": {"treated": [[8, 14]], "control": [[12, 11]]}}]}).axes)
    1
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    _pyplot()
    panels = list(data["panels"])
    fig = Figure(figsize=(6.6, 2.6))
    fig.subplots_adjust(left=0.08, right=0.98, top=0.82, bottom=0.12, wspace=0.3)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = {"treated": "#b22222", "control": "#1f4e79"}
    for k, (ax, pn) in enumerate(zip(axes, panels, strict=True)):
        for j, (arm, pairs) in enumerate(pn["arms"].items()):
            x0, x1 = j * 3.0, j * 3.0 + 1.0
            lc = LineCollection([[(x0, b), (x1, a)] for b, a in pairs], colors=colours.get(
                arm, "0.4"), linewidths=0.6, alpha=0.6)
            lc.set_gid(f"arm-{k}-{arm}")
            ax.add_collection(lc)
        ax.autoscale()
        ticks = [(j * 3.0, j * 3.0 + 1.0) for j in range(len(pn["arms"]))]
        ax.set_xticks([t for pair in ticks for t in pair],
                      [f"{a}\n{w}" for a in pn["arms"] for w in ("before", "after")],
                      fontsize=6)
        ax.set_title(f"{pn['marker']}: {pn.get('effect', '')}", fontsize=7, y=1.0)
        ax.tick_params(labelsize=6)
    fig.suptitle("research use only; not a diagnostic device", fontsize=6.5)
    return fig


#: Figure builders by :attr:`Plot.kind`.
BUILDERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "risk_series": risk_series, "history": history_timeline, "timing": timing,
    "risk_hist": risk_hist, "elisa_curve": elisa_curve,
    "marker_centiles": marker_centiles, "before_after": before_after, "roc": roc,
    "calibration": calibration, "centile_groups": centile_groups, "arms": arms}


def figure(kind: str, data: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """The figure of a plot kind (``KeyError`` names the known kinds)."""
    try:
        build = BUILDERS[kind]
    except KeyError:
        raise KeyError(f"unknown plot {kind!r}; known: {', '.join(BUILDERS)}") from None
    return build(data)


def to_svg(fig: Any) -> str:
    """The figure as SVG text (deterministic)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def pdf_dpi(fig_width_in: float, print_width_in: float = PDF_TEXT_WIDTH_IN,
            min_dpi: int = PDF_DPI) -> int:
    """The resolution (whole dots per inch) to draw a figure ``fig_width_in`` wide at, so
    that printed ``print_width_in`` wide it has at least ``min_dpi`` (never less than
    ``min_dpi`` either: a figure printed narrower than drawn keeps its resolution).

    Examples
    --------
    >>> pdf_dpi(6.0), pdf_dpi(6.6), pdf_dpi(3.6, 0.48 * PDF_TEXT_WIDTH_IN)
    (237, 215, 200)
    """
    return max(min_dpi, math.ceil(min_dpi * print_width_in / fig_width_in - 1e-9))


def to_png(fig: Any, dpi: int | None = None,
           print_width_in: float = PDF_TEXT_WIDTH_IN) -> bytes:
    """The figure as PNG bytes at ``dpi`` (by default :func:`pdf_dpi` for a figure printed
    ``print_width_in`` wide; no timestamp), RGB on white: without an alpha channel
    WeasyPrint embeds the PNG data as they are instead of splitting out a mask."""
    from PIL import Image

    if dpi is None:
        dpi = pdf_dpi(fig.get_figwidth(), print_width_in)
    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi, facecolor="white")
    data = raw.getvalue()
    width = round(fig.get_figwidth() * dpi)
    height = len(data) // (4 * width)
    if width * height * 4 != len(data):  # the renderer rounded otherwise: let it say
        width = int(fig.get_figwidth() * dpi)
        height = len(data) // (4 * width)
    img = Image.frombuffer("RGBA", (width, height), data, "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi), compress_level=6)
    return buf.getvalue()


#: MIME types of the rendered formats.
MIME = {"svg": "image/svg+xml", "png": "image/png"}


def data_uri(fig: Any, fmt: str) -> str:
    """``data:`` URI of the figure as ``svg`` or ``png``."""
    payload = to_svg(fig).encode() if fmt == "svg" else to_png(fig)
    return f"data:{MIME[fmt]};base64,{base64.b64encode(payload).decode()}"


_cache: OrderedDict[str, bytes] = OrderedDict()
_cache_lock = threading.Lock()
_cache_size = 0


def _canonical(obj: Any) -> Any:
    """JSON stand-in for the non-JSON values plot data may hold (numpy numbers and
    arrays), tagged with their type so that no two different values share a key;
    anything else is refused (``TypeError``: the figure is then drawn uncached)."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        return {"__ndarray__": str(obj.dtype), "shape": list(obj.shape), "v": obj.tolist()}
    if isinstance(obj, np.generic):
        return {"__numpy__": type(obj).__name__, "v": obj.item()}
    raise TypeError(f"plot data of type {type(obj).__name__} has no cache key")


def cache_key(kind: str, data: Mapping[str, Any], fmt: str, dpi: int = PDF_DPI,
              print_width_in: float = PDF_TEXT_WIDTH_IN) -> str | None:
    """SHA-256 of everything the rendered figure depends on, or ``None`` when the data
    have no canonical form (then the figure is not cached).

    The key covers the plot kind, its data (canonical JSON: sorted keys, exact floats),
    the format, the resolution (PNG: the least ``dpi`` at the printed width
    ``print_width_in``, which with the figure's own width fix the resolution it is drawn
    at, :func:`pdf_dpi`), the matplotlib version and every matplotlib setting
    (``rcParams``) at render time.

    Examples
    --------
    >>> a = cache_key("risk_series", {"labels": ["before"], "p_loss": [0.4]}, "png")
    >>> a == cache_key("risk_series", {"p_loss": [0.4], "labels": ["before"]}, "png")
    True
    >>> a == cache_key("risk_series", {"labels": ["before"], "p_loss": [0.41]}, "png")
    False
    """
    import matplotlib

    _pyplot()
    try:
        png = fmt == "png"
        doc = json.dumps({"kind": kind, "fmt": fmt, "dpi": dpi if png else None,
                          "print_width_in": print_width_in if png else None,
                          "data": data}, sort_keys=True, default=_canonical)
    except (TypeError, ValueError):
        return None
    rc = repr(sorted(dict.items(matplotlib.rcParams)))
    h = hashlib.sha256()
    for part in ("decidua.reports.plots/2", matplotlib.__version__, rc, doc):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def rendered(kind: str, data: Mapping[str, Any], fmt: str,
             print_width_in: float = PDF_TEXT_WIDTH_IN) -> bytes:
    """The figure of ``kind`` drawn from ``data`` as ``svg`` (UTF-8) or ``png`` bytes (at
    least 200 dpi printed ``print_width_in`` wide: :func:`to_png`), from the in-memory
    cache when the same figure was drawn before (see
    :func:`cache_key`); the cache keeps at most :data:`CACHE_BYTES`, least recently used
    first out."""
    global _cache_size
    if fmt not in MIME:
        raise ValueError(f"unknown figure format {fmt!r}; known: {', '.join(MIME)}")
    key = cache_key(kind, data, fmt, print_width_in=print_width_in)
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    fig = figure(kind, data)
    payload = to_svg(fig).encode() if fmt == "svg" else to_png(fig,
                                                                 print_width_in=print_width_in)
    if key is not None and len(payload) <= CACHE_BYTES:
        with _cache_lock:
            if key not in _cache:
                _cache[key] = payload
                _cache_size += len(payload)
            while _cache_size > CACHE_BYTES:
                _, old = _cache.popitem(last=False)
                _cache_size -= len(old)
    return payload


def rendered_uri(kind: str, data: Mapping[str, Any], fmt: str) -> str:
    """``data:`` URI of :func:`rendered`."""
    return f"data:{MIME[fmt]};base64,{base64.b64encode(rendered(kind, data, fmt)).decode()}"


def clear_cache() -> None:
    """Forget every rendered figure (the next render draws them again)."""
    global _cache_size
    with _cache_lock:
        _cache.clear()
        _cache_size = 0
