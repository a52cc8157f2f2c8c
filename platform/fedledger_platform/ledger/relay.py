"""Relayed messages: what participants sign so that a relayer submits it for them.

A participant (or the key dealer) without ether signs an EIP-712 typed message with its
account key; any account holding ``RELAYER_ROLE`` submits many of them in one transaction
(``relayCommitments``, ``relayAttestations``, ``relayEncryptionParams``). The domain is the
ledger's: name ``FederationLedger``, version ``1``, the chain id and the ledger's address, so
a signature is good on one ledger of one chain only; the round inside the message binds it to
one round. Wallets display these messages; here ``eth-account`` produces them.

A batch's item that breaks a rule is skipped on chain with a ``RelayedItemRejected`` event;
the binding reports those items (:class:`~fedledger_platform.ledger.results.RelayResult`).

On the wire (the aggregator's REST API) a signature is the 65 bytes ``r ‖ s ‖ v`` that
wallets produce (``eth_signTypedData_v4``); :meth:`SignedItem.from_signature` checks it under
the ledger's own rules (s in the lower half order) and :func:`recover_signer` tells whose it
is, so that whoever receives a signed message refuses what the ledger would skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.datastructures import SignedMessage
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

__all__ = [
    "MESSAGE_TYPES",
    "LedgerDomain",
    "SignatureFormatError",
    "SignedItem",
    "encryption_params_digest",
    "model_attestation_digest",
    "recover_signer",
    "sign_encryption_params",
    "sign_model_attestation",
    "sign_update_commitment",
    "update_commitment_digest",
]

#: The EIP-712 message types of ``IFederationLedger``.
MESSAGE_TYPES: dict[str, list[dict[str, str]]] = {
    "UpdateCommitment": [
        {"name": "round", "type": "uint64"},
        {"name": "updateHash", "type": "bytes32"},
    ],
    "ModelAttestation": [
        {"name": "round", "type": "uint64"},
        {"name": "modelHash", "type": "bytes32"},
    ],
    "EncryptionParams": [{"name": "paramsHash", "type": "bytes32"}],
}

_S_BITS = (1 << 255) - 1
#: The largest s the ledger accepts (half the secp256k1 order, as OpenZeppelin's ECDSA).
_S_MAX = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class SignatureFormatError(ValueError):
    """Bytes that are not a signature the ledger accepts (length, v, or s above half the
    curve order)."""


@dataclass(frozen=True)
class LedgerDomain:
    """The EIP-712 domain of one ledger on one chain."""

    chain_id: int
    ledger: str

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 tooling takes it."""
        return {
            "name": "FederationLedger",
            "version": "1",
            "chainId": self.chain_id,
            "verifyingContract": Web3.to_checksum_address(self.ledger),
        }


@dataclass(frozen=True)
class SignedItem:
    """One signed message for a batch: who signed, the hash signed, and the EIP-2098 compact
    signature (``r``; ``vs`` = s with v's parity in its top bit), as ``IFederationLedger``'s
    ``SignedItem``."""

    signer: str
    hash: bytes
    r: bytes
    vs: bytes

    def as_abi(self) -> tuple[str, bytes, bytes, bytes]:
        """The item as the contract's ABI tuple ``(signer, hash, r, vs)``."""
        return (Web3.to_checksum_address(self.signer), self.hash, self.r, self.vs)

    @property
    def signature(self) -> bytes:
        """The 65-byte signature ``r ‖ s ‖ v`` (v 27 or 28), as wallets write it."""
        vs = int.from_bytes(self.vs, "big")
        return self.r + (vs & _S_BITS).to_bytes(32, "big") + bytes([27 + (vs >> 255)])

    @classmethod
    def from_signature(cls, signer: str, hash_: bytes, signature: bytes) -> SignedItem:
        """The item of a 65-byte signature ``r ‖ s ‖ v`` (v 27/28 or 0/1) of ``hash_``
        claimed by ``signer``; :class:`SignatureFormatError` for anything the ledger would
        refuse for its form alone."""
        r, vs = _compact(signature)
        return cls(Web3.to_checksum_address(signer), _hash32(hash_, "hash"), r, vs)


def _compact(signature: bytes) -> tuple[bytes, bytes]:
    """``(r, vs)``, the EIP-2098 form of a 65-byte signature, checked as the ledger checks it."""
    if len(signature) != 65:
        raise SignatureFormatError(f"a signature is 65 bytes (r, s, v), got {len(signature)}")
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    if v not in (0, 1, 27, 28):
        raise SignatureFormatError(f"signature v must be 27 or 28 (or 0 or 1), got {v}")
    if s == 0 or s > _S_MAX:
        raise SignatureFormatError("signature s must be in the lower half of the curve order")
    return r, (s | ((v % 27) << 255)).to_bytes(32, "big")


