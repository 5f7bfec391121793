"""pregnancy: fetal heart activity seen before the outcome (nullable)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:00:00

Adds ``pregnancy.fetal_heart_activity`` (issue 13): whether fetal heart activity was
seen on ultrasound before the pregnancy ended (true / false; NULL: not known or not
recorded, which every existing row becomes). The risk model scores a first-trimester
loss after fetal heart activity separately (docs/risk-model.md, "Gestation at loss").
Downgrade drops the column (its values are lost; ``decidua db downgrade`` asks for a
backup first).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pregnancy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fetal_heart_activity", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pregnancy", schema=None) as batch_op:
        batch_op.drop_column("fetal_heart_activity")
