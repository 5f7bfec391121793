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
    fig = Figure(figsize=(6.0, 2.8), layout="constrained")
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


#: Figure builders by :attr:`Plot.kind`.
BUILDERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {"risk_series": risk_series}


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
