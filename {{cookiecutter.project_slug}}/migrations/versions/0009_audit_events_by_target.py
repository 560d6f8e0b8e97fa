"""The audit log searched by target (`?target_id=`, the first step of the compromised-account runbook)
reads an index instead of the whole table. On PostgreSQL the index is built CONCURRENTLY, so every
login's audit write goes on while it builds on a large table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_audit_events_target_id_id"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, "audit_events", ["target_id", "id"])
        return
    with op.get_context().autocommit_block():  # CONCURRENTLY cannot run in a transaction
        # A build that was stopped (the migration lock timeout, a restart) leaves an invalid index.
        op.drop_index(INDEX, "audit_events", postgresql_concurrently=True, if_exists=True)
        op.create_index(INDEX, "audit_events", ["target_id", "id"], postgresql_concurrently=True)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(INDEX, "audit_events")
        return
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, "audit_events", postgresql_concurrently=True)
