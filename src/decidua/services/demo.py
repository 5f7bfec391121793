"""The bundled SYNTHETIC demo cohort: a fresh database, loaded through the importers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    return database


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
    return reports


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
    first = []
    for group, r in records[:N_SHOWN]:
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
