"""Dropout reveals: a survivor discloses the point it shares with a dropped neighbour, with proof.

When participant ``d`` drops out, each surviving neighbour ``j`` publishes ``P = sk_j·PK_d`` (the
ECDH point behind ``s_jd``) and a Chaum–Pedersen proof that the scalar linking ``G`` to its
registered key ``PK_j`` also links ``PK_d`` to ``P``: ``log_G PK_j = log_{PK_d} P``. Anyone
verifies it from the two on-chain public keys and derives ``s_jd`` (``seed_from_point``); nothing
else about ``sk_j`` leaks (the proof is honest-verifier zero-knowledge, made non-interactive by
Fiat–Shamir).

Proof, with ``n`` the group order and ``H`` SHA-256 read as a big-endian integer mod ``n``::

    r  = HMAC-SHA256(sk_j, label ‖ context ‖ PK_d ‖ P) mod n   (deterministic nonce)
    A  = r·G,  B = r·PK_d
    c  = H(label ‖ context ‖ j ‖ d ‖ PK_j ‖ PK_d ‖ P ‖ A ‖ B)
    z  = r + c·sk_j mod n

Verification recomputes ``A = z·G − c·PK_j`` and ``B = z·PK_d − c·P`` and checks the challenge.
The context (chain id, ledger, round) and both addresses are hashed in, so a proof for another
round, ledger, chain or pair does not verify here.

A list of reveals has one canonical encoding (:func:`encode_reveals`); its keccak256 is what
the ledger records as the round's ``correctionsHash``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from coincurve import PublicKey

from fedledger_crypto.commitments import keccak256
from fedledger_crypto.errors import RevealError
from fedledger_crypto.masking.seeds import (
    RoundContext,
    address_bytes,
    address_of_private_key,
    address_of_public_key,
    canonical_address,
    public_key_of_private,
    public_key_point,
    seed_from_point,
    shared_point,
)

__all__ = [
    "Reveal",
    "decode_reveals",
    "encode_reveals",
    "make_reveal",
    "reveals_hash",
    "verify_reveal",
]

_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_PROOF_LABEL = b"fedledger-dleq-v1"
_NONCE_LABEL = b"fedledger-dleq-nonce-v1"
_MAGIC = b"FLRV"
_VERSION = 1
_POINT = 33
_RECORD = 20 + 20 + _POINT + 32 + 32


@dataclass(frozen=True)
class Reveal:
    """``revealer`` discloses ``point = sk_revealer·PK_dropped`` with a DLEQ proof ``(c, z)``."""

    revealer: str
    dropped: str
    point: bytes
    challenge: bytes
    response: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "revealer", canonical_address(self.revealer))
        object.__setattr__(self, "dropped", canonical_address(self.dropped))
        if len(self.point) != _POINT or len(self.challenge) != 32 or len(self.response) != 32:
            raise RevealError(
                f"reveal by {self.revealer} for {self.dropped}: point, challenge and response "
                f"are 33, 32 and 32 bytes"
            )

    def encode(self) -> bytes:
        """The fixed-width record: revealer, dropped, point, challenge, response."""
        return (
            address_bytes(self.revealer)
            + address_bytes(self.dropped)
            + self.point
            + self.challenge
            + self.response
        )


def _scalar(data: bytes) -> int:
    return int.from_bytes(data, "big") % _ORDER


def _compressed(point: PublicKey) -> bytes:
    return bytes(point.format(compressed=True))


def _challenge(
    context: RoundContext, revealer: str, dropped: str, points: Iterable[PublicKey]
) -> int:
    digest = hashlib.sha256(_PROOF_LABEL + context.encode())
    digest.update(address_bytes(revealer) + address_bytes(dropped))
    for point in points:
        digest.update(_compressed(point))
    return _scalar(digest.digest())


def make_reveal(private_key: bytes, dropped_public_key: bytes, context: RoundContext) -> Reveal:
    """The reveal, by the holder of ``private_key``, of the point it shares with the owner of
    ``dropped_public_key`` in ``context``.
    """
    revealer = address_of_private_key(private_key)
    dropped = address_of_public_key(dropped_public_key)
    pk_d = public_key_point(dropped_public_key)
    pk_j = public_key_point(public_key_of_private(private_key))
    point = shared_point(private_key, dropped_public_key)
    secret = int.from_bytes(private_key, "big")
    counter = 0
    while True:  # a nonce or response of 0 has probability 2^-256; retry rather than fail
        mac = hmac.new(
            bytes(private_key),
            _NONCE_LABEL + context.encode() + dropped_public_key + point + bytes([counter]),
            hashlib.sha256,
        )
        r = _scalar(mac.digest())
        if r:
            a = PublicKey.from_secret(r.to_bytes(32, "big"))
            b = pk_d.multiply(r.to_bytes(32, "big"))
            c = _challenge(context, revealer, dropped, (pk_j, pk_d, PublicKey(point), a, b))
            z = (r + c * secret) % _ORDER
            if z and c:
                return Reveal(
                    revealer, dropped, point, c.to_bytes(32, "big"), z.to_bytes(32, "big")
                )
        counter += 1


def verify_reveal(
    reveal: Reveal,
    *,
    revealer_public_key: bytes,
    dropped_public_key: bytes,
    context: RoundContext,
) -> bytes:
    """Check ``reveal`` against the two registered public keys; return the pair seed.

    Raises :class:`RevealError` naming the round and the pair when the keys are not the
    parties', the point is not on the curve, or the proof does not verify.
    """
    where = f"round {context.round}: reveal by {reveal.revealer} for dropped {reveal.dropped}"
    if address_of_public_key(revealer_public_key) != reveal.revealer:
        raise RevealError(f"{where}: the revealer's public key is not {reveal.revealer}'s")
    if address_of_public_key(dropped_public_key) != reveal.dropped:
        raise RevealError(f"{where}: the dropped public key is not {reveal.dropped}'s")
    c, z = int.from_bytes(reveal.challenge, "big"), int.from_bytes(reveal.response, "big")
    if not (0 < c < _ORDER and 0 < z < _ORDER):
        raise RevealError(f"{where}: proof scalars out of range")
    pk_j = public_key_point(revealer_public_key)
    pk_d = public_key_point(dropped_public_key)
    try:
        point = PublicKey(reveal.point)
        minus_c = (_ORDER - c).to_bytes(32, "big")
        a = PublicKey.combine_keys([PublicKey.from_secret(reveal.response), pk_j.multiply(minus_c)])
        b = PublicKey.combine_keys([pk_d.multiply(reveal.response), point.multiply(minus_c)])
    except ValueError as exc:  # not a point, or a sum at infinity: no valid proof gives either
        raise RevealError(f"{where}: the proof does not verify ({exc})") from exc
    if _challenge(context, reveal.revealer, reveal.dropped, (pk_j, pk_d, point, a, b)) != c:
        raise RevealError(f"{where}: the proof does not verify")
    return seed_from_point(reveal.point, context, reveal.revealer, reveal.dropped)


def _order(reveals: Iterable[Reveal]) -> list[Reveal]:
    return sorted(reveals, key=lambda r: (address_bytes(r.dropped), address_bytes(r.revealer)))


def encode_reveals(reveals: Iterable[Reveal], context: RoundContext) -> bytes:
    """The canonical bytes of a round's reveals: ``FLRV``, version, context, count, then the
    records sorted by (dropped, revealer). A pair revealed twice is refused.
    """
    ordered = _order(reveals)
    pairs = [(r.dropped, r.revealer) for r in ordered]
    if len(set(pairs)) != len(pairs):
        raise RevealError(f"round {context.round}: a pair is revealed more than once")
    head = _MAGIC + bytes([_VERSION]) + context.encode() + struct.pack(">I", len(ordered))
    return head + b"".join(r.encode() for r in ordered)


def decode_reveals(data: bytes) -> tuple[RoundContext, list[Reveal]]:
    """Parse :func:`encode_reveals`' bytes; refuses anything not in canonical form."""
    head = len(_MAGIC) + 1 + 60 + 4
    if len(data) < head or data[:4] != _MAGIC or data[4] != _VERSION:
        raise RevealError("not a fedledger reveal list (magic or version)")
    chain_id = int.from_bytes(data[5:37], "big")
    context = RoundContext(chain_id, "0x" + data[37:57].hex(), struct.unpack(">Q", data[57:65])[0])
    (count,) = struct.unpack(">I", data[65:69])
    if len(data) != head + count * _RECORD:
        raise RevealError(
            f"reveal list of {count} records must be {head + count * _RECORD} bytes, "
            f"got {len(data)}"
        )
    reveals = []
    for i in range(count):
        rec = data[head + i * _RECORD : head + (i + 1) * _RECORD]
        reveals.append(
            Reveal(
                "0x" + rec[:20].hex(), "0x" + rec[20:40].hex(), rec[40:73], rec[73:105], rec[105:]
            )
        )
    if encode_reveals(reveals, context) != data:
        raise RevealError("reveal list is not in canonical order (or repeats a pair)")
    return context, reveals


def reveals_hash(reveals: Iterable[Reveal], context: RoundContext) -> bytes:
    """keccak256 of :func:`encode_reveals`: the round's ``correctionsHash``."""
    return keccak256(encode_reveals(reveals, context))
