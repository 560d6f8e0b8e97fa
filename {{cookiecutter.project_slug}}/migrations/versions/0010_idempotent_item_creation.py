"""An item remembers the `Idempotency-Key` it was created with, and a hash of that request: a client
that retries a create it got no answer to gets the same item back instead of a second one. The
unique index that makes this hold under concurrent requests is revision 0011's.

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


def upgrade() -> None:
    op.add_column("items", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.add_column("items", sa.Column("request_fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as items:
        items.drop_column("request_fingerprint")
        items.drop_column("idempotency_key")
