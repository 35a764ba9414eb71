"""Workflow versions: every saved definition is kept, so runs can name (and be retried on) a version.

Revision ID: 0002_workflow_versions
Revises: 0001
Create Date: 2026-11-23 11:55:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_workflow_versions"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_versions",
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workflow_id", "version"),
    )
    # Workflows saved before versions existed get their current definition as a version.
    op.execute(
        "INSERT INTO workflow_versions (workflow_id, version, name, spec, created_at) "
        "SELECT id, version, name, spec, updated_at FROM workflows"
    )


def downgrade() -> None:
    op.drop_table("workflow_versions")
