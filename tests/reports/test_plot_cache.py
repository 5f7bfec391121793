"""The in-memory cache of rendered report figures (:func:`decidua.reports.plots.rendered`).

What must hold: a cached picture is byte for byte the picture a fresh drawing gives; a
changed record (or a changed matplotlib setting) changes the key, so its figure is drawn
again; data without a canonical form are drawn uncached; the cache stays within its
bound; a PDF rendered from the cache is the PDF rendered with every figure drawn.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from decidua.domain import Outcome
from decidua.reports import plots, render
from decidua.reports.patient import build_patient_report

ON = dt.date(2025, 6, 1)


@pytest.fixture(autouse=True)
def _empty_cache():  # type: ignore[no-untyped-def]
    plots.clear_cache()
    yield
    plots.clear_cache()


@pytest.fixture
def report(record, biopsy_docs):  # type: ignore[no-untyped-def]
    return build_patient_report(record, biopsy_docs, on=ON, generated_at="2025-06-01T10:00:00Z")


def _plot(report, kind):  # type: ignore[no-untyped-def]
    return next(p for p in report.plots if p.kind == kind)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_cached_picture_is_the_fresh_drawing(report, fmt):  # type: ignore[no-untyped-def]
    for p in report.plots:
        first = plots.rendered(p.kind, p.data, fmt)
        assert plots.rendered(p.kind, p.data, fmt) is first  # served from the cache
        fig = plots.figure(p.kind, p.data)
        fresh = plots.to_png(fig) if fmt == "png" else plots.to_svg(fig).encode()
        assert first == fresh
    assert len(plots._cache) == len(report.plots)


def test_a_changed_record_changes_the_key_and_the_picture(record, biopsy_docs, report):  # type: ignore[no-untyped-def]
    # the fourth loss was a live birth instead: the history figure must change
    preg = list(record.pregnancies)
    preg[3] = dataclasses.replace(preg[3], outcome=Outcome.LIVE_BIRTH, gestation_weeks=38.0)
    other = build_patient_report(dataclasses.replace(record, pregnancies=tuple(preg)),
                                 biopsy_docs, on=ON, generated_at="2025-06-01T10:00:00Z")
    a, b = _plot(report, "history"), _plot(other, "history")
    assert a.data != b.data
    assert plots.cache_key("history", a.data, "png") != plots.cache_key("history", b.data, "png")
    png_a = plots.rendered("history", a.data, "png")
    png_b = plots.rendered("history", b.data, "png")
    assert png_a != png_b
    assert png_b == plots.to_png(plots.figure("history", b.data))
    # one changed number in a plot's data is a different key too
    risk = dict(_plot(report, "risk_series").data)
    bumped = {**risk, "p_loss": [*risk["p_loss"][:-1], risk["p_loss"][-1] + 1e-12]}
    assert plots.cache_key("risk_series", risk, "png") != plots.cache_key(
        "risk_series", bumped, "png")


def test_key_covers_format_resolution_and_matplotlib_settings(report):  # type: ignore[no-untyped-def]
    import matplotlib

    data = _plot(report, "risk_series").data
    key = plots.cache_key("risk_series", data, "png")
    assert key == plots.cache_key("risk_series", dict(reversed(list(data.items()))), "png")
    assert key != plots.cache_key("risk_series", data, "svg")
    assert key != plots.cache_key("risk_series", data, "png", dpi=100)
    # printed narrower (side by side) it is drawn at another resolution: another key
    narrow = plots.cache_key("risk_series", data, "png", print_width_in=3.4)
    assert narrow != key
    assert plots.rendered("risk_series", data, "png", print_width_in=3.4) != plots.rendered(
        "risk_series", data, "png")
    assert plots.cache_key("risk_series", data, "svg", print_width_in=3.4) == plots.cache_key(
        "risk_series", data, "svg")  # the SVG has no resolution
    assert key != plots.cache_key("timing", data, "png")
    with matplotlib.rc_context({"lines.linewidth": 3.0}):
        assert plots.cache_key("risk_series", data, "png") != key
        thick = plots.rendered("risk_series", data, "png")
    assert plots.cache_key("risk_series", data, "png") == key
    assert plots.rendered("risk_series", data, "png") != thick


def test_numpy_values_are_keyed_by_type_and_value_and_other_objects_not_cached():  # type: ignore[no-untyped-def]
    import numpy as np

    base = {"labels": ["before", "after B1"], "p_loss": [0.4, 0.5], "low": [0.3, 0.35],
            "high": [0.5, 0.65]}
    arr = {**base, "p_loss": np.array([0.4, 0.5])}
    assert plots.cache_key("risk_series", arr, "png") is not None
    assert plots.cache_key("risk_series", arr, "png") != plots.cache_key(
        "risk_series", base, "png")
    assert plots.cache_key("risk_series", {**arr, "p_loss": np.array([0.4, 0.6])},
                           "png") != plots.cache_key("risk_series", arr, "png")
    odd = {**base, "extra": object()}
    assert plots.cache_key("risk_series", odd, "png") is None
    assert plots.rendered("risk_series", odd, "png") == plots.rendered("risk_series", base,
                                                                       "png")
    assert len(plots._cache) == 1  # only the keyed one is kept


def test_cache_stays_within_its_bound(report, monkeypatch):  # type: ignore[no-untyped-def]
    sizes = {p.kind: len(plots.rendered(p.kind, p.data, "png")) for p in report.plots}
    plots.clear_cache()
    bound = max(sizes.values()) + 1
    monkeypatch.setattr(plots, "CACHE_BYTES", bound)
    for p in report.plots:
        plots.rendered(p.kind, p.data, "png")
        assert plots._cache_size == sum(len(v) for v in plots._cache.values()) <= bound
    assert list(plots._cache)[-1] == plots.cache_key(report.plots[-1].kind,
                                                     report.plots[-1].data, "png")


def test_pdf_from_the_cache_is_the_pdf_drawn_afresh(report):  # type: ignore[no-untyped-def]
    fresh = render.to_pdf(report)
    assert len(plots._cache) == len(report.plots)
    assert render.to_pdf(report) == fresh


def test_pdf_embeds_each_figure_from_the_fetcher_and_fetches_nothing_else(report):  # type: ignore[no-untyped-def]
    import io

    from PIL import Image
    from pypdf import PdfReader

    page, fetcher = render.pdf_source(report)
    assert "data:image" not in page and page.count(render.IMAGE_SCHEME) == len(report.plots)
    with pytest.raises(ValueError, match="fetches nothing"):
        fetcher.fetch("https://example.org/logo.png")
    with pytest.raises(ValueError, match="fetches nothing"):
        fetcher.fetch("file:///etc/hostname")
    sizes = {Image.open(io.BytesIO(plots.rendered(p.kind, p.data, "png"))).size
             for p in report.plots}
    assert len(sizes) == len(report.plots)
    pdf = PdfReader(io.BytesIO(render.to_pdf(report)))
    # (WeasyPrint shares one resource dictionary between pages: each page lists them all)
    embedded = {img.image.size for pg in pdf.pages for img in pg.images}
    assert embedded == sizes  # every figure, at its full resolution, nothing else
