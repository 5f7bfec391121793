"""assay results: elisa and senescence kinds

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:55:00

ELISA concentrations (``decidua import elisa``) are stored as results of kind
``elisa``; the pro-senescent index a screening run computes from a biopsy's
qPCR is stored as a result of kind ``senescence``. ELISA results stored before
this revision keep their kind ``decidualization`` (``values.assay = "elisa"``):
results are never rewritten (signed results carry a checksum of their kind), and
every reader accepts both.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('timing', 'cfu', 'methylation', 'decidualization', 'unk', 'qpcr')"
NEW_KINDS = (
    "kind IN ('timing', 'cfu', 'methylation', 'decidualization', 'unk', 'qpcr', "
    "'elisa', 'senescence')"
)


def upgrade() -> None:
    with op.batch_alter_table("assay_result", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_assay_result_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_assay_result_kind"), NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM assay_result WHERE kind IN ('elisa', 'senescence')")
    with op.batch_alter_table("assay_result", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_assay_result_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_assay_result_kind"), OLD_KINDS)
