"""`require_schema`: the shipped head read once per process, the database's revision on
every call, so a stale schema is refused however it became stale."""

from __future__ import annotations

import sqlite3

import pytest

from decidua.errors import InputError
from decidua.services.database import SCHEMA_MISSING, require_schema
from decidua.store import migrate
from decidua.store.session import session_scope


def _previous(head: str) -> str:
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(head)
    assert isinstance(rev.down_revision, str)
    return rev.down_revision


def test_head_is_parsed_once_per_process() -> None:
    migrate.head_revision()
    info = migrate._shipped_head.cache_info()
    for _ in range(5):
        assert migrate.head_revision() == migrate._shipped_head()
    after = migrate._shipped_head.cache_info()
    assert after.misses == info.misses and after.hits >= info.hits + 10


def test_stale_schema_still_refused_after_upgrade_and_downgrade(db: str) -> None:
    head = migrate.head_revision()
    with session_scope(db) as s:
        require_schema(s)  # at head: fine (and the head is now cached)
    migrate.downgrade(db, _previous(head))
    with pytest.raises(InputError, match="db upgrade") as exc, session_scope(db) as s:
        require_schema(s)
    assert str(exc.value).startswith(SCHEMA_MISSING)
    migrate.upgrade(db)
    with session_scope(db) as s:
        require_schema(s)
    migrate.downgrade(db, "base")
    with pytest.raises(InputError, match="db upgrade"), session_scope(db) as s:
        require_schema(s)


def test_schema_changed_by_another_process_is_refused(tmp_path) -> None:
    path = tmp_path / "other.sqlite"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    with session_scope(url) as s:
        require_schema(s)
    other = sqlite3.connect(path)  # another program moves the revision back
    with other:
        other.execute(
            "UPDATE alembic_version SET version_num = ?", (_previous(migrate.head_revision()),)
        )
    other.close()
    with pytest.raises(InputError, match="db upgrade"), session_scope(url) as s:
        require_schema(s)
