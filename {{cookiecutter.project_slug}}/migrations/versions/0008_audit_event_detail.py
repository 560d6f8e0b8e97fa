"""Audit events say what a change set where the action's name alone does not: a role change
names the new role, so the log shows who was made an admin. Events from before this revision have
none.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("detail", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as audit_events:
        audit_events.drop_column("detail")
