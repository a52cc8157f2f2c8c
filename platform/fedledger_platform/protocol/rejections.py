"""Why a request is refused: one exception per protocol error code.

The aggregator's parts raise these and know nothing of HTTP; the REST layer answers each with
its status (``fedledger_platform.aggregator.errors``) and the body
``{"error": {"status": …, "code": …, "message": …}}``. ``docs/protocol.md`` lists every code
with what a participant does about it.
"""

from __future__ import annotations

from typing import ClassVar

from fedledger_platform.errors import FedledgerError

__all__ = [
    "BadReveal",
    "BadSealedKey",
    "BadSignature",
    "BadTypedSignature",
    "BaseModelMissing",
    "CommitmentMismatch",
    "DuplicateUpdate",
    "MalformedBlob",
    "MalformedModel",
    "MalformedRequest",
    "MissingSignature",
    "NotAdmitted",
    "NotAllowed",
    "NotAttested",
    "NotFound",
    "NotMember",
    "NotReady",
    "Rejection",
    "ReplayedNonce",
    "RoundNotClosed",
    "RoundNotOpen",
    "RoundNotUnmasking",
    "SeedsRevealed",
    "StaleRequest",
    "TooLarge",
    "WrongParameters",
    "WrongSchema",
]


class Rejection(FedledgerError):  # noqa: N818 -- a refusal, not a failure of ours
    """A refused request; ``code`` is the stable, machine-readable name of the cause."""

    code: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedRequest(Rejection):
    """A parameter, header or JSON body that does not parse."""

    code = "malformed_request"


class MalformedBlob(Rejection):
    """An update body that is not a well-formed update blob."""

    code = "malformed_blob"


class MalformedModel(Rejection):
    """A model body that is not a canonical model file."""

    code = "malformed_model"


class TooLarge(Rejection):
    """A body over the configured limit."""

    code = "too_large"


class MissingSignature(Rejection):
    """A write (or an authorized read) without the signature headers."""

    code = "missing_signature"


class BadSignature(Rejection):
    """Signature headers that do not verify for this request."""

    code = "bad_signature"


class StaleRequest(Rejection):
    """A signed timestamp outside the accepted window."""

    code = "stale_request"


class ReplayedNonce(Rejection):
    """A nonce the signer already used in an accepted request."""

    code = "replayed_nonce"


class NotAdmitted(Rejection):
    """The signer (or a named recipient) is not an admitted participant on chain."""

    code = "not_admitted"


class NotAllowed(Rejection):
    """The signer lacks the role the request needs (auditor, key dealer, the recipient)."""

    code = "not_allowed"


class NotMember(Rejection):
    """An update to a masked round from a participant admitted after the round opened."""

    code = "not_member"


class NotFound(Rejection):
    """No such round, update, model or sealed key (yet)."""

    code = "not_found"


class RoundNotOpen(Rejection):
    """An update for a round that is not open."""

    code = "round_not_open"


class RoundNotUnmasking(Rejection):
    """A new reveal for a round that is not collecting reveals (not ``unmasking``)."""

    code = "round_not_unmasking"


class SeedsRevealed(Rejection):
    """An update from a member dropped from the round once any of its mask seeds was revealed."""

    code = "seeds_revealed"


class RoundNotClosed(Rejection):
    """An attestation for a round that is not closed (nor published)."""

    code = "round_not_closed"


class DuplicateUpdate(Rejection):
    """A second, different update (or sealed key) where one is allowed."""

    code = "duplicate"


class CommitmentMismatch(Rejection):
    """keccak256 of the body differs from the on-chain commitment (or the named hash)."""

    code = "commitment_mismatch"


class WrongParameters(Rejection):
    """A blob or context under other CKKS parameters than the federation's."""

    code = "wrong_parameters"


class WrongSchema(Rejection):
    """An update whose layout differs from the round's base model."""

    code = "wrong_schema"


class BadReveal(Rejection):
    """A reveal whose proof does not verify against the two on-chain keys, or that is not for a
    dropped mask neighbour of its signer."""

    code = "bad_reveal"


class NotAttested(Rejection):
    """Model bytes whose hash no included participant attested for the round."""

    code = "not_attested"


class BadTypedSignature(Rejection):
    """An EIP-712 signature (of a commitment, an attestation or the parameters) that is
    malformed or not the sender's signature of this message, round and hash."""

    code = "bad_typed_signature"


class BadSealedKey(Rejection):
    """A sealed key that does not parse or whose dealer signature does not verify."""

    code = "bad_sealed_key"


class NotReady(Rejection):
    """The aggregator cannot serve this yet; retry."""

    code = "not_ready"


class BaseModelMissing(NotReady):
    """The round's base model bytes are not stored yet; an attester of that model uploads them."""

    code = "base_model_missing"
