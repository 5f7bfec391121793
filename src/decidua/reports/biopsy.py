"""The biopsy (lab) report: each assay with its provenance, QC, the call, and a signature.

:func:`build_biopsy_report` takes one biopsy's stored results (the document of
``decidua biopsy show --json``) and its sign-offs (plain dicts), and returns a
frozen :class:`BiopsyReport`. :func:`results_digest` is the checksum a sign-off
records: a signature holds only while the results are the ones signed.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath as Path
from typing import Any

from decidua import RESEARCH_USE_LABEL
from decidua.domain import is_elisa_result
from decidua.reports.model import Footer, Plot, Row, Table, footer, sha256_of

#: Fields of a stored result that a signature covers (ids and row times are not content).
SIGNED_FIELDS = ("kind", "result_key", "values", "qc_status", "batch", "source_file",
                 "source_sha256", "importer_version", "analysis_version")


#: First bytes of a PNG file (overlays are PNG: ``save_overlay`` of the CFU / uNK counts).
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def results_digest(results: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of a biopsy's results as signed (:data:`SIGNED_FIELDS`, in stored order).

    Examples
    --------
    >>> a = results_digest([{"kind": "qpcr", "values": {"x": 1}, "id": 3}])
    >>> a == results_digest([{"kind": "qpcr", "values": {"x": 1}, "id": 9}])
    True
    >>> a == results_digest([{"kind": "qpcr", "values": {"x": 2}}])
    False
    """
    return sha256_of([{k: r.get(k) for k in SIGNED_FIELDS} for r in results])


@dataclass(frozen=True)
class Signature:
    """The signature block: who signed which version, or why it is not signed."""

    status: str  # "signed", "stale" (results changed since), "unsigned"
    name: str = ""
    role: str = ""
    date: str = ""
    version: int | None = None
    note: str = ""

    @property
    def text(self) -> str:
        """One line for the report."""
        if self.status == "signed":
            return (f"Signed by {self.name} ({self.role}) on {self.date}, "
                    f"version {self.version}.")
        if self.status == "stale":
            return (f"Version {self.version}, signed by {self.name} on {self.date}, covers "
                    "earlier results: these results are NOT signed.")
        return "Not signed."


@dataclass(frozen=True)
class BiopsyReport:
    """Everything a biopsy report shows.

    Attributes
    ----------
    subject
        Biopsy code.
    details
        ``(label, value)``: patient id, date, cycle, LH+ day, treatment, clinic call.
    call, reasons, rule_version
        The screening call and why.
    components
        Screening components table.
    assays
        One table per stored result: provenance, QC, flags, values.
    signature
        The signature block.
    footer
        Versions, input checksums (results and source files), generation time.
    """

    subject: str
    details: tuple[tuple[str, str], ...]
    call: str
    reasons: tuple[str, ...]
    rule_version: str | None
    components: Table
    assays: tuple[Table, ...]
    signature: Signature
    results_sha256: str
    footer: Footer
    title: str = "Biopsy report"
    label: str = RESEARCH_USE_LABEL
    plots: tuple = ()

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "subject": self.subject,
                "details": [list(d) for d in self.details], "call": self.call,
                "reasons": list(self.reasons), "rule_version": self.rule_version,
                "components": self.components.to_dict(),
                "assays": [t.to_dict() for t in self.assays],
                "signature": {"status": self.signature.status, "text": self.signature.text},
                "results_sha256": self.results_sha256, "footer": self.footer.to_dict(),
                "label": self.label}


def _flat_values(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k in sorted(values):
        v = values[k]
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(_flat_values(v, name + "."))
        elif isinstance(v, float):
            out.append((name, f"{v:.4g}"))
        elif isinstance(v, list):
            out.append((name, ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x)
                                        for x in v) or "-"))
        else:
            out.append((name, "" if v is None else str(v)))
    return out


