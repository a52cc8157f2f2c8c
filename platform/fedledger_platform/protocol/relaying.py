"""Relaying as the REST API carries it, and the participant's censorship fallback.

A participant holds no ether: it signs its commitment, its attestation (and the key dealer its
parameters hash) as EIP-712 messages (:mod:`fedledger_platform.ledger.relay`) and hands them to
the aggregator, which submits them to the ledger in batches. Two headers carry a signature
alongside a body that is already signed as a request (``fedledger_crypto.signing``); an
attestation travels in its own route's JSON body. A signature is 65 bytes ``r ‖ s ‖ v``,
``0x``-hex.

The fallback (:func:`fallback_due`): a signed message that is not on chain ``timeout_s`` after
it was handed over is sent by the participant itself when its account holds the ether for it,
and otherwise waited for; the ledger counts either path once, and rounds and the audit treat
both the same.
"""

from __future__ import annotations

__all__ = ["COMMITMENT_SIGNATURE_HEADER", "PARAMS_SIGNATURE_HEADER", "fallback_due"]

#: On ``PUT /v1/rounds/{n}/updates``: the uploader's signed
#: ``UpdateCommitment(n, keccak256(body))``.
COMMITMENT_SIGNATURE_HEADER = "X-Fedledger-Commitment-Signature"
#: On ``PUT /v1/federation/parameters``: the key dealer's signed
#: ``EncryptionParams(keccak256(body))``.
PARAMS_SIGNATURE_HEADER = "X-Fedledger-Params-Signature"


def fallback_due(handed_over_at: float, now: float, timeout_s: float) -> bool:
    """Whether a signed message handed over for relaying at ``handed_over_at`` and not on chain
    yet is due to be sent directly (``now`` on the same clock)."""
    return now - handed_over_at >= timeout_s
