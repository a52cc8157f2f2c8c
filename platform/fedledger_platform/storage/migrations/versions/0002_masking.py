"""Masking: when a round entered unmasking, its dropped members, and the reveals of their seeds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``rounds.unmasking_since`` and the ``dropped`` and ``reveals`` tables."""
    op.add_column("rounds", sa.Column("unmasking_since", sa.BigInteger))
    op.create_table(
        "dropped",
        sa.Column("round_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("participant", sa.String(42), primary_key=True),
    )
    op.create_table(
        "reveals",
        sa.Column("round_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revealer", sa.String(42), primary_key=True),
        sa.Column("dropped", sa.String(42), primary_key=True),
        sa.Column("point", sa.LargeBinary, nullable=False),
        sa.Column("challenge", sa.LargeBinary, nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_table("reveals")
    op.drop_table("dropped")
    op.drop_column("rounds", "unmasking_since")