def elisa_plots(results: Sequence[Mapping[str, Any]]) -> tuple[Plot, ...]:
    """One standard-curve plot per stored ELISA plate (file, plate, analyte) of the results
    (kind ``elisa``, or ``decidualization`` with ``values.assay == "elisa"`` as stored
    before schema revision 0008), this biopsy's sample wells
    on it (in-well concentration = back-calculated concentration / dilution).

    Examples
    --------
    >>> r = {"kind": "decidualization", "source_sha256": "ab", "values": {
    ...     "assay": "elisa", "plate": "P1", "analyte": "PRL", "sample": "d0",
    ...     "culture_day": 0.0, "curve": {"model": "4pl", "params": {"a": 0, "b": 1,
    ...     "c": 9, "d": 2}, "r2": 0.99, "lloq": 1.0, "uloq": 50.0},
    ...     "wells": [{"well": "C1", "od": 0.5, "concentration": 8.0, "dilution": 2.0}]}}
    >>> [p.data["samples"] for p in elisa_plots([r])]
    [[{'label': 'd0 (day 0)', 'x': 4.0, 'od': 0.5}]]
    """
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in results:
        v = r.get("values") or {}
        if not isinstance(v, Mapping) or not is_elisa_result(str(r.get("kind")), dict(v)) \
                or not isinstance(v.get("curve"), Mapping):
            continue
        curve = v["curve"]
        key = (str(r.get("source_sha256") or ""), str(v.get("plate")), str(v.get("analyte")))
        g = groups.setdefault(key, {
            "plate": v.get("plate"), "analyte": v.get("analyte"), "model": curve.get("model"),
            "params": dict(curve.get("params") or {}), "r2": curve.get("r2"),
            "lloq": curve.get("lloq"), "uloq": curve.get("uloq"), "samples": [],
            "file": r.get("source_file")})
        day = v.get("culture_day")
        label = str(v.get("sample")) + ("" if day is None else f" (day {day:g})")
        for w in v.get("wells") or []:
            conc, od = w.get("concentration"), w.get("od")
            if conc is None or od is None or w.get("mask"):
                continue
            g["samples"].append({"label": label, "x": conc / (w.get("dilution") or 1.0),
                                 "od": od})
    out = []
    for (_sha, plate, analyte), g in groups.items():
        if not g["params"] or g["model"] is None:
            continue
        g["samples"].sort(key=lambda s: (s["x"], s["label"]))
        out.append(Plot("elisa_curve", f"ELISA standard curve: {analyte}, plate {plate}", g,
                        f"The fitted standard curve of the plate (from file "
                        f"{g.pop('file') or '?'}) with this biopsy's sample wells on it; "
                        "dashed lines: limits of quantification."))
    return tuple(out)


