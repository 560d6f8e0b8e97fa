"""One item per owner and `Idempotency-Key`, however many retries arrive at once: a unique index.
A revision of its own, after 0010 committed the columns: on PostgreSQL the index is built
CONCURRENTLY (creating items goes on meanwhile), outside a transaction, and a build that was
stopped is redone by running the migration again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_items_owner_id_idempotency_key"
COLUMNS = ["owner_id", "idempotency_key"]


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, "items", COLUMNS, unique=True)
        return
    with op.get_context().autocommit_block():  # CONCURRENTLY cannot run in a transaction
        # A build that was stopped (the migration lock timeout, a restart) leaves an invalid index.
        op.drop_index(INDEX, "items", postgresql_concurrently=True, if_exists=True)
        op.create_index(INDEX, "items", COLUMNS, unique=True, postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index(INDEX, "items")
