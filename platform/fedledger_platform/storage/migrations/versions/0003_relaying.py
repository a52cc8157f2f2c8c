"""Relaying: updates keep the participant's signed commitment until it is on chain; signed
model attestations are held for relaying.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the commitment columns (rows before this were committed on chain before their
    upload) and the attestations table."""
    with op.batch_alter_table("updates") as table:
        table.add_column(sa.Column("commitment_signature", sa.LargeBinary))
        table.add_column(
            sa.Column("commitment_on_chain", sa.Boolean, nullable=False, server_default=sa.true())
        )
        table.add_column(sa.Column("relay_tx", sa.String(66)))
    op.create_table(
        "attestations",
        sa.Column("round_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("participant", sa.String(42), primary_key=True),
        sa.Column("model_hash", sa.String(66), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("on_chain", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("relay_tx", sa.String(66)),
        sa.Column("asked_for_model", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Drop the attestations table and the commitment columns."""
    op.drop_table("attestations")
    with op.batch_alter_table("updates") as table:
        table.drop_column("relay_tx")
        table.drop_column("commitment_on_chain")
        table.drop_column("commitment_signature")
