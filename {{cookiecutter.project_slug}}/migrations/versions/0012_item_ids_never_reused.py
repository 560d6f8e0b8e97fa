"""A deleted item's id is never given to a new item. SQLite otherwise reuses the highest id once
its row is gone, so a retried `DELETE /api/v1/items/{id}`, or a client that still holds the id,
would reach an item created since. PostgreSQL's identity sequences never reuse a value: nothing
to do.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Ids of items deleted before this revision are not recorded anywhere: the sequence starts at the
# highest id in use.
SEED_SEQUENCE = "INSERT INTO sqlite_sequence (name, seq) SELECT 'items', COALESCE(MAX(id), 0) FROM items"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # AUTOINCREMENT is part of a SQLite table's definition: the table is rebuilt, with its indexes.
    # No table references items, so the rebuild deletes nothing whether foreign keys are on or off.
    _rebuild_items(autoincrement=True)
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'items'")
    op.execute(SEED_SEQUENCE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild_items(autoincrement=False)


def _rebuild_items(*, autoincrement: bool) -> None:
    with op.batch_alter_table("items", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
