"""Key sealing: the key dealer encrypts the secret CKKS context to each participant.

ECIES over secp256k1 (``eciespy``: ephemeral ECDH, HKDF-SHA256, AES-256-GCM) to the public key of
the participant's Ethereum account, so only that account's private key opens it. The aggregator
stores the sealed copies but can open none.

Sealing alone would let whoever stores the copies substitute a context of its own (it knows
every participant's public key) and later read updates encrypted under it. So the dealer also
signs each sealed copy (EIP-191) over the recipient, the federation (chain id and ledger) and
the ciphertext's keccak256, and :func:`open_sealed_key` accepts it only with the signature of
the key dealer recorded on chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import ecies
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

from fedledger_crypto.commitments import keccak256
from fedledger_crypto.errors import SealingError
from fedledger_crypto.signing import RequestScope

__all__ = [
    "SealedKey",
    "address_of_public_key",
    "open_sealed_key",
    "public_key_of",
    "seal_key",
    "sealed_key_signer",
]


def public_key_of(account: LocalAccount) -> bytes:
    """The 64-byte uncompressed secp256k1 public key (x‖y) of a local account."""
    return bytes(PrivateKey(bytes(account.key)).public_key.to_bytes())


def address_of_public_key(public_key: bytes) -> str:
    """The checksummed Ethereum address of a 64-byte public key."""
    if len(public_key) != 64:
        raise SealingError(f"a public key is 64 bytes (x‖y), got {len(public_key)}")
    return to_checksum_address(keccak256(public_key)[12:])


@dataclass(frozen=True)
class SealedKey:
    """A secret sealed to one participant, with the dealer's signature over it."""

    recipient: str
    ciphertext: bytes
    dealer_signature: bytes

    def signed_message(self, scope: RequestScope) -> str:
        """The text the dealer signs."""
        return _sealed_message(self.recipient, self.ciphertext, scope)


def _sealed_message(recipient: str, ciphertext: bytes, scope: RequestScope) -> str:
    return "\n".join(
        [
            "fedledger-sealed-key-v1",
            str(scope.chain_id),
            scope.ledger_address.lower(),
            recipient.lower(),
            "0x" + keccak256(ciphertext).hex(),
        ]
    )


def seal_key(
    secret: bytes, *, recipient_public_key: bytes, dealer: LocalAccount, scope: RequestScope
) -> SealedKey:
    """Seal ``secret`` to the account owning ``recipient_public_key`` and sign it as dealer."""
    recipient = address_of_public_key(recipient_public_key)
    ciphertext = ecies.encrypt(b"\x04" + recipient_public_key, secret)
    signed = dealer.sign_message(encode_defunct(text=_sealed_message(recipient, ciphertext, scope)))
    return SealedKey(recipient, ciphertext, bytes(signed.signature))


def sealed_key_signer(sealed: SealedKey, scope: RequestScope) -> str:
    """The address that signed this sealed copy for ``scope``; :class:`SealingError` if none."""
    try:
        signer: str = Account.recover_message(
            encode_defunct(text=sealed.signed_message(scope)), signature=sealed.dealer_signature
        )
    except Exception as exc:  # eth-keys raises BadSignature/ValueError for invalid (r, s, v)
        raise SealingError(f"sealed key carries an unreadable dealer signature: {exc}") from exc
    return signer


def open_sealed_key(
    sealed: SealedKey, *, account: LocalAccount, expected_dealer: str, scope: RequestScope
) -> bytes:
    """Check the dealer's signature, then open the sealed secret with ``account``'s key.

    Raises :class:`SealingError` when the copy is for another account, was not signed by
    ``expected_dealer`` (the key dealer on chain) for this federation, or does not decrypt.
    """
    if sealed.recipient.lower() != account.address.lower():
        raise SealingError(f"sealed key is for {sealed.recipient}, not for {account.address}")
    signer = sealed_key_signer(sealed, scope)
    if signer.lower() != expected_dealer.lower():
        raise SealingError(
            f"sealed key was signed by {signer}, not by the key dealer {expected_dealer}; "
            "refusing it"
        )
    try:
        return bytes(ecies.decrypt(bytes(account.key), sealed.ciphertext))
    except Exception as exc:  # eciespy raises ValueError/InvalidTag for a wrong key or bad data
        raise SealingError(f"sealed key cannot be opened with this account's key: {exc}") from exc
