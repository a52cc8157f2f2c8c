"""Response and request bodies of the REST API (one family per resource)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "AttestationCreate",
    "AttestationReceiptPublic",
    "ErrorBody",
    "ErrorDetail",
    "FederationPublic",
    "HealthPublic",
    "ModelPublic",
    "ParticipantPublic",
    "RevealIn",
    "RevealPublic",
    "RevealsCreate",
    "RevealsPublic",
    "RoundPublic",
    "SealedKeyCreate",
    "SealedKeyPublic",
    "UpdatePublic",
    "UpdateReceiptPublic",
]

HASH_PATTERN = r"^0x[0-9a-f]{64}$"
TYPED_SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"


class ErrorDetail(BaseModel):
    """What went wrong."""

    status: int
    code: str = Field(description="stable machine-readable cause, e.g. `round_not_open`")
    message: str = Field(description="human-readable cause and, where there is one, the fix")


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


class HealthPublic(BaseModel):
    """Liveness and what the coordinator is doing."""

    status: str = Field(description="`ok`, or `degraded` when the last coordination step failed")
    chain_id: int
    current_round: int
    note: str
    last_error: str | None


class FederationPublic(BaseModel):
    """Where the federation lives and how it encrypts."""

    chain_id: int
    ledger: str
    token: str
    params_id: str
    parameters_hash: str = Field(description="keccak256 of the parameters-only context")
    parameters_hash_on_chain: str | None
    key_dealer: str | None
    participants: int
    reward_per_update: str = Field(description="token base units, as a decimal string")
    quorum_bps: int
    rounds_planned: int
    min_updates: int


class ParticipantPublic(BaseModel):
    """An admitted participant and its public key (from the chain)."""

    address: str
    public_key: str = Field(description="64-byte secp256k1 public key, 0x-hex")
    has_sealed_key: bool


class SealedKeyCreate(BaseModel):
    """The secret context sealed by the key dealer to one participant."""

    ciphertext: str = Field(description="ECIES ciphertext, 0x-hex")
    dealer_signature: str = Field(description="EIP-191 signature of the dealer, 0x-hex")


class SealedKeyPublic(SealedKeyCreate):
    """A stored sealed key."""

    recipient: str
    dealer: str
    uploaded_at: int


class RoundPublic(BaseModel):
    """A round as the aggregator tracks it."""

    number: int
    phase: str = Field(description="open, unmasking, closing, closed, published or failed")
    base_model_hash: str
    deadline: int
    min_updates: int
    accepted: int
    participants: list[str] = Field(description="participants whose update was accepted")
    dropped: list[str] = Field(
        description="members of a masked round whose update was not accepted when it had to "
        "close; their surviving mask neighbours reveal the seeds they share with them"
    )
    unmasking_since: int | None = Field(description="when the round entered unmasking (Unix s)")
    aggregate_hash: str | None
    published_model_hash: str | None
    failure_reason: str | None
    open_tx: str | None
    close_tx: str | None
    close_gas: int | None


HEX = r"^0x([0-9a-fA-F]{2})+$"


class RevealIn(BaseModel):
    """One reveal by the signer: the point it shares with a dropped neighbour, with its DLEQ
    proof (docs/crypto.md, "Reveals")."""

    dropped: str = Field(description="the dropped member's address")
    point: str = Field(pattern=HEX, description="the shared point sk·PK, 33 bytes compressed")
    challenge: str = Field(pattern=HEX, description="the proof's challenge c, 32 bytes")
    response: str = Field(pattern=HEX, description="the proof's response z, 32 bytes")


class RevealsCreate(BaseModel):
    """The body of ``POST /v1/rounds/{n}/reveals``: the signer's reveals for the round."""

    reveals: list[RevealIn] = Field(min_length=1, max_length=1024)


class RevealPublic(RevealIn):
    """A stored, verified reveal."""

    revealer: str
    received_at: int


class RevealsPublic(BaseModel):
    """A round's dropped members and the reveals stored for them (public: a revealed seed only
    removes the mask between a survivor and a member whose update is not in the sum)."""

    round: int
    phase: str
    dropped: list[str]
    reveals: list[RevealPublic]
    reveals_hash: str | None = Field(
        description="keccak256 of the reveals' canonical encoding: the correctionsHash the "
        "round closes with once they are complete (null without dropouts)"
    )


class UpdatePublic(BaseModel):
    """Metadata of a stored update (the bytes are served to auditors only)."""

    participant: str
    update_hash: str
    size: int
    received_at: int


class UpdateReceiptPublic(UpdatePublic):
    """Acknowledgement of an accepted update; identical for an identical re-upload."""

    round: int
    new: bool = Field(description="false when this exact update had already been accepted")


class ModelPublic(BaseModel):
    """A stored global model."""

    hash: str
    round: int
    size: int
    published: bool


class AttestationCreate(BaseModel):
    """An included participant's signed model attestation, for the aggregator to relay."""

    model_hash: str = Field(
        pattern=HASH_PATTERN, description="keccak256 of the model it derived, 0x-hex lowercase"
    )
    signature: str = Field(
        pattern=TYPED_SIGNATURE_PATTERN,
        description="its EIP-712 signature of `ModelAttestation(round, modelHash)`, 65 bytes "
        "(r, s, v) 0x-hex",
    )


class AttestationReceiptPublic(BaseModel):
    """Acknowledgement of a held attestation; identical for an identical re-send."""

    round: int
    participant: str
    model_hash: str
    new: bool = Field(description="false when this exact attestation was already held")
    upload_model: bool = Field(
        description="true: the aggregator lacks the model's bytes and asks this attester to "
        "upload them (`PUT /v1/models/{hash}?round=n`)"
    )
