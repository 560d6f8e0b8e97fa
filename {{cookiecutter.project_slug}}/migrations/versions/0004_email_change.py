"""E-mail address changes: the account token of a change carries the address it confirms.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_tokens") as account_tokens:
        account_tokens.add_column(sa.Column("new_email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_tokens") as account_tokens:
        account_tokens.drop_column("new_email")
