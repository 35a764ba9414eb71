"""Identity keys lose their foreign key to directories: it was redundant (a directory's contacts cascade away with it,
and their keys with them, through the contact foreign key) and it cost one referential check per key inserted.

Revision ID: 0004_keys_no_directory_fk
Revises: 0003_transaction_client_keys
Create Date: 2026-11-23

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_keys_no_directory_fk"
down_revision: str | Sequence[str] | None = "0003_transaction_client_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The initial migration left the constraint unnamed: PostgreSQL named it by its default rule, and SQLite keeps no
# name at all, so batch mode (which rebuilds the table on SQLite) names reflected foreign keys with this convention.
_POSTGRESQL_NAME = "contact_identity_keys_directory_id_fkey"
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_BATCH_NAME = "fk_contact_identity_keys_directory_id_directories"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_POSTGRESQL_NAME, "contact_identity_keys", type_="foreignkey")
        return
    with op.batch_alter_table("contact_identity_keys", naming_convention=_NAMING) as batch:
        batch.drop_constraint(_BATCH_NAME, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            _POSTGRESQL_NAME, "contact_identity_keys", "directories", ["directory_id"], ["id"], ondelete="CASCADE"
        )
        return
    with op.batch_alter_table("contact_identity_keys", naming_convention=_NAMING) as batch:
        batch.create_foreign_key(_BATCH_NAME, "directories", ["directory_id"], ["id"], ondelete="CASCADE")
