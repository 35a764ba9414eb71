"""Transactions, segments with stored membership and opt-outs, and the membership-event outbox.

Revision ID: 0002_segments
Revises: 0001
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_segments"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_INCREMENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('transactions',
    sa.Column('seq', AUTO_INCREMENT_ID, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('directory_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('mailing_list_id', sa.String(length=64), nullable=False),
    sa.Column('transaction_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['directory_id'], ['directories.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mailing_list_id'], ['mailing_lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    op.create_index('ix_transactions_contact_date', 'transactions', ['contact_id', 'transaction_date', 'seq'])
    op.create_index('ix_transactions_directory_id', 'transactions', ['directory_id'])
    op.create_index('ix_transactions_mailing_list_id', 'transactions', ['mailing_list_id'])

    op.create_table('segments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('directory_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=False),
    sa.Column('rule', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['directory_id'], ['directories.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_segments_directory_created', 'segments', ['directory_id', 'created_at', 'id'])

    op.create_table('segment_memberships',
    sa.Column('segment_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segment_id', 'contact_id')
    )
    op.create_index('ix_segment_memberships_contact_id', 'segment_memberships', ['contact_id'])

    op.create_table('segment_opt_outs',
    sa.Column('segment_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segment_id', 'contact_id')
    )
    op.create_index('ix_segment_opt_outs_contact_id', 'segment_opt_outs', ['contact_id'])

    op.create_table('membership_outbox',
    sa.Column('seq', AUTO_INCREMENT_ID, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('directory_id', sa.String(length=64), nullable=False),
    sa.Column('segment_id', sa.String(length=64), nullable=False),
    sa.Column('segment_name', sa.String(length=255), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered', sa.Boolean(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    op.create_index('ix_membership_outbox_pending', 'membership_outbox', ['delivered', 'seq'])
    op.create_index('ix_membership_outbox_batch', 'membership_outbox', ['batch'])


def downgrade() -> None:
    op.drop_table('membership_outbox')
    op.drop_table('segment_opt_outs')
    op.drop_table('segment_memberships')
    op.drop_table('segments')
    op.drop_table('transactions')
