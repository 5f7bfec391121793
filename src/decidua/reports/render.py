"""Render report objects: HTML with Jinja2, PDF with WeasyPrint (no network).

The templates are package data under ``decidua/reports/templates``; images are
embedded as ``data:`` URIs in HTML and the only fonts are the system's (DejaVu by
default), so rendering never fetches anything. For the PDF, the page names each
picture ``decidua-image:<sha256>`` and WeasyPrint gets the bytes from a URL fetcher
that serves those pictures and refuses every other URL (nothing on the page can make
WeasyPrint open a connection or a ``file:`` URL; and it parses and decodes no base64,
about 0.5 MB for a patient report). WeasyPrint needs the Pango system libraries
(Debian: ``libpango-1.0-0 libpangoft2-1.0-0``) and a font (``fonts-dejavu-core``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
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


#: Plot kinds laid out side by side in a PDF (``.pair`` in ``base.html``: 48% of the text
#: width each); every other figure prints across the text width.
PAIRED = {"roc": 0.48, "calibration": 0.48}

#: URL scheme of the pictures of a PDF page (served by :func:`pdf_source`'s fetcher).
IMAGE_SCHEME = "decidua-image:"


def _plots(report: Any, fmt: str,
           images: dict[str, tuple[bytes, str]] | None = None) -> list[dict[str, str]]:
    """Each plot's title, caption and picture source: a ``data:`` URI, or with ``images``
    a ``decidua-image:<sha256>`` name whose bytes and MIME type go into ``images``."""
    from decidua.reports import plots

    out = []
    for p in getattr(report, "plots", ()):
        if p.kind == "overlay":  # a stored picture (PNG bytes), shown as it is
            payload, mime = p.data["png"], "image/png"
        else:
            img_fmt = "svg" if fmt == "html" else "png"
            width = PAIRED.get(p.kind, 1.0) * plots.PDF_TEXT_WIDTH_IN
            payload = plots.rendered(p.kind, p.data, img_fmt, print_width_in=width)
            mime = plots.MIME[img_fmt]
        if images is None:
            src = f"data:{mime};base64,{base64.b64encode(payload).decode()}"
        else:
            src = IMAGE_SCHEME + hashlib.sha256(payload).hexdigest()
            images[src] = (payload, mime)
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
    return _page(report, fmt)


def _page(report: Any, fmt: str, images: dict[str, tuple[bytes, str]] | None = None) -> str:
    template = environment().get_template(_template_name(report))
    return template.render(r=report, plots=_plots(report, fmt, images), fmt=fmt)


def _image_fetcher(images: dict[str, tuple[bytes, str]]) -> Callable[..., Any] | None:
    """A WeasyPrint URL fetcher serving ``images`` and refusing every other URL, or
    ``None`` when this WeasyPrint has no fetcher class (before 70: then the page embeds
    the pictures as ``data:`` URIs)."""
    from weasyprint import urls

    if not (hasattr(urls, "URLFetcher") and hasattr(urls, "URLFetcherResponse")):
        return None  # pragma: no cover - WeasyPrint < 70

    class ImageFetcher(urls.URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url not in images:
                raise ValueError(f"report rendering fetches nothing: {url[:80]!r}")
            body, mime = images[url]
            return urls.URLFetcherResponse(url, body, {"Content-Type": mime})

    return ImageFetcher()


def pdf_source(report: Any) -> tuple[str, Any]:
    """The page WeasyPrint lays out for :func:`to_pdf` and its URL fetcher (``None``:
    WeasyPrint's own, the page is then self-contained)."""
    images: dict[str, tuple[bytes, str]] = {}
    page = _page(report, "pdf", images)
    fetcher = _image_fetcher(images)
    if fetcher is None:  # pragma: no cover - WeasyPrint < 70
        return _page(report, "pdf"), None
    return page, fetcher


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
    page, fetcher = pdf_source(report)
    return HTML(string=page, base_url=None, url_fetcher=fetcher).write_pdf()


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
