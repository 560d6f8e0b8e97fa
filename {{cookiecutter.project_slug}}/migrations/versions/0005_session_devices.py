"""Login sessions a user can list: where each came from (client address and user agent) and when
it is over. Sessions from before this revision have no origin, and end when their newest refresh
token expires.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        login_sessions.add_column(sa.Column("client_ip", sa.String(length=64), nullable=True))
        login_sessions.add_column(sa.Column("user_agent", sa.String(length=256), nullable=True))
    op.execute(
        "UPDATE login_sessions SET expires_at = COALESCE("
        "(SELECT MAX(expires_at) FROM refresh_tokens WHERE refresh_tokens.session_id = login_sessions.id), created_at)"
    )
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.drop_column("user_agent")
        login_sessions.drop_column("client_ip")
        login_sessions.drop_column("expires_at")
