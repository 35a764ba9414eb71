"""Each dedup rule's identity key moves from contact_identity_keys (one row per rule per contact) onto the contact:
dedup_key_1..3, one per rule, each under a partial unique index. A new contact is then one row to write instead of
1 + one per rule. The keys name their directory (96 bits of sha256 over the directory and the former key), so each
index holds the key alone and a lookup by key has exactly one index to take.

Revision ID: 0005_dedup_keys_on_contacts
Revises: 0004_keys_no_directory_fk
Create Date: 2026-12-06

"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_dedup_keys_on_contacts"
down_revision: str | Sequence[str] | None = "0004_keys_no_directory_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_COLUMNS = ("dedup_key_1", "dedup_key_2", "dedup_key_3")
_PAGE = 5000
# Identity field (as in dedup rules) -> the contact column of its normalized value.
_NORMALIZED = {
    "email": "email_normalized",
    "phone": "phone_normalized",
    "extRef": "ext_ref_normalized",
    "firstName": "first_name_normalized",
    "lastName": "last_name_normalized",
}

# Spelled out rather than imported: a migration keeps meaning what it meant when it was written.
_keys = sa.table(
    "contact_identity_keys", sa.column("directory_id"), sa.column("rule_index"), sa.column("key"), sa.column("contact_id")
)
_contacts = sa.table(
    "contacts", sa.column("id"), sa.column("directory_id"), *(sa.column(c) for c in (*_KEY_COLUMNS, *_NORMALIZED.values()))
)
_directories = sa.table("directories", sa.column("id"), sa.column("dedup_rules", sa.JSON))


def _scoped(directory_id: str, values_key: str) -> str:
    """The directory scoping of a key, as services.directory.dedup.IdentityKeys makes it at this revision."""
    return hashlib.sha256(f"{directory_id}:{values_key}".encode()).hexdigest()[:24]


def _values_key(fields: Sequence[str], normalized: dict[str, str | None]) -> str | None:
    """The key of revision 0001: sha256 hex of the compact JSON (non-ASCII kept) of [[field, value], ...]."""
    values = [normalized.get(name) for name in fields]
    if not all(values):
        return None
    payload = json.dumps([[name, value] for name, value in zip(fields, values)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _unique_index(column: str) -> None:
    present = sa.text(f"{column} IS NOT NULL")
    op.create_index(f"ux_contacts_{column}", "contacts", [column], unique=True, sqlite_where=present, postgresql_where=present)


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        for column in _KEY_COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length=64), nullable=True))
    bind = op.get_bind()
    for rule_index, column in enumerate(_KEY_COLUMNS):
        after = ""
        while True:  # page by contact, so a large directory never sits in memory at once
            rows = bind.execute(
                sa.select(_keys.c.contact_id, _keys.c.directory_id, _keys.c.key)
                .where(_keys.c.rule_index == rule_index, _keys.c.contact_id > after)
                .order_by(_keys.c.contact_id)
                .limit(_PAGE)
            ).all()
            if not rows:
                break
            bind.execute(
                _contacts.update().where(_contacts.c.id == sa.bindparam("contact")).values({column: sa.bindparam("scoped")}),
                [{"contact": contact, "scoped": _scoped(directory, key)} for contact, directory, key in rows],
            )
            after = rows[-1].contact_id
    for column in _KEY_COLUMNS:
        _unique_index(column)
    op.drop_table("contact_identity_keys")


def downgrade() -> None:
    op.create_table(
        "contact_identity_keys",
        sa.Column("directory_id", sa.String(length=64), nullable=False),
        sa.Column("rule_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("directory_id", "rule_index", "key"),
    )
    op.create_index("ix_contact_identity_keys_contact_id", "contact_identity_keys", ["contact_id"])
    # The scoped keys cannot be undone; the former keys are computed again from the values of the rules each contact
    # held a key for.
    bind = op.get_bind()
    held = sa.or_(*(_contacts.c[column].is_not(None) for column in _KEY_COLUMNS))
    after = ""
    while True:
        rows = bind.execute(
            sa.select(_contacts, _directories.c.dedup_rules)
            .join_from(_contacts, _directories, _directories.c.id == _contacts.c.directory_id)
            .where(held, _contacts.c.id > after)
            .order_by(_contacts.c.id)
            .limit(_PAGE)
        ).all()
        if not rows:
            break
        inserted = []
        for row in rows:
            normalized = {name: row._mapping[column] for name, column in _NORMALIZED.items()}
            for rule_index, fields in enumerate(row.dedup_rules or []):
                key = _values_key(fields, normalized) if row._mapping[_KEY_COLUMNS[rule_index]] else None
                if key is not None:
                    inserted.append(
                        {"directory_id": row.directory_id, "rule_index": rule_index, "key": key, "contact_id": row.id}
                    )
        if inserted:
            bind.execute(sa.insert(_keys), inserted)
        after = rows[-1].id
    for column in _KEY_COLUMNS:
        op.drop_index(f"ux_contacts_{column}", table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        for column in _KEY_COLUMNS:
            batch.drop_column(column)
