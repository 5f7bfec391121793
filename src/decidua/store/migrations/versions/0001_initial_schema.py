"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:24:48.013044
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'clinician', 'scientist', 'researcher')",
            name=op.f("ck_app_user_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("importer_version", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("n_inserted", sa.Integer(), nullable=False),
        sa.Column("n_updated", sa.Integer(), nullable=False),
        sa.Column("n_unchanged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_run")),
    )
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_run_sha256"), ["sha256"], unique=False)

    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("year_of_birth", sa.Integer(), nullable=False),
        sa.Column("bmi", sa.Float(), nullable=True),
        sa.Column("ethnicity", sa.String(length=64), nullable=True),
        sa.Column("study_group", sa.String(length=16), nullable=True),
        sa.Column("consent_research", sa.Boolean(), nullable=False),
        sa.Column("consent_biobank", sa.Boolean(), nullable=False),
        sa.Column("consent_contact", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "study_group IS NULL OR study_group IN ('rpl', 'control', 'other')",
            name=op.f("ck_patient_study_group"),
        ),
        sa.CheckConstraint(
            "bmi IS NULL OR (bmi > 0 AND bmi < 150)", name=op.f("ck_patient_bmi_range")
        ),
        sa.CheckConstraint(
            "year_of_birth BETWEEN 1900 AND 2100", name=op.f("ck_patient_year_of_birth_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_pseudonym"), ["pseudonym"], unique=True)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("entity_key", sa.String(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("import_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "action IN ('create', 'update', 'delete')", name=op.f("ck_audit_event_action")
        ),
        sa.ForeignKeyConstraint(
            ["import_run_id"],
            ["import_run.id"],
            name=op.f("fk_audit_event_import_run_id_import_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_entity", ["entity", "entity_id"], unique=False)

    op.create_table(
        "biopsy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=True),
        sa.Column("lh_surge_date", sa.Date(), nullable=True),
        sa.Column("biopsy_date", sa.Date(), nullable=False),
        sa.Column("on_treatment", sa.Boolean(), nullable=False),
        sa.Column("clinic_call", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "clinic_call IS NULL OR clinic_call IN ('normal', 'abnormal')",
            name=op.f("ck_biopsy_clinic_call"),
        ),
        sa.CheckConstraint(
            "cycle_number IS NULL OR cycle_number >= 1", name=op.f("ck_biopsy_cycle_positive")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_biopsy_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_biopsy")),
    )
    with op.batch_alter_table("biopsy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_biopsy_code"), ["code"], unique=True)
        batch_op.create_index(batch_op.f("ix_biopsy_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "intervention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dose", sa.String(length=64), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("trial_arm", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('sitagliptin', 'endometrial_scratch', 'progesterone', 'aspirin', 'heparin', 'aspirin_heparin', 'placebo', 'other')",
            name=op.f("ck_intervention_kind"),
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_intervention_dates_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_intervention_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intervention")),
        sa.UniqueConstraint("patient_id", "kind", "start_date", name="uq_intervention_key"),
    )
    op.create_table(
        "investigation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=24), nullable=True),
        sa.Column("interpretation", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "interpretation IN ('normal', 'abnormal', 'equivocal')",
            name=op.f("ck_investigation_interpretation"),
        ),
        sa.CheckConstraint(
            "kind IN ('lupus_anticoagulant', 'anticardiolipin_igg', 'anticardiolipin_igm', 'anti_b2gp1_igg', 'anti_b2gp1_igm', 'tsh', 'free_t4', 'tpo_antibodies', 'hba1c', 'full_blood_count', 'prolactin', 'vitamin_d', 'inherited_thrombophilia', 'uterine_imaging', 'hysteroscopy', 'parental_karyotype_female', 'parental_karyotype_male', 'pregnancy_tissue_karyotype', 'uterine_nk_cells')",
            name=op.f("ck_investigation_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_investigation_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigation")),
        sa.UniqueConstraint("patient_id", "kind", "date", name="uq_investigation_key"),
    )
    op.create_table(
        "pregnancy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("pregnancy_order", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("gestation_weeks", sa.Float(), nullable=True),
        sa.Column("conception", sa.String(length=24), nullable=False),
        sa.Column("karyotype", sa.String(length=16), nullable=False),
        sa.Column("karyotype_detail", sa.String(length=128), nullable=True),
        sa.Column("outcome_date", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "conception IN ('spontaneous', 'ovulation_induction', 'iui', 'ivf', 'icsi', 'assisted_other', 'unknown')",
            name=op.f("ck_pregnancy_conception"),
        ),
        sa.CheckConstraint(
            "karyotype IN ('normal', 'abnormal', 'failed', 'not_tested')",
            name=op.f("ck_pregnancy_karyotype"),
        ),
        sa.CheckConstraint(
            "outcome IN ('live_birth', 'miscarriage', 'biochemical', 'ectopic', 'molar', 'termination', 'ongoing')",
            name=op.f("ck_pregnancy_outcome"),
        ),
        sa.CheckConstraint(
            "gestation_weeks IS NULL OR (gestation_weeks >= 0 AND gestation_weeks <= 45)",
            name=op.f("ck_pregnancy_gestation_range"),
        ),
        sa.CheckConstraint("pregnancy_order >= 1", name=op.f("ck_pregnancy_order_positive")),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_pregnancy_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pregnancy")),
        sa.UniqueConstraint("patient_id", "pregnancy_order", name="uq_pregnancy_patient_order"),
    )
    op.create_table(
        "assay_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biopsy_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("result_key", sa.String(length=128), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("qc_status", sa.String(length=16), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("source_file", sa.String(length=512), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("import_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('timing', 'cfu', 'methylation', 'decidualization', 'unk')",
            name=op.f("ck_assay_result_kind"),
        ),
        sa.CheckConstraint(
            "qc_status IN ('pending', 'pass', 'fail')", name=op.f("ck_assay_result_qc_status")
        ),
        sa.ForeignKeyConstraint(
            ["biopsy_id"],
            ["biopsy.id"],
            name=op.f("fk_assay_result_biopsy_id_biopsy"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_run_id"],
            ["import_run.id"],
            name=op.f("fk_assay_result_import_run_id_import_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assay_result")),
        sa.UniqueConstraint("biopsy_id", "kind", "result_key", name="uq_assay_result_key"),
    )
    with op.batch_alter_table("assay_result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assay_result_biopsy_id"), ["biopsy_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assay_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assay_result_biopsy_id"))

    op.drop_table("assay_result")
    op.drop_table("pregnancy")
    op.drop_table("investigation")
    op.drop_table("intervention")
    with op.batch_alter_table("biopsy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_biopsy_patient_id"))
        batch_op.drop_index(batch_op.f("ix_biopsy_code"))

    op.drop_table("biopsy")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_entity")

    op.drop_table("audit_event")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_pseudonym"))

    op.drop_table("patient")
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_run_sha256"))

    op.drop_table("import_run")
    op.drop_table("app_user")
