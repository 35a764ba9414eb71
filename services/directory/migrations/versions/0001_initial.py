"""Initial directory schema: organizations, API tokens, directories, contacts with identity keys, mailing lists.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('organizations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_api_tokens_organization_id', 'api_tokens', ['organization_id'])

    op.create_table('directories',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('dedup_rules', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_directories_org_created', 'directories', ['organization_id', 'created_at', 'id'])

    op.create_table('contacts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('directory_id', sa.String(length=64), nullable=False),
    sa.Column('first_name', sa.String(length=255), nullable=True),
    sa.Column('last_name', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('ext_ref', sa.String(length=255), nullable=True),
    sa.Column('language', sa.String(length=32), nullable=True),
    sa.Column('unsubscribed', sa.Boolean(), nullable=False),
    sa.Column('embedded_data', sa.JSON(), nullable=False),
    sa.Column('first_name_normalized', sa.String(length=255), nullable=True),
    sa.Column('last_name_normalized', sa.String(length=255), nullable=True),
    sa.Column('email_normalized', sa.String(length=320), nullable=True),
    sa.Column('phone_normalized', sa.String(length=64), nullable=True),
    sa.Column('ext_ref_normalized', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['directory_id'], ['directories.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_contacts_directory_created', 'contacts', ['directory_id', 'created_at', 'id'])
    op.create_index('ix_contacts_directory_email', 'contacts', ['directory_id', 'email_normalized'])
    op.create_index('ix_contacts_directory_ext_ref', 'contacts', ['directory_id', 'ext_ref_normalized'])

    op.create_table('mailing_lists',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('directory_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['directory_id'], ['directories.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_mailing_lists_directory_created', 'mailing_lists', ['directory_id', 'created_at', 'id'])

    op.create_table('contact_identity_keys',
    sa.Column('directory_id', sa.String(length=64), nullable=False),
    sa.Column('rule_index', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['directory_id'], ['directories.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('directory_id', 'rule_index', 'key')
    )
    op.create_index('ix_contact_identity_keys_contact_id', 'contact_identity_keys', ['contact_id'])

    op.create_table('mailing_list_memberships',
    sa.Column('mailing_list_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mailing_list_id'], ['mailing_lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailing_list_id', 'contact_id')
    )
    op.create_index('ix_mailing_list_memberships_contact_id', 'mailing_list_memberships', ['contact_id'])


def downgrade() -> None:
    # Indexes go with their tables.
    op.drop_table('mailing_list_memberships')
    op.drop_table('contact_identity_keys')
    op.drop_table('mailing_lists')
    op.drop_table('contacts')
    op.drop_table('directories')
    op.drop_table('api_tokens')
    op.drop_table('organizations')
