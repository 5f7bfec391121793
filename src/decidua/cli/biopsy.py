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
    from decidua.cli.output import console, dry_run_prefix, echo_json, err_console
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
    prefix = dry_run_prefix(dry_run)
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
    where = (f"stored call {doc['call_id']} ({doc['computed_at']})" if doc["stored"]
             else "not stored")
    lh = f"LH+{doc['lh_day']}" if doc["lh_day"] is not None else "LH day unknown"
    console.print(f"Biopsy {doc['biopsy']} ({lh}): call {doc['call']} "
                  f"[rule {doc['rule_version']}, {where}]")
    for r in doc["reasons"]:
        console.print(f"  - {r}")
    t = table("Components", ["name", "value", "centile", "status", "flag", "reference"])
    for c in doc["components"]:
        v = c["value"]
        t.add_row(c["name"], "" if v is None else f"{v:.3f}",
                  "" if c["centile"] is None else f"{100 * c['centile']:.0f}",
                  c.get("status") or "", c["flag"] or "", c["reference"] or "")
    console.print(t)
    for r in doc["results"]:
        console.print(f"  result {r['id']}: {r['kind']} {r['result_key']} from "
                      f"{r['source_file']} (sha256 {(r['source_sha256'] or '')[:12]}…, "
                      f"{r['importer_version']}, {r['analysis_version'] or '-'}), "
                      f"QC {r['qc_status']}")


@app.command("analyse")
def analyse(
    codes: list[str] = typer.Argument(None, help="Biopsy codes (or --all)."),
    all_biopsies: bool = typer.Option(False, "--all", help="Every stored biopsy."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """(Re)compute and store the screening call of biopsies (a new call, never an overwrite).

    Example: decidua biopsy analyse EX-001-B1   |   decidua biopsy analyse --all --json
    """
    from decidua.cli.core import actor
    from decidua.cli.output import console, echo_json
    from decidua.services import biopsies
    from decidua.store.session import session_scope

    if codes and all_biopsies:
        raise InputError("give biopsy codes or --all, not both")
    with session_scope() as s:
        report = biopsies.analyse_biopsies(s, actor(), list(codes or []),
                                           all_biopsies=all_biopsies)
    doc = report.to_dict()
    if as_json:
        echo_json(doc)
        return
    n = doc["calls"]
    console.print(f"{doc['biopsies']} biopsies analysed: {n['normal']} normal, "
                  f"{n['abnormal']} abnormal, {n['uncallable']} uncallable; "
                  f"{doc['inserted']} new calls stored, {doc['unchanged']} unchanged")
    if len(report.calls) <= 50:
        for c in report.calls:
            console.print(f"  {c['biopsy']}: {c['call']} — " + "; ".join(c["reasons"]))


@app.command("sign")
def sign(
    code: str = typer.Argument(..., help="Biopsy code (e.g. EX-001-B1)."),
    note: str = typer.Option(None, "--note", help="A note kept with the signature."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Sign a biopsy's results as they are now (scientist or admin; audited). Signed results
    cannot change; new results need a new signed version.

    Example: decidua biopsy sign EX-001-B1
    """
    from decidua.cli.core import actor
    from decidua.cli.output import console, echo_json
    from decidua.services import reports
    from decidua.store.session import session_scope

    with session_scope() as s:
        res = reports.sign_biopsy(s, actor(), code, note=note)
    if as_json:
        echo_json(res.to_dict())
        return
    what = "signed" if res.created else "already signed (results unchanged)"
    console.print(f"Biopsy {res.biopsy}: {what}, version {res.version}, {res.n_results} "
                  f"results, sha256 {res.results_sha256[:16]}")
