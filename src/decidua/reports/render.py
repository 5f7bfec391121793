"""Render report objects: HTML with Jinja2, PDF with WeasyPrint (no network).

The templates are package data under ``decidua/reports/templates``; images are
embedded as ``data:`` URIs and the only fonts are the system's (DejaVu by
default), so rendering never fetches anything. WeasyPrint needs the Pango
system libraries (Debian: ``libpango-1.0-0 libpangoft2-1.0-0``) and a font
(``fonts-dejavu-core``).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from decidua.errors import InputError

#: Output formats by file suffix.
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}

_env: Any = None


def environment():  # type: ignore[no-untyped-def]
    """The Jinja2 environment over the packaged templates (autoescaped)."""
    global _env
    if _env is None:
        import jinja2

        _env = jinja2.Environment(
            loader=jinja2.PackageLoader("decidua.reports", "templates"),
            autoescape=jinja2.select_autoescape(("html",)),
            trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return _env


def _plots(report: Any, fmt: str) -> list[dict[str, str]]:
    from decidua.reports import plots

    out = []
    for p in getattr(report, "plots", ()):
        if p.kind == "overlay":  # a stored picture (PNG bytes), shown as it is
            src = "data:image/png;base64," + base64.b64encode(p.data["png"]).decode()
        else:
            src = plots.rendered_uri(p.kind, p.data, "svg" if fmt == "html" else "png")
        out.append({"kind": p.kind, "title": p.title, "caption": p.caption, "src": src})
    return out


def to_html(report: Any, *, fmt: str = "html") -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    report
        A report object with a ``template`` name (e.g. :class:`PatientReport`).
    fmt
        ``html`` (SVG figures) or ``pdf`` (the page WeasyPrint lays out: PNG figures).
    """
    template = environment().get_template(_template_name(report))
    return template.render(r=report, plots=_plots(report, fmt), fmt=fmt)


def _template_name(report: Any) -> str:
    name = type(report).__name__
    names = {"PatientReport": "patient.html", "BiopsyReport": "biopsy.html",
             "CohortReport": "cohort.html"}
    if name not in names:
        raise TypeError(f"no template for {name}")
    return names[name]


def to_pdf(report: Any) -> bytes:
    """The report as PDF bytes (WeasyPrint, A4, footer on every page)."""
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return HTML(string=to_html(report, fmt="pdf"), base_url=None).write_pdf()


def output_format(path: str | Path) -> str:
    """``html`` or ``pdf`` from the output file's suffix.

    Raises
    ------
    InputError
        Another suffix.

    Examples
    --------
    >>> output_format("letter.PDF")
    'pdf'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"output file {str(path)!r}: use a .pdf or .html name",
                         file=str(path), column="-o")
    return FORMATS[suffix]


def write(report: Any, path: str | Path) -> Path:
    """Render to ``path`` (format from its suffix); returns the path."""
    fmt = output_format(path)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        out.write_bytes(to_pdf(report))
    else:
        out.write_text(to_html(report), encoding="utf-8")
    return out
