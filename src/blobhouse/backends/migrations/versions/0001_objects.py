"""The objects table: one row per object, payload inline or a blob reference.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("usecase", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(1024), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("compression", sa.String(16)),
        sa.Column("expiration_kind", sa.String(3)),
        sa.Column("expiration_micros", sa.BigInteger),
        sa.Column("time_created", sa.BigInteger, nullable=False),
        sa.Column("time_expires", sa.BigInteger),
        sa.Column("origin", sa.Text),
        sa.Column("filename", sa.Text),
        sa.Column("custom", sa.Text),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.LargeBinary),
        sa.Column("blob_backend", sa.String(64)),
        sa.Column("blob_key", sa.Text),
        sa.PrimaryKeyConstraint("usecase", "scope", "key"),
    )
    op.create_index("ix_objects_time_expires", "objects", ["time_expires"])


def downgrade() -> None:
    op.drop_index("ix_objects_time_expires", table_name="objects")
    op.drop_table("objects")