def _hash32(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes (a keccak256 hash), got {len(value)}")
    return bytes(value)


def _round(value: int) -> int:
    if not 0 <= value < 2**64:
        raise ValueError(f"round must be in 0..2^64-1, got {value}")
    return value


def _message(
    domain: LedgerDomain, kind: str, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return domain.as_dict(), {kind: MESSAGE_TYPES[kind]}, values


def _digest(signable: SignableMessage) -> bytes:
    """The 32 bytes an EIP-712 signature signs: keccak256(0x19 ‖ 0x01 ‖ domain ‖ struct)."""
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def _item(account: LocalAccount, hash_: bytes, signed: SignedMessage) -> SignedItem:
    r, s, v = int(signed.r), int(signed.s), int(signed.v)
    if s > _S_BITS or v not in (27, 28):  # eth-account signs low-s, v 27/28: never happens
        raise ValueError("signature cannot be written in EIP-2098 compact form")
    vs = s | ((v - 27) << 255)
    return SignedItem(account.address, hash_, r.to_bytes(32, "big"), vs.to_bytes(32, "big"))


def _signable(
    domain: LedgerDomain, kind: str, round_number: int | None, hash_: bytes
) -> SignableMessage:
    field = {"UpdateCommitment": "updateHash", "ModelAttestation": "modelHash"}.get(
        kind, "paramsHash"
    )
    values: dict[str, Any] = {field: _hash32(hash_, field)}
    if round_number is not None:
        values["round"] = _round(round_number)
    return encode_typed_data(*_message(domain, kind, values))


def recover_signer(
    domain: LedgerDomain, kind: str, round_number: int | None, signature: bytes, hash_: bytes
) -> str:
    """Who signed the message ``kind`` (``UpdateCommitment``, ``ModelAttestation`` with its
    round; ``EncryptionParams`` with ``round_number`` ``None``) of ``hash_`` with
    ``signature`` (65 bytes ``r ‖ s ‖ v``); :class:`SignatureFormatError` when the ledger
    would refuse the signature's form. Another message, round, hash, chain or ledger recovers
    to another address, as on chain."""
    if kind not in MESSAGE_TYPES:
        raise ValueError(f"unknown message type {kind!r}")
    _compact(signature)  # the form the ledger accepts
    message = _signable(domain, kind, round_number, hash_)
    try:
        signer: str = Account.recover_message(message, signature=signature)
    except Exception as exc:  # eth-keys refuses an (r, s) that is no curve point
        raise SignatureFormatError(f"signature cannot be recovered: {exc}") from exc
    return signer


def update_commitment_digest(domain: LedgerDomain, round_number: int, update_hash: bytes) -> bytes:
    """The digest a participant signs to commit ``update_hash`` in a round."""
    values = {"round": _round(round_number), "updateHash": _hash32(update_hash, "update_hash")}
    domain_data, types, message = _message(domain, "UpdateCommitment", values)
    return _digest(encode_typed_data(domain_data, types, message))


def model_attestation_digest(domain: LedgerDomain, round_number: int, model_hash: bytes) -> bytes:
    """The digest a participant signs to attest ``model_hash`` for a round."""
    values = {"round": _round(round_number), "modelHash": _hash32(model_hash, "model_hash")}
    domain_data, types, message = _message(domain, "ModelAttestation", values)
    return _digest(encode_typed_data(domain_data, types, message))


def encryption_params_digest(domain: LedgerDomain, params_hash: bytes) -> bytes:
    """The digest the key dealer signs to commit ``params_hash``."""
    values = {"paramsHash": _hash32(params_hash, "params_hash")}
    domain_data, types, message = _message(domain, "EncryptionParams", values)
    return _digest(encode_typed_data(domain_data, types, message))


def sign_update_commitment(
    account: LocalAccount, domain: LedgerDomain, round_number: int, update_hash: bytes
) -> SignedItem:
    """``account``'s signed commitment of ``update_hash`` (keccak256 of its encrypted update)
    in round ``round_number``, for ``Ledger.relay_commitments``."""
    values = {"round": _round(round_number), "updateHash": _hash32(update_hash, "update_hash")}
    signed = account.sign_typed_data(*_message(domain, "UpdateCommitment", values))
    return _item(account, update_hash, signed)


def sign_model_attestation(
    account: LocalAccount, domain: LedgerDomain, round_number: int, model_hash: bytes
) -> SignedItem:
    """``account``'s signed attestation of ``model_hash`` for round ``round_number``, for
    ``Ledger.relay_attestations``."""
    values = {"round": _round(round_number), "modelHash": _hash32(model_hash, "model_hash")}
    signed = account.sign_typed_data(*_message(domain, "ModelAttestation", values))
    return _item(account, model_hash, signed)


def sign_encryption_params(
    account: LocalAccount, domain: LedgerDomain, params_hash: bytes
) -> bytes:
    """The key dealer's 65-byte signature (r ‖ s ‖ v) of ``params_hash``, for
    ``Ledger.relay_encryption_params``."""
    values = {"paramsHash": _hash32(params_hash, "params_hash")}
    return bytes(account.sign_typed_data(*_message(domain, "EncryptionParams", values)).signature)
