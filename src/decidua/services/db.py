"""Database safety use cases: verified backup, restore, and a downgrade that keeps data safe.

``db downgrade`` drops tables (``base`` drops every table and the audit
trail), so it needs an admin (:mod:`decidua.services.access`), an explicit
confirmation, and — when any table holds rows — a verified backup: either
written by the downgrade itself (``--backup FILE`` naming a new file) or an
existing verified backup whose schema revision and row counts equal the
database's now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from decidua.errors import InputError


@dataclass(frozen=True)
class DowngradeResult:
    """What a downgrade did: the revision reached and the backup that protects the data."""

    revision: str | None
    backup: Path | None
    rows_before: int


def backup(target: str | Path, url: str | None = None):  # type: ignore[no-untyped-def]
    """Write and verify a backup (see :func:`decidua.store.backup.backup`)."""
    from decidua.store.backup import backup as store_backup

    return store_backup(target, url)


def restore(source: str | Path, url: str | None = None, *, confirmed: bool = False):  # type: ignore[no-untyped-def]
    """Replace the database with a verified backup; a non-empty database needs ``confirmed``.

    Raises
    ------
    InputError
        Not confirmed while the database holds rows.
    decidua.store.session.StoreError
        The backup fails verification or cannot be restored.
    """
    from decidua.store.backup import current_counts, verify
    from decidua.store.backup import restore as store_restore

    verify(source)
    _, counts = current_counts(url)
    if sum(counts.values()) and not confirmed:
        raise InputError(
            f"the database holds {sum(counts.values())} rows that the restore replaces: "
            "add --yes to confirm"
        )
    return store_restore(source, url)


def downgrade(
    revision: str,
    url: str | None = None,
    *,
    confirmed: bool = False,
    backup_file: str | Path | None = None,
) -> DowngradeResult:
    """Downgrade the schema after a confirmation and, if there is data, a verified backup.

    Raises
    ------
    InputError
        Without ``confirmed``; without ``backup_file`` while tables hold rows;
        an existing backup file that is not a verified copy of the database now.
    """
    from decidua.store import migrate
    from decidua.store.backup import backup as store_backup
    from decidua.store.backup import current_counts, verify

    if not confirmed:
        raise InputError(
            f"`db downgrade {revision}` drops tables and the data in them"
            + (" (at base: every table and the audit trail)" if revision == "base" else "")
            + "; add --yes to confirm"
        )
    current, counts = current_counts(url)
    rows = sum(counts.values())
    written: Path | None = None
    if rows:
        if backup_file is None:
            raise InputError(
                f"the database holds {rows} rows: write a verified backup first, e.g. "
                f"`decidua db downgrade {revision} --yes --backup decidua-backup.sqlite`"
            )
        path = Path(backup_file)
        if path.exists():
            info = verify(path)
            if info.revision != current or info.counts != counts:
                raise InputError(
                    f"{path} is not a backup of the database as it is now (revision "
                    f"{info.revision} vs {current}, {info.total_rows} vs {rows} rows): "
                    "give a new file name to write one"
                )
            written = path
        else:
            written = store_backup(path, url).path
    migrate.downgrade(url, revision=revision)
    return DowngradeResult(migrate.current_revision(url), written, rows)
