"""The bundled SYNTHETIC demo cohort: a fresh database, loaded through the importers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua.errors import InputError
from decidua.services.imports import KINDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from decidua.io.importers import ImportReport

#: Acting user recorded for the demo's imports.
DEMO_ACTOR = "demo"
#: Women shown with their risk in the demo summary.
N_SHOWN = 8


def demo_dir() -> Path:
    """Directory of the bundled synthetic demo cohort CSV files."""
    return Path(str(resources.files("decidua") / "data" / "demo"))


def fresh_database(database: str | None = None) -> str:
    """Make the demo database the default one and bring its schema to the latest.

    Parameters
    ----------
    database
        Database URL; ``None`` deletes and recreates ``$DECIDUA_DATA_DIR/demo.sqlite``.

    Returns
    -------
    str
        The URL used.
    """
    from decidua.settings import get_settings
    from decidua.store import migrate
    from decidua.store.session import dispose_engines, set_default_url

    if database is None:
        path = get_settings().demo_path
        dispose_engines()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        database = f"sqlite:///{path}"
    set_default_url(database)
    migrate.upgrade()
    _refuse_records(database)
    return database


def _refuse_records(url: str) -> None:
    """Refuse a database that holds women: the synthetic cohort would mix with (and, by
    id, collide with) real records, with nothing to tell them apart afterwards."""
    from sqlalchemy import func, select

    from decidua.services.database import safe_url
    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(url) as s:
        n = s.scalar(select(func.count()).select_from(m.Patient)) or 0
    if n:
        raise InputError(f"{safe_url(url)} already holds {n} patient(s): the SYNTHETIC demo "
                         "loads into an empty database only (give a new --database, or "
                         "leave it out for a fresh var/demo.sqlite)", column="--database")


def load_demo(
    session: Session,
    actor: str = DEMO_ACTOR,
    *,
    progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
    imported: Callable[[ImportReport], None] | None = None,
) -> list[ImportReport]:
    """Import every demo file, parents first.

    Parameters
    ----------
    progress
        ``progress(kind)`` returns the ``(done, total)`` callback for that file.
    imported
        Called with each file's report once it is imported.
    """
    from decidua.services.imports import import_file
    from decidua.services.users import acting_user, os_login
    from decidua.store.users import ensure_admin

    # the OS login running the demo (and $DECIDUA_USER, if set) administer the demo database
    for name in dict.fromkeys([os_login(), acting_user()]):
        ensure_admin(session, name, actor=actor)
    reports = []
    src = demo_dir()
    for kind in KINDS:
        f = src / f"{kind}.csv"
        if not f.exists():
            continue
        report = import_file(session, actor, kind, f, progress=progress(kind) if progress else None)
        reports.append(report)
        if imported:
            imported(report)
    reports += load_demo_assays(session, actor, progress=progress, imported=imported)
    return reports


def assays_dir() -> Path:
    """Directory of the demo's SYNTHETIC assay files (``decidua.synthetic.assays``)."""
    return demo_dir() / "assays"


def load_demo_assays(
    session: Session,
    actor: str = DEMO_ACTOR,
    *,
    progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
    imported: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Import the demo's qPCR plates, CFU and uNK counts through the same importers
    as a clinic's files, then compute every biopsy's screening call (``biopsy analyse
    --all``). Returns the import reports and, last, the :class:`AnalyseReport`."""
    from decidua.services.biopsies import analyse_biopsies, import_qpcr
    from decidua.services.imports import import_file

    src = assays_dir()
    if not src.is_dir():
        return []
    reports: list[Any] = []
    plates = sorted(p for p in (src / "qpcr").glob("plate-*.csv") if not p.stem.endswith("-map"))
    tick = progress("qpcr") if progress else None
    for i, plate in enumerate(plates, start=1):
        report = import_qpcr(session, actor, plate, plate.with_name(f"{plate.stem}-map.csv"))
        reports.append(report)
        if tick:
            tick(i, len(plates))
    if imported and reports:
        imported(_Count("qpcr plates", len(reports)))
    for kind in ("cfu", "unk"):
        f = src / f"{kind}.csv"
        if f.exists():
            report = import_file(session, actor, kind, f,
                                 progress=progress(kind) if progress else None)
            reports.append(report)
            if imported:
                imported(report)
    cfu_ref = fit_demo_cfu_reference(session, actor)
    if imported and cfu_ref is not None:
        imported(_Count("CFU reference (clinic fit) values", cfu_ref.n))
    analysis = analyse_biopsies(session, actor, all_biopsies=True)
    if imported:
        imported(_Count("screening calls", len(analysis.calls)))
    reports.append(analysis)
    return reports


#: Population label of the demo's own CFU reference.
DEMO_CFU_POPULATION = ("SYNTHETIC demo clinic population (the demo's stored untreated "
                       "biopsies, defective and normal cycles alike)")


def fit_demo_cfu_reference(session: Session, actor: str = DEMO_ACTOR) -> Any:
    """Fit the demo's CFU reference from its own stored CFU results, as a clinic does
    (``decidua reference fit cfu_pct``), so that CFU enters the demo's calls.

    No CFU reference by cycle day is public (docs/screening.md). The fit reads only the
    stored CFU % and cycle day of every untreated biopsy, never ``truth.csv``: the
    reference is the cohort's mixture of defective and normal cycles, a clinic-population
    reference like a clinic's own, not a reference of normal cycles (not circular with the
    truth, but in-sample: the same biopsies are then read against it). Returns the
    :class:`~decidua.services.references.FitReport`, or ``None`` when too few CFU results
    are stored to fit one.
    """
    from decidua.errors import ModelError
    from decidua.services.references import fit_reference

    try:
        return fit_reference(session, actor, "cfu_pct", population=DEMO_CFU_POPULATION)
    except ModelError:
        return None


@dataclass(frozen=True)
class _Count:
    """A line of the demo's progress output (``imported N kind``)."""

    kind: str
    inserted: int


