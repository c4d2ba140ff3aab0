"""inbox and question replies

The inbox (bot/inbox.py): every received update is stored before it is acknowledged, so one a
crashed process had not finished is handled again. The question log remembers the message each
question came from and when it was answered, so handling an update twice never answers twice.
Inbox and outbox rows name the instance that holds them, so a restarted one takes them back.

Revision ID: 0657983d74a0
Revises: 6b1f0c2e9a41
Create Date: 2026-11-23 14:16:44.379461
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0657983d74a0"
down_revision: str | Sequence[str] | None = "6b1f0c2e9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    with op.batch_alter_table("inbox_update", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_update_lease_until"), ["lease_until"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inbox_update_status"), ["status"], unique=False)

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))

    with op.batch_alter_table("question_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint("uq_question_log_chat_message", ["chat_id", "message_id"])


def downgrade() -> None:
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_question_log_chat_message", type_="unique")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("message_id")

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")

    with op.batch_alter_table("inbox_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_update_status"))
        batch_op.drop_index(batch_op.f("ix_inbox_update_lease_until"))

    op.drop_table("inbox_update")
