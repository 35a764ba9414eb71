"""Trigger captures (capture mode), the membership events already routed (dedup by event id), and the mailing list
of "upsert contact transaction" subscriptions.

Revision ID: 0002_captures_membership
Revises: 0001
Create Date: 2026-11-23 11:15:42.373457

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002_captures_membership'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailing_list_id', sa.String(length=64), server_default='', nullable=False))
    op.create_table('membership_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('started_workflow_ids', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('organization_id', 'event_id', name='uq_membership_events_organization_event')
    )
    op.create_table('trigger_captures',
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('requested', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    op.create_table('captured_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('via', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workflow_id'], ['trigger_captures.workflow_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('captured_events', schema=None) as batch_op:
        batch_op.create_index('ix_captured_events_workflow_id', ['workflow_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('mailing_list_id')
    with op.batch_alter_table('captured_events', schema=None) as batch_op:
        batch_op.drop_index('ix_captured_events_workflow_id')

    op.drop_table('captured_events')
    op.drop_table('trigger_captures')
    op.drop_table('membership_events')
