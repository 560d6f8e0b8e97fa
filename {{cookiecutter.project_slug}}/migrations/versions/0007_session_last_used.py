"""When each login session was last used: at its login, then at each renewal of its tokens.
Sessions from before this revision were last used when their newest refresh token was issued.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE login_sessions SET last_used_at = COALESCE("
        "(SELECT MAX(created_at) FROM refresh_tokens WHERE refresh_tokens.session_id = login_sessions.id), created_at)"
    )
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.alter_column("last_used_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.drop_column("last_used_at")
