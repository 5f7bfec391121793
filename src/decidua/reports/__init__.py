"""Reports: plain data objects built from stored records, rendered to HTML and PDF.

- :mod:`decidua.reports.model` — footer (versions, input checksums, generation time),
  tables, plots, canonical JSON;
- :mod:`decidua.reports.patient` — the patient report;
- :mod:`decidua.reports.plain` — the plain-language summary (natural frequencies);
- :mod:`decidua.reports.readability` — the Flesch reading-ease score;
- :mod:`decidua.reports.plots` — matplotlib figures (SVG for HTML, PNG for PDF:
  200 dpi or more as printed);
- :mod:`decidua.reports.render` — Jinja2 templates and WeasyPrint.

Pure: no database; the use-case layer (:mod:`decidua.services.reports`) reads the
records and passes them in. Research use only; not a diagnostic device.
"""
