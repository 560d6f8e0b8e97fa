"""When each login session was last used: at its login, then at each renewal of its tokens.
Sessions from before this revision were last used when a refresh token of theirs was last spent
(a renewal), else at their login. The column defaults to the database's current time, so a
release from before this revision, still running during a rollout or rolled back to, can log
users in (its sessions may then seem used a moment before their login: the sessions page shows
only later uses).

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
    _refuse_sqlite_foreign_keys()
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE login_sessions SET last_used_at = COALESCE("
        "(SELECT MAX(used_at) FROM refresh_tokens WHERE refresh_tokens.session_id = login_sessions.id), created_at)"
    )
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.alter_column(
            "last_used_at", existing_type=sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        )


def downgrade() -> None:
    _refuse_sqlite_foreign_keys()
    with op.batch_alter_table("login_sessions") as login_sessions:
        login_sessions.drop_column("last_used_at")


def _refuse_sqlite_foreign_keys() -> None:
    # SQLite rebuilds the table; dropping the old one with foreign keys on would delete every
    # refresh token. Migrations run with them off (their engine does not turn them on).
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("0007 rebuilds the login_sessions table: run it with SQLite's foreign keys off")
