"""biopsy calls and clinic marker references

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:10:00

``decidua biopsy analyse`` stores each computed call (normal / abnormal /
uncallable) with its reasons, components, the evidence it used and the rule
version; a new analysis adds a row, none is overwritten. ``decidua reference
fit`` stores a clinic's fitted centile reference of a marker, one row per
version.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "biopsy_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biopsy_id", sa.Integer(), nullable=False),
        sa.Column("call", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rule_version", sa.String(length=32), nullable=False),
        sa.Column("analysis_version", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("call IN ('normal', 'abnormal', 'uncallable')",
                           name=op.f("ck_biopsy_call_call")),
        sa.ForeignKeyConstraint(["biopsy_id"], ["biopsy.id"],
                                name=op.f("fk_biopsy_call_biopsy_id_biopsy"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_biopsy_call")),
    )
    with op.batch_alter_table("biopsy_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_biopsy_call_biopsy_id"), ["biopsy_id"], unique=False)
    op.create_table(
        "marker_reference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("marker", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=128), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marker_reference")),
        sa.UniqueConstraint("marker", "version", name="uq_marker_reference_version"),
    )
    with op.batch_alter_table("marker_reference", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marker_reference_marker"), ["marker"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("marker_reference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marker_reference_marker"))
    op.drop_table("marker_reference")
    with op.batch_alter_table("biopsy_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_biopsy_call_biopsy_id"))
    op.drop_table("biopsy_call")
