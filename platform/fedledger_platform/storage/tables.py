"""ORM tables of the aggregator (SQLAlchemy 2). Hashes are stored as ``0x`` lowercase hex text,
addresses checksummed, times as Unix seconds. The schema is created by Alembic migrations
(``migrations/``), never by ``create_all``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AttestationRecord",
    "Base",
    "DroppedRecord",
    "ModelRecord",
    "NonceRecord",
    "ParametersRecord",
    "RevealRecord",
    "RoundRecord",
    "SealedKeyRecord",
    "UpdateRecord",
]

HASH = String(66)
ADDRESS = String(42)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class RoundRecord(Base):
    """One round as the aggregator tracks it."""

    __tablename__ = "rounds"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    phase: Mapped[str] = mapped_column(String(16))
    base_model_hash: Mapped[str] = mapped_column(HASH)
    deadline: Mapped[int] = mapped_column(BigInteger)
    min_updates: Mapped[int] = mapped_column(Integer)
    open_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)
    aggregate_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    close_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)
    close_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    published_model_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    opened_at: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    published_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    unmasking_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class UpdateRecord(Base):
    """An accepted encrypted update (its bytes are in the blob store under ``blob_hash``).

    ``commitment_signature`` is the participant's EIP-712 signature of its commitment, which
    the aggregator relays (``None``: the participant committed on chain itself before the
    upload); ``commitment_on_chain`` says the ledger holds the commitment (``relay_tx``: the
    batch that put it there, when the aggregator's own).
    """

    __tablename__ = "updates"

    round_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    participant: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    blob_hash: Mapped[str] = mapped_column(HASH)
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[int] = mapped_column(BigInteger)
    commitment_signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    commitment_on_chain: Mapped[bool] = mapped_column(Boolean, default=True)
    relay_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)


class AttestationRecord(Base):
    """An included participant's signed model attestation, held for relaying.

    ``on_chain``: the ledger holds the participant's attestation (``relay_tx``: the batch
    that put it there, when the aggregator's own); ``asked_for_model``: the answer asked this
    attester to upload the model's bytes.
    """

    __tablename__ = "attestations"

    round_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    participant: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    model_hash: Mapped[str] = mapped_column(HASH)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[int] = mapped_column(BigInteger)
    on_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    relay_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)
    asked_for_model: Mapped[bool] = mapped_column(Boolean, default=False)


class DroppedRecord(Base):
    """A member of a masked round whose update was not accepted when the round had to close."""

    __tablename__ = "dropped"

    round_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    participant: Mapped[str] = mapped_column(ADDRESS, primary_key=True)


class RevealRecord(Base):
    """A surviving neighbour's verified reveal of the point it shares with a dropped member
    (:class:`fedledger_crypto.masking.Reveal`)."""

    __tablename__ = "reveals"

    round_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revealer: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    dropped: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    point: Mapped[bytes] = mapped_column(LargeBinary)
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    response: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[int] = mapped_column(BigInteger)


class SealedKeyRecord(Base):
    """The secret context sealed to one participant by the key dealer."""

    __tablename__ = "sealed_keys"

    recipient: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    dealer_signature: Mapped[bytes] = mapped_column(LargeBinary)
    dealer: Mapped[str] = mapped_column(ADDRESS)
    uploaded_at: Mapped[int] = mapped_column(BigInteger)


class ModelRecord(Base):
    """A stored global model (bytes in the blob store under ``hash``)."""

    __tablename__ = "models"

    hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    round_number: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    stored_at: Mapped[int] = mapped_column(BigInteger)


class ParametersRecord(Base):
    """The public CKKS parameters the key dealer published (one row)."""

    __tablename__ = "parameters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    params_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[str] = mapped_column(HASH)
    published_by: Mapped[str] = mapped_column(ADDRESS)
    published_at: Mapped[int] = mapped_column(BigInteger)


class NonceRecord(Base):
    """A request nonce, recorded together with the state change of the accepted request."""

    __tablename__ = "nonces"

    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