def build_biopsy_report(
    doc: Mapping[str, Any],
    *,
    patient_id: str,
    biopsy_date: dt.date,
    cycle_number: int | None = None,
    on_treatment: bool = False,
    clinic_call: str | None = None,
    signoffs: Sequence[Mapping[str, Any]] = (),
    overlays: Mapping[str, bytes] | None = None,
    generated_at: dt.datetime | str | None = None,
    decidua_version: str | None = None,
) -> BiopsyReport:
    """Build a biopsy's lab report.

    Parameters
    ----------
    doc
        ``decidua biopsy show --json``: ``biopsy, call, reasons, components,
        rule_version, lh_day, results`` (each result with :data:`SIGNED_FIELDS`).
    patient_id, biopsy_date, cycle_number, on_treatment, clinic_call
        The biopsy's record.
    signoffs
        Stored sign-offs, any order: ``version, actor, display_name, role,
        signed_at`` (date or ISO text), ``results_sha256``, ``note``.
    overlays
        QC overlay pictures (PNG bytes) by the path a result names in
        ``values["overlay"]`` (CFU / uNK counts), as the caller read them; a named
        overlay missing here is reported as not found. Each is shown with its SHA-256,
        which the footer lists too.
    generated_at, decidua_version
        As in :func:`decidua.reports.patient.build_patient_report`.

    Examples
    --------
    >>> doc = {"biopsy": "B1", "call": "uncallable", "reasons": ["no rule"], "components": [],
    ...        "rule_version": None, "lh_day": 7, "results": []}
    >>> r = build_biopsy_report(doc, patient_id="P1", biopsy_date=dt.date(2024, 1, 9),
    ...                         generated_at="2024-02-01T00:00:00Z")
    >>> r.signature.text
    'Not signed.'
    """
    results = list(doc.get("results") or [])
    digest = results_digest(results)
    lh = doc.get("lh_day")
    details = (("Patient id", patient_id), ("Biopsy date", biopsy_date.isoformat()),
               ("Cycle", str(cycle_number or "")),
               ("LH+ day (dates)", f"LH+{lh}" if lh is not None else "unknown"),
               ("On treatment", "yes" if on_treatment else "no"),
               ("Decidual reaction (clinic)", clinic_call or "not recorded"))
    comp = Table("Screening components", ("component", "value", "centile", "reference",
                                          "flag"),
                 tuple(Row((str(c.get("name", "")),
                            "" if c.get("value") is None else f"{c['value']:.3f}",
                            "" if c.get("centile") is None else f"{100 * c['centile']:.0f}",
                            str(c.get("reference") or ""), str(c.get("flag") or "")))
                       for c in doc.get("components") or []),
                 empty="No components: no assay results stored.")
    versions: list[tuple[str, str | None]] = [("screening rules", doc.get("rule_version"))]
    sums: list[tuple[str, str | None]] = [("results", digest)]
    assays = []
    overlay_plots: list[Plot] = []
    for k, r in enumerate(results, start=1):
        values = r.get("values") or {}
        flags = values.get("flags") if isinstance(values, Mapping) else None
        rows = [("kind", str(r.get("kind"))), ("result key", str(r.get("result_key") or "")),
                ("QC status", str(r.get("qc_status") or "")),
                ("QC flags", ", ".join(flags) if flags else "none"),
                ("batch", str(r.get("batch") or "")),
                ("source file", str(r.get("source_file") or "")),
                ("source SHA-256", str(r.get("source_sha256") or "")),
                ("importer", str(r.get("importer_version") or "")),
                ("model / reference", str(r.get("analysis_version") or "-"))]
        rows += [(f"value: {n}", v) for n, v in _flat_values(values) if n != "flags"]
        ov = values.get("overlay") if isinstance(values, Mapping) else None
        if isinstance(ov, str) and ov:
            png = (overlays or {}).get(ov)
            if png is None or not png.startswith(PNG_MAGIC):
                rows.append(("QC overlay", f"{ov}: not found" if png is None
                             else f"{ov}: not a PNG picture, not shown"))
            else:
                osha = hashlib.sha256(png).hexdigest()
                rows.append(("QC overlay", f"{ov} (SHA-256 {osha})"))
                overlay_plots.append(Plot(
                    "overlay", f"QC overlay of result {k} ({r.get('kind')}): "
                    f"{Path(ov).name}", {"png": png},
                    f"The counting program's picture of what it counted; file SHA-256 "
                    f"{osha[:16]}."))
                sums.append((f"overlay {Path(ov).name}", osha))
        assays.append(Table(f"Result {k}: {r.get('kind')}", ("field", "value"),
                            tuple(Row(x) for x in rows)))
        versions.append((f"{r.get('kind')} importer", r.get("importer_version")))
        if r.get("analysis_version"):
            versions.append((f"{r.get('kind')} reference", r.get("analysis_version")))
        sums.append((f"file {r.get('source_file') or '?'}", r.get("source_sha256")))

    plots = (*elisa_plots(results), *overlay_plots)
    sig = Signature("unsigned")
    if signoffs:
        last = max(signoffs, key=lambda s: s["version"])
        when = last.get("signed_at")
        when = when.date().isoformat() if isinstance(when, dt.datetime) else str(when)[:10]
        status = "signed" if last.get("results_sha256") == digest else "stale"
        sig = Signature(status, str(last.get("display_name") or last.get("actor")),
                        str(last.get("role")), when, int(last["version"]),
                        str(last.get("note") or ""))
    foot = footer(versions=versions, checksums=sums, generated_at=generated_at,
                  decidua_version=decidua_version)
    return BiopsyReport(subject=str(doc.get("biopsy")), details=details,
                        call=str(doc.get("call") or "not analysed"),
                        reasons=tuple(doc.get("reasons") or ()),
                        rule_version=doc.get("rule_version"), components=comp,
                        assays=tuple(assays), signature=sig, results_sha256=digest,
                        footer=foot, plots=plots)
