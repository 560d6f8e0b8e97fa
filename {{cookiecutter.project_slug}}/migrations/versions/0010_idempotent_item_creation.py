"""An item remembers the `Idempotency-Key` it was created with, and a hash of that request: a client
that retries a create it got no answer to gets the same item back instead of a second one. On
PostgreSQL the unique index is built CONCURRENTLY, so creating items goes on while it builds.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_items_owner_id_idempotency_key"
COLUMNS = ["owner_id", "idempotency_key"]


def upgrade() -> None:
    op.add_column("items", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.add_column("items", sa.Column("request_fingerprint", sa.String(64), nullable=True))
    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, "items", COLUMNS, unique=True)
        return
    with op.get_context().autocommit_block():  # CONCURRENTLY cannot run in a transaction
        # A build that was stopped (the migration lock timeout, a restart) leaves an invalid index.
        op.drop_index(INDEX, "items", postgresql_concurrently=True, if_exists=True)
        op.create_index(INDEX, "items", COLUMNS, unique=True, postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index(INDEX, "items")
    with op.batch_alter_table("items") as items:
        items.drop_column("request_fingerprint")
        items.drop_column("idempotency_key")
