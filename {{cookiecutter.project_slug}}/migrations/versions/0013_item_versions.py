"""An item counts its changes (`version`, its ETag): a change sent with `If-Match` applies only to the
version the client read, so it cannot silently undo a change made since. Existing items start at 1.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("items", sa.Column("version", sa.BigInteger(), server_default="1", nullable=False))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("items", "version")
        return
    # SQLite drops the column by rebuilding the table, which must keep 0012's AUTOINCREMENT and its
    # counter: the rebuilt table's would start from the highest id left, and give out again the
    # ids of the newest items deleted.
    counter = op.get_bind().scalar(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'items'"))
    with op.batch_alter_table("items", recreate="always", table_kwargs={"sqlite_autoincrement": True}) as items:
        items.drop_column("version")
    if counter is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'items'")
        op.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('items', :seq)").bindparams(seq=counter))
