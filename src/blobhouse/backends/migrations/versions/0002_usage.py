"""Usage counters per usecase and scope, kept in the same transaction as object rows.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage",
        sa.Column("usecase", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(1024), nullable=False),
        sa.Column("objects", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("usecase", "scope"),
    )
    # Existing stores start with exact counters.
    op.execute(
        "INSERT INTO usage (usecase, scope, objects, bytes) "
        "SELECT usecase, scope, COUNT(*), COALESCE(SUM(size), 0) FROM objects "
        "GROUP BY usecase, scope"
    )


def downgrade() -> None:
    op.drop_table("usage")
