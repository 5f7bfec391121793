"""Report figures: matplotlib, drawn from a :class:`~decidua.reports.model.Plot`'s data.

SVG for HTML (text as paths, a fixed hash salt and no date: the same data give
the same bytes) and 200-dpi PNG for PDF (no timestamp in the PNG metadata).
matplotlib is imported here only, when a report is rendered.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from typing import Any

#: Resolution of the PNG figures embedded in PDFs.
PDF_DPI = 200


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
    fig = Figure(figsize=(6.0, 2.4), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(labels)))
    ax.errorbar(xs, p, yerr=[[a - b for a, b in zip(p, lo, strict=True)],
                             [b - a for a, b in zip(p, hi, strict=True)]],
                fmt="o-", color="#1f4e79", ecolor="#7f9fbf", capsize=4)
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_ylabel("risk of loss (%)")
    ax.set_ylim(0, min(100.0, max(hi, default=0.0) * 1.15 + 5))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("research use only; not a diagnostic device", fontsize=7)
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
    fig = Figure(figsize=(6.5, 1.9), layout="constrained")
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
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
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
    fig = Figure(figsize=(6.0, 2.6), layout="constrained")
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
    ax.set_title("research use only; not a diagnostic device", fontsize=7)
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
    ax.legend(fontsize=7)
    ax.set_title("research use only; not a diagnostic device", fontsize=7)
    return fig


#: Figure builders by :attr:`Plot.kind`.
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
                                                   if data.get("analyte") else ""), fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return fig


BUILDERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "risk_series": risk_series, "history": history_timeline, "timing": timing,
    "risk_hist": risk_hist, "elisa_curve": elisa_curve}


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


def to_png(fig: Any, dpi: int = PDF_DPI) -> bytes:
    """The figure as PNG bytes at ``dpi`` (no timestamp)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def data_uri(fig: Any, fmt: str) -> str:
    """``data:`` URI of the figure as ``svg`` or ``png``."""
    if fmt == "svg":
        payload, mime = to_svg(fig).encode(), "image/svg+xml"
    else:
        payload, mime = to_png(fig), "image/png"
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"
