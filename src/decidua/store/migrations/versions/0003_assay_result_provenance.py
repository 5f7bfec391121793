"""assay results: qpcr kind, importer / analysis versions, derived-from link

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00

qPCR marker expression is stored as an assay result of kind ``qpcr``; each
result records the importer version, the model / reference version it was
computed with and, for a derived result (a timing placement), the result it
was computed from. Re-analysis adds rows; none is overwritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('timing', 'cfu', 'methylation', 'decidualization', 'unk')"
NEW_KINDS = "kind IN ('timing', 'cfu', 'methylation', 'decidualization', 'unk', 'qpcr')"


def upgrade() -> None:
    with op.batch_alter_table("assay_result", schema=None) as batch_op:
        batch_op.add_column(sa.Column("importer_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("analysis_version", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("derived_from_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_assay_result_derived_from_id_assay_result"),
            "assay_result", ["derived_from_id"], ["id"], ondelete="SET NULL",
        )
        batch_op.drop_constraint(batch_op.f("ck_assay_result_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_assay_result_kind"), NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM assay_result WHERE kind = 'qpcr'")
    with op.batch_alter_table("assay_result", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_assay_result_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_assay_result_kind"), OLD_KINDS)
        batch_op.drop_constraint(
            batch_op.f("fk_assay_result_derived_from_id_assay_result"), type_="foreignkey"
        )
        batch_op.drop_column("derived_from_id")
        batch_op.drop_column("analysis_version")
        batch_op.drop_column("importer_version")
