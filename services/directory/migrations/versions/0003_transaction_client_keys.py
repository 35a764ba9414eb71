"""Transactions remember the client key of an idempotent create, unique per directory.

Revision ID: 0003_transaction_client_keys
Revises: 0002_segments
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_transaction_client_keys"
down_revision: str | Sequence[str] | None = "0002_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("client_key", sa.String(length=255), nullable=True))
    # NULL keys (non-idempotent creates) never collide, on SQLite and PostgreSQL alike.
    op.create_index("ux_transactions_directory_client_key", "transactions", ["directory_id", "client_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_transactions_directory_client_key", table_name="transactions")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("client_key")
