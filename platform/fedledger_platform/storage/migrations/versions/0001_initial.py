"""Initial schema: rounds, updates, sealed keys, models, parameters, nonces.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "rounds",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("base_model_hash", sa.String(66), nullable=False),
        sa.Column("deadline", sa.BigInteger, nullable=False),
        sa.Column("min_updates", sa.Integer, nullable=False),
        sa.Column("open_tx", sa.String(66)),
        sa.Column("aggregate_hash", sa.String(66)),
        sa.Column("close_tx", sa.String(66)),
        sa.Column("close_gas", sa.BigInteger),
        sa.Column("published_model_hash", sa.String(66)),
        sa.Column("failure_reason", sa.Text),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("closed_at", sa.BigInteger),
        sa.Column("published_at", sa.BigInteger),
    )
    op.create_table(
        "updates",
        sa.Column("round_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("participant", sa.String(42), primary_key=True),
        sa.Column("blob_hash", sa.String(66), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sealed_keys",
        sa.Column("recipient", sa.String(42), primary_key=True),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("dealer_signature", sa.LargeBinary, nullable=False),
        sa.Column("dealer", sa.String(42), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("hash", sa.String(66), primary_key=True),
        sa.Column("round_number", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uploaded_by", sa.String(42)),
        sa.Column("stored_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "parameters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("params_id", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("published_by", sa.String(42), nullable=False),
        sa.Column("published_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "nonces",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_nonces_expires_at", "nonces", ["expires_at"])


def downgrade() -> None:
    """Drop every table."""
    op.drop_index("ix_nonces_expires_at", table_name="nonces")
    for table in ("nonces", "parameters", "models", "sealed_keys", "updates", "rounds"):
        op.drop_table(table)
