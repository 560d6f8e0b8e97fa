"""An item counts its changes (`version`, its ETag): a change sent with `If-Match` applies only to the
version the client read, so it cannot silently undo a change made since. Existing items start at 1.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from {{ cookiecutter.package_name }}.db.migration_ops import rebuild_keeping_ids

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("items", sa.Column("version", sa.BigInteger(), server_default="1", nullable=False))


def downgrade() -> None:
    # SQLite drops the column by rebuilding the table, which must keep 0012's AUTOINCREMENT and its
    # counter; PostgreSQL drops it in place.
    with rebuild_keeping_ids("items") as items:
        items.drop_column("version")
