"""`decidua biopsy …` and `decidua import qpcr`: results stored on biopsies."""

from __future__ import annotations

from pathlib import Path

import typer

from decidua.errors import InputError

app = typer.Typer(help="One biopsy's stored assay results.", no_args_is_help=True)


def import_qpcr_cli(file: Path, biopsy_map: Path | None, reference_gene: list[str] | None,
                    *, dry_run: bool, as_json: bool) -> None:
    """`decidua import qpcr FILE --biopsy-map MAP.csv` (called by the import command)."""
    from decidua.cli.core import actor
    from decidua.cli.output import console, echo_json, err_console
    from decidua.services import biopsies
    from decidua.store.session import session_scope

    if biopsy_map is None:
        raise InputError("import qpcr needs --biopsy-map MAP.csv (columns sample, biopsy_id)",
                         file=str(file))
    with session_scope() as s:
        report = biopsies.import_qpcr(s, actor(), file, biopsy_map,
                                      reference_genes=reference_gene or None, dry_run=dry_run)
    for w in report.warnings:
        err_console.print(f"Warning: {w}")
    if as_json:
        echo_json(report.to_dict())
        return
    prefix = "DRY RUN (nothing written) — " if dry_run else ""
    console.print(f"{prefix}qpcr {file}: batch {report.batch}, reference "
                  f"{', '.join(report.reference_genes)}; {len(report.biopsies)} biopsies, "
                  f"inserted {report.inserted}, unchanged {report.unchanged}")
    for b in report.biopsies:
        p = b.get("placement")
        where = (f"LH+{p['estimated_lh_day']:.2f} ({p['interval'][0]:.1f}–{p['interval'][1]:.1f})"
                 + ("" if p["callable"] else " UNCALLABLE: " + p["uncallable_reason"])
                 if p else b.get("placement_reason", ""))
        console.print(f"  {b['biopsy']} (sample {b['sample']}): {where}")
    if report.unmapped_samples:
        console.print("  not stored (not in the map): " + ", ".join(report.unmapped_samples))


@app.command("show")
def show(
    code: str = typer.Argument(..., help="Biopsy code (e.g. EX-001-B1)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Every stored result of one biopsy and the components they give.

    Example: decidua biopsy show EX-001-B1 --json
    """
    from decidua.cli.output import console, echo_json, table
    from decidua.services import biopsies
    from decidua.store.session import session_scope

    with session_scope() as s:
        doc = biopsies.show_biopsy(s, code)
    if as_json:
        echo_json(doc)
        return
    console.print(f"Biopsy {doc['biopsy']} (LH+{doc['lh_day']}): call {doc['call']} — "
                  + "; ".join(doc["reasons"]))
    t = table("Components", ["name", "value", "centile", "reference", "flag"])
    for c in doc["components"]:
        v = c["value"]
        t.add_row(c["name"], "" if v is None else f"{v:.3f}",
                  "" if c["centile"] is None else f"{c['centile']:.0f}",
                  c["reference"] or "", c["flag"] or "")
    console.print(t)
    for r in doc["results"]:
        console.print(f"  result {r['id']}: {r['kind']} {r['result_key']} from "
                      f"{r['source_file']} (sha256 {(r['source_sha256'] or '')[:12]}…, "
                      f"{r['importer_version']}, {r['analysis_version'] or '-'}), "
                      f"QC {r['qc_status']}")
