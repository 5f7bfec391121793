"""assay results: restore the derived-from links migration 0008 erased on SQLite

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 23:55:00

On SQLite, migration 0008 rebuilt ``assay_result`` with foreign keys on; dropping
the old table fired ``ON DELETE SET NULL`` on the table's own ``derived_from_id``,
so every derived result lost the result it was computed from (fixed for future
migrations in ``decidua.store.migrate``). Every such link can be read back from
what the derived row itself stores:

- ``timing``: the placement's key ends with its qPCR result's key
  (``timing:<reference>:plate=<sha>``), on the same biopsy;
- ``cfu`` / ``unk`` pooled summaries: ``values.result_ids`` (linked to the last);
- ``senescence`` index: ``values.qpcr_result_id``;
- ``decidualization`` time course: ``values.from_results`` (linked to the last).

A link is set only when that row exists on the same biopsy and, for timing, is the
one match; every other row is left as it is. Rows that were never linked are not
touched (an ELISA result stored as ``decidualization`` has no ``from_results``).
Nothing was lost on PostgreSQL, where the upgrade finds nothing to do. The
downgrade keeps the links.
"""

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _values(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        out = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _last_int(seq: Any) -> int | None:
    if isinstance(seq, list) and seq and isinstance(seq[-1], int):
        return seq[-1]
    return None


def parent_of(row: Any, qpcr_keys: dict[int, dict[str, int]],
              owner: dict[int, int]) -> int | None:
    """The id of the result ``row`` was derived from, read from the row itself, or
    ``None`` when it cannot be told unambiguously. ``qpcr_keys``: biopsy id ->
    {qPCR result key -> id}; ``owner``: result id -> biopsy id."""
    values = _values(row.values)
    if row.kind == "timing":
        found = [rid for key, rid in qpcr_keys.get(row.biopsy_id, {}).items()
                 if row.result_key.endswith(":" + key)]
        return found[0] if len(found) == 1 else None
    if row.kind in ("cfu", "unk"):
        cand = _last_int(values.get("result_ids"))
    elif row.kind == "senescence":
        q = values.get("qpcr_result_id")
        cand = q if isinstance(q, int) else None
    elif row.kind == "decidualization":
        cand = _last_int(values.get("from_results"))
    else:
        return None
    if cand is None or cand == row.id or owner.get(cand) != row.biopsy_id:
        return None
    return cand


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, biopsy_id, kind, result_key, \"values\", derived_from_id "
        "FROM assay_result ORDER BY id")).mappings().all()
    rows = [SimpleNamespace(**r) for r in rows]
    owner = {r.id: r.biopsy_id for r in rows}
    qpcr_keys: dict[int, dict[str, int]] = {}
    for r in rows:
        if r.kind == "qpcr":
            qpcr_keys.setdefault(r.biopsy_id, {})[r.result_key] = r.id
    update = sa.text("UPDATE assay_result SET derived_from_id = :parent "
                     "WHERE id = :id AND derived_from_id IS NULL")
    for r in rows:
        if r.derived_from_id is not None:
            continue
        parent = parent_of(r, qpcr_keys, owner)
        if parent is not None:
            conn.execute(update, {"parent": parent, "id": r.id})


def downgrade() -> None:
    """The links are correct at 0009 too: nothing to undo."""
