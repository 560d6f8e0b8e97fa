"""Roles, login sessions that can be revoked at once, and the audit log.

Refresh tokens now belong to a login session (its id is in both tokens), so tokens issued before
this revision stop working: their users log in again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLE = sa.Enum("member", "admin", name="role", native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("role", ROLE, server_default="member", nullable=False))
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_login_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"])
    # Issued without a session id, the existing tokens cannot be presented any more.
    op.execute(sa.text("DELETE FROM refresh_tokens"))
    with op.batch_alter_table("refresh_tokens") as refresh_tokens:
        refresh_tokens.drop_index("ix_refresh_tokens_family_id")
        refresh_tokens.alter_column("family_id", new_column_name="session_id", existing_type=sa.String(length=32))
        refresh_tokens.drop_column("revoked_at")
    with op.batch_alter_table("refresh_tokens") as refresh_tokens:  # after the rename: it names the new column
        refresh_tokens.create_index(op.f("ix_refresh_tokens_session_id"), ["session_id"])
        refresh_tokens.create_foreign_key(
            op.f("fk_refresh_tokens_session_id_login_sessions"),
            "login_sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "audit_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_occurred_at"), "audit_events", ["occurred_at"])
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"])
    op.create_index("ix_audit_events_actor_id_occurred_at", "audit_events", ["actor_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.execute(sa.text("DELETE FROM refresh_tokens"))
    with op.batch_alter_table("refresh_tokens") as refresh_tokens:
        refresh_tokens.drop_constraint(op.f("fk_refresh_tokens_session_id_login_sessions"), type_="foreignkey")
        refresh_tokens.drop_index(op.f("ix_refresh_tokens_session_id"))
        refresh_tokens.alter_column("session_id", new_column_name="family_id", existing_type=sa.String(length=32))
        refresh_tokens.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("refresh_tokens") as refresh_tokens:
        refresh_tokens.create_index(op.f("ix_refresh_tokens_family_id"), ["family_id"])
    op.drop_table("login_sessions")
    with op.batch_alter_table("users") as users:
        users.drop_column("role")
