"""A deleted user's id is never given to a new account. The audit log names users by id, so on
SQLite, which otherwise reuses the highest id once its row is gone, a new account would inherit
the history of a deleted one. PostgreSQL's identity sequences never reuse a value: nothing to do.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sequence starts above every user id in use or ever named in the audit log: the ids of users
# deleted before this revision stay taken too.
SEED_SEQUENCE = """
INSERT INTO sqlite_sequence (name, seq)
SELECT 'users', COALESCE(MAX(id), 0) FROM (
    SELECT id FROM users
    UNION ALL SELECT actor_id FROM audit_events
    UNION ALL SELECT CAST(target_id AS INTEGER) FROM audit_events WHERE target_type = 'user'
)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # AUTOINCREMENT is part of a SQLite table's definition: the table is rebuilt.
    _rebuild_users(autoincrement=True)
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'users'")
    op.execute(SEED_SEQUENCE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild_users(autoincrement=False)


def _rebuild_users(*, autoincrement: bool) -> None:
    # Dropping the old table with foreign keys on would delete every row that references a user.
    # Migrations run with them off (their engine does not turn them on); this keeps it so.
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("0006 rebuilds the users table: run it with SQLite's foreign keys off")
    with op.batch_alter_table("users", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