@dataclass(frozen=True)
class DemoSummary:
    """Counts of the loaded cohort and the first women with their risk.

    Attributes
    ----------
    counts
        ``(what, count)`` rows: patients, per group, pregnancies, per outcome,
        biopsies, investigations, interventions.
    first
        For the first :data:`N_SHOWN` women: ``patient_id, group, losses,
        consecutive_losses, live_births, biopsies`` (``(lh_day, call)`` pairs),
        ``p_loss`` and ``interval``.
    """

    counts: list[tuple[str, int]]
    first: list[dict[str, Any]]


def summarize_demo(session: Session, actor: str) -> DemoSummary:
    """What the demo database holds (see :class:`DemoSummary`)."""
    from sqlalchemy import func, select

    from decidua.risk import predict_record
    from decidua.services.biopsies import calls_for_risk
    from decidua.services.patients import patients_query
    from decidua.store import models as m
    from decidua.store.records import to_record

    stmt = patients_query()
    records = [(p.study_group, to_record(p)) for p in session.scalars(stmt)]

    def count(entity: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(entity)) or 0)

    groups = Counter(g for g, _ in records)
    outcomes = Counter(p.outcome.value for _, r in records for p in r.pregnancies)
    counts: list[tuple[str, int]] = [("patients", len(records))]
    counts += [(f"  group {g}", n) for g, n in sorted(groups.items(), key=lambda kv: str(kv[0]))]
    counts.append(("pregnancies", count(m.Pregnancy)))
    counts += [(f"  {o.replace('_', ' ')}", n) for o, n in outcomes.most_common()]
    counts += [
        ("biopsies", count(m.Biopsy)),
        ("investigations", count(m.Investigation)),
        ("interventions", count(m.Intervention)),
    ]
    computed = Counter(session.scalars(select(m.BiopsyCall.call)))
    if computed:
        counts.append(("computed calls", sum(computed.values())))
        counts += [(f"  {c}", computed[c]) for c in ("normal", "abnormal", "uncallable")]
    first = []
    for group, r in records[:N_SHOWN]:
        r, _ = calls_for_risk(session, r)
        est = predict_record(r)
        first.append(
            {
                "patient_id": r.patient_id,
                "group": group,
                "losses": r.n_losses,
                "consecutive_losses": r.consecutive_losses(),
                "live_births": r.n_live_births,
                "biopsies": [
                    (b.lh_day, b.clinic_call.value if b.clinic_call else None) for b in r.biopsies
                ],
                "p_loss": est.p_loss,
                "interval": tuple(est.interval),
            }
        )
    return DemoSummary(counts, first)


def demo_accuracy(session: Session) -> dict[str, Any]:
    """The newest computed call of each demo biopsy against ``truth.csv``'s
    ``defective_cycle`` (abnormal = positive; uncallable biopsies are left out of
    sensitivity and specificity and counted in ``uncallable_share``).

    Returns
    -------
    dict
        ``n``, ``counts`` ({"defective|normal cycle": {call: n}}), ``sensitivity``,
        ``specificity``, ``balanced_accuracy``, ``uncallable_share``.
    """
    import csv

    from sqlalchemy import select

    from decidua.store import models as m

    with (demo_dir() / "truth.csv").open(newline="") as fh:
        truth = {r["biopsy_id"]: r["defective_cycle"].strip().lower() == "true"
                 for r in csv.DictReader(fh)}
    newest: dict[str, str] = {}
    stmt = (select(m.Biopsy.code, m.BiopsyCall.call)
            .join(m.BiopsyCall, m.BiopsyCall.biopsy_id == m.Biopsy.id)
            .order_by(m.BiopsyCall.id))
    for code, call in session.execute(stmt):
        newest[code] = call
    counts: dict[str, Counter[str]] = {"defective cycle": Counter(), "normal cycle": Counter()}
    for code, defective in truth.items():
        counts["defective cycle" if defective else "normal cycle"][newest.get(code, "none")] += 1
    d, n = counts["defective cycle"], counts["normal cycle"]
    sens = d["abnormal"] / max(1, d["abnormal"] + d["normal"])
    spec = n["normal"] / max(1, n["abnormal"] + n["normal"])
    total = len(truth)
    unc = (d["uncallable"] + n["uncallable"] + d["none"] + n["none"]) / max(1, total)
    return {"n": total, "counts": {k: dict(v) for k, v in counts.items()},
            "sensitivity": sens, "specificity": spec,
            "balanced_accuracy": (sens + spec) / 2, "uncallable_share": unc}
