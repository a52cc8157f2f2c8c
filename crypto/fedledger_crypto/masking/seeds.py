"""Pair seeds: one secret per pair of participants and round, from keys already on chain.

Participant ``i`` holds its account's secp256k1 private key ``sk_i``; every participant's public
key ``PK_j = sk_j·G`` is registered on chain at admission. The pair's shared point
``P = sk_i·PK_j = sk_j·PK_i`` (ECDH, through ``coincurve``) needs no message between them. The
seed is HKDF-SHA256 of the compressed point, bound to the round: chain id, ledger address, round
number and the two addresses in ascending order, so both sides derive the same 32 bytes and
any other round, ledger, chain or pair yields an unrelated seed (HKDF is a PRF keyed by the
point; the point is a Diffie–Hellman secret, unknown to anyone without ``sk_i`` or ``sk_j``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedledger_crypto.commitments import keccak256
from fedledger_crypto.errors import MaskingError

__all__ = [
    "RoundContext",
    "address_bytes",
    "address_of_private_key",
    "address_of_public_key",
    "canonical_address",
    "pair_seed",
    "public_key_of_private",
    "public_key_point",
    "seed_from_point",
    "shared_point",
]

_SEED_SALT = b"fedledger-mask-seed-v1"
_ADDRESS_BYTES = 20


def address_bytes(address: str) -> bytes:
    """The 20 bytes of a ``0x``-prefixed hex address (any case)."""
    body = address[2:] if address[:2] in ("0x", "0X") else ""
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raw = b""
    if len(raw) != _ADDRESS_BYTES:
        raise MaskingError(f"{address!r} is not a 0x-prefixed 20-byte hex address")
    return raw


def canonical_address(address: str) -> str:
    """The lowercase ``0x`` form of an address: members, graphs and reveals use it."""
    return "0x" + address_bytes(address).hex()


@dataclass(frozen=True)
class RoundContext:
    """What binds a seed, a proof or a correction to one round of one federation."""

    chain_id: int
    ledger: str
    round: int

    def __post_init__(self) -> None:
        if not 0 <= self.chain_id < 2**256:
            raise MaskingError(f"chain id {self.chain_id} is outside [0, 2**256)")
        if not 0 <= self.round < 2**64:
            raise MaskingError(f"round {self.round} is outside [0, 2**64)")
        object.__setattr__(self, "ledger", canonical_address(self.ledger))

    def encode(self) -> bytes:
        """Fixed-width bytes: chain id (32, big-endian), ledger (20), round (8, big-endian)."""
        return (
            self.chain_id.to_bytes(32, "big")
            + address_bytes(self.ledger)
            + struct.pack(">Q", self.round)
        )


def public_key_point(public_key: bytes) -> PublicKey:
    """A 64-byte public key (x‖y) as a curve point; :class:`MaskingError` if it is not one."""
    if len(public_key) != 64:
        raise MaskingError(f"a public key is 64 bytes (x‖y), got {len(public_key)}")
    try:
        return PublicKey(b"\x04" + public_key)
    except ValueError as exc:
        raise MaskingError(f"public key {public_key.hex()[:16]}… is not on secp256k1") from exc


def address_of_public_key(public_key: bytes) -> str:
    """The lowercase address of a 64-byte public key (keccak256's last 20 bytes)."""
    public_key_point(public_key)
    return "0x" + keccak256(public_key)[12:].hex()


def _private_key(private_key: bytes) -> PrivateKey:
    try:
        return PrivateKey(bytes(private_key))
    except ValueError as exc:
        raise MaskingError("the private key is not a valid secp256k1 scalar") from exc


def public_key_of_private(private_key: bytes) -> bytes:
    """The 64-byte public key (x‖y) of a private key."""
    return bytes(_private_key(private_key).public_key.format(compressed=False))[1:]


def address_of_private_key(private_key: bytes) -> str:
    """The lowercase address of the account holding ``private_key``."""
    return address_of_public_key(public_key_of_private(private_key))


def shared_point(private_key: bytes, public_key: bytes) -> bytes:
    """The compressed ECDH point ``sk·PK`` (33 bytes) of a private key and a 64-byte public key."""
    scalar = _private_key(private_key).secret
    return bytes(public_key_point(public_key).multiply(scalar).format(compressed=True))


def seed_from_point(point: bytes, context: RoundContext, a: str, b: str) -> bytes:
    """The 32-byte pair seed of addresses ``a`` and ``b`` in ``context`` from their shared point.

    Anyone holding the point (a verified reveal) derives it; the order of ``a`` and ``b`` does
    not matter.
    """
    first, second = sorted((address_bytes(a), address_bytes(b)))
    if first == second:
        raise MaskingError(f"a pair needs two distinct addresses, got {canonical_address(a)} twice")
    info = context.encode() + first + second
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SEED_SALT, info=info)
    return hkdf.derive(point)


def pair_seed(
    private_key: bytes, own: str, peer: str, peer_public_key: bytes, context: RoundContext
) -> bytes:
    """The seed ``own`` (holding ``private_key``) shares with ``peer`` in ``context``."""
    return seed_from_point(shared_point(private_key, peer_public_key), context, own, peer)
