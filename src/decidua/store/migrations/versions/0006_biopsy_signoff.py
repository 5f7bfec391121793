"""biopsy sign-off: a scientist signs a biopsy's results (versioned, audited)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:15:00

One row per signed version of a biopsy's results: who signed (user name,
display name, role), when, the SHA-256 of the results signed and their ids.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "biopsy_signoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biopsy_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("results_sha256", sa.String(length=64), nullable=False),
        sa.Column("result_ids", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("version >= 1", name=op.f("ck_biopsy_signoff_version")),
        sa.ForeignKeyConstraint(["biopsy_id"], ["biopsy.id"],
                                name=op.f("fk_biopsy_signoff_biopsy_id_biopsy"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_biopsy_signoff")),
        sa.UniqueConstraint("biopsy_id", "version", name="uq_biopsy_signoff_version"),
    )
    with op.batch_alter_table("biopsy_signoff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_biopsy_signoff_biopsy_id"), ["biopsy_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("biopsy_signoff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_biopsy_signoff_biopsy_id"))
    op.drop_table("biopsy_signoff")
