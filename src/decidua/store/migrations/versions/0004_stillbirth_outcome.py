"""pregnancy outcome: stillbirth

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:05:00

Adds ``stillbirth`` (fetal death at or after 24 weeks) to the allowed pregnancy
outcomes (issue 13). Downgrade refuses while stillbirths are stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("live_birth", "miscarriage", "biochemical", "ectopic", "molar", "termination",
        "ongoing")
OLD_OUTCOMES = "outcome IN (" + ", ".join(f"'{v}'" for v in _OLD) + ")"
NEW_OUTCOMES = "outcome IN (" + ", ".join(f"'{v}'" for v in (*_OLD, "stillbirth")) + ")"


def upgrade() -> None:
    with op.batch_alter_table("pregnancy", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_pregnancy_outcome"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_pregnancy_outcome"), NEW_OUTCOMES)


def downgrade() -> None:
    n = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM pregnancy WHERE outcome = 'stillbirth'")
    ).scalar()
    if n:
        raise RuntimeError(f"cannot downgrade: {n} stillbirth(s) stored")
    with op.batch_alter_table("pregnancy", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_pregnancy_outcome"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_pregnancy_outcome"), OLD_OUTCOMES)
