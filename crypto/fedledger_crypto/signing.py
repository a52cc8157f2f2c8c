"""Signed REST requests: EIP-191 signatures over a canonical description of the request.

Every mutating request carries four headers::

    X-Fedledger-Address    the sender's Ethereum address (checksummed)
    X-Fedledger-Timestamp  Unix seconds when the request was signed
    X-Fedledger-Nonce      32 random hex digits, never reused by the same sender
    X-Fedledger-Signature  0x-prefixed 65-byte EIP-191 (personal_sign) signature

The signed message is the canonical string::

    fedledger-request-v1
    <METHOD>
    <path, with the query string if any>
    <keccak256 of the body, 0x-hex>
    <timestamp>
    <nonce>
    <chain id>
    <ledger address, lowercase 0x-hex>

Binding the chain id and ledger address means a signature for one federation is worthless in
another. For an update upload the body hash *is* the on-chain commitment. The server checks the
signature, a ±300 s clock window and nonce reuse (:class:`NonceRegistry`), then admission on
chain (outside this module).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_hex_address, to_checksum_address

from fedledger_crypto.commitments import keccak256
from fedledger_crypto.errors import (
    MissingSignatureError,
    ReplayedNonceError,
    SignatureError,
    StaleRequestError,
)

__all__ = [
    "DEFAULT_WINDOW_S",
    "HEADER_ADDRESS",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MemoryNonceRegistry",
    "NonceRegistry",
    "RequestScope",
    "canonical_request",
    "sign_request",
    "verify_request",
]

HEADER_ADDRESS = "X-Fedledger-Address"
HEADER_TIMESTAMP = "X-Fedledger-Timestamp"
HEADER_NONCE = "X-Fedledger-Nonce"
HEADER_SIGNATURE = "X-Fedledger-Signature"
DEFAULT_WINDOW_S = 300
_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_SIGNATURE_RE = re.compile(r"^0x[0-9a-fA-F]{130}$")


@dataclass(frozen=True)
class RequestScope:
    """The federation a signature is valid for: chain id and ledger contract address."""

    chain_id: int
    ledger_address: str

    def __post_init__(self) -> None:
        if not is_hex_address(self.ledger_address):
            raise ValueError(f"ledger address {self.ledger_address!r} is not an Ethereum address")


def canonical_request(
    *,
    method: str,
    path: str,
    body: bytes = b"",
    timestamp: int,
    nonce: str,
    scope: RequestScope,
    body_hash: bytes | None = None,
) -> str:
    """The exact text that is signed (see the module docstring).

    ``body_hash`` (keccak256 of the body) may be given instead of ``body`` when the body was
    hashed while streaming it to disk.
    """
    digest = keccak256(body) if body_hash is None else body_hash
    return "\n".join(
        [
            "fedledger-request-v1",
            method.upper(),
            path,
            "0x" + digest.hex(),
            str(timestamp),
            nonce,
            str(scope.chain_id),
            scope.ledger_address.lower(),
        ]
    )


def sign_request(
    account: LocalAccount,
    *,
    method: str,
    path: str,
    body: bytes,
    scope: RequestScope,
    timestamp: int | None = None,
    nonce: str | None = None,
    body_hash: bytes | None = None,
) -> dict[str, str]:
    """Sign a request; returns the four headers to send with it.

    ``body_hash`` (keccak256 of ``body``) saves hashing a large body a second time.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = secrets.token_hex(16) if nonce is None else nonce
    message = canonical_request(
        method=method,
        path=path,
        body=body,
        timestamp=timestamp,
        nonce=nonce,
        scope=scope,
        body_hash=body_hash,
    )
    signed = account.sign_message(encode_defunct(text=message))
    return {
        HEADER_ADDRESS: account.address,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: "0x" + bytes(signed.signature).hex(),
    }


class NonceRegistry(Protocol):
    """Remembers (sender, nonce) pairs for at least the clock window."""

    def use(self, address: str, nonce: str, *, expires_at: float) -> bool:
        """Record the nonce; return ``False`` when it was already used by ``address``."""
        ...


class MemoryNonceRegistry:
    """An in-process :class:`NonceRegistry` that forgets nonces once they expire."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def use(self, address: str, nonce: str, *, expires_at: float) -> bool:
        """Record the nonce; ``False`` if ``address`` already used it."""
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            key = (address.lower(), nonce)
            if key in self._seen and self._seen[key] > now:
                return False
            self._seen[key] = expires_at
            return True


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive; Starlette lower-cases them.
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        raise MissingSignatureError(
            f"missing header {name}; sign the request (see fedledger_crypto.signing)"
        )
    return value


def verify_request(
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    body: bytes = b"",
    scope: RequestScope,
    nonces: NonceRegistry,
    now: float | None = None,
    window_s: int = DEFAULT_WINDOW_S,
    body_hash: bytes | None = None,
) -> str:
    """Verify a signed request and return the signer's checksummed address.

    Raises :class:`MissingSignatureError` (a header is absent), :class:`SignatureError`
    (a malformed header, a signature by another key),
    :class:`StaleRequestError` (timestamp outside ``±window_s``) or
    :class:`ReplayedNonceError` (nonce already used by this sender). The nonce is recorded
    only when everything else verified, so a forged request cannot burn a real sender's nonce.
    """
    address = _header(headers, HEADER_ADDRESS)
    if not is_hex_address(address):
        raise SignatureError(f"{HEADER_ADDRESS} {address!r} is not an Ethereum address")
    raw_ts = _header(headers, HEADER_TIMESTAMP)
    # isascii(): str.isdigit() also accepts digits int() rejects, such as "²" (a 500, not a 401).
    if not (raw_ts.isascii() and raw_ts.isdigit()) or len(raw_ts) > 12:
        raise SignatureError(f"{HEADER_TIMESTAMP} must be Unix seconds, got {raw_ts!r}")
    timestamp = int(raw_ts)
    nonce = _header(headers, HEADER_NONCE)
    if not _NONCE_RE.match(nonce):
        raise SignatureError(f"{HEADER_NONCE} must be 32 lowercase hex digits")
    signature = _header(headers, HEADER_SIGNATURE)
    if not _SIGNATURE_RE.match(signature):
        raise SignatureError(f"{HEADER_SIGNATURE} must be a 0x-prefixed 65-byte hex signature")
    message = canonical_request(
        method=method,
        path=path,
        body=body,
        timestamp=timestamp,
        nonce=nonce,
        scope=scope,
        body_hash=body_hash,
    )
    try:
        signer: str = Account.recover_message(
            encode_defunct(text=message), signature=bytes.fromhex(signature[2:])
        )
    except Exception as exc:  # eth-keys raises BadSignature/ValueError for invalid (r, s, v)
        raise SignatureError(f"signature cannot be recovered: {exc}") from exc
    if signer.lower() != address.lower():
        raise SignatureError(
            "signature does not match the request (method, path, body, timestamp, nonce, chain or "
            f"ledger differ) or was made by another key than {to_checksum_address(address)}"
        )
    now = time.time() if now is None else now
    if abs(now - timestamp) > window_s:
        raise StaleRequestError(
            f"request timestamp {timestamp} is {now - timestamp:+.0f} s from the server clock; "
            f"the window is ±{window_s} s (check the client's clock)"
        )
    if not nonces.use(signer, nonce, expires_at=timestamp + window_s + 1):
        raise ReplayedNonceError(f"nonce {nonce} was already used by {signer}")
    return signer
