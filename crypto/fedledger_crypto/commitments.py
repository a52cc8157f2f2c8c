"""Commitments: keccak256 over exact bytes, as any Ethereum tool computes it."""

from __future__ import annotations

from eth_hash.auto import keccak as _keccak

__all__ = ["hash_from_hex", "hash_hex", "keccak256"]


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """keccak256 (Ethereum's, not SHA3-256) of ``data``; 32 bytes."""
    return _keccak(bytes(data))


def hash_hex(digest: bytes) -> str:
    """``0x``-prefixed lowercase hex of a 32-byte digest."""
    if len(digest) != 32:
        raise ValueError(f"expected a 32-byte digest, got {len(digest)} bytes")
    return "0x" + digest.hex()


def hash_from_hex(text: str) -> bytes:
    """Parse a ``0x``-prefixed 32-byte hex digest; ``ValueError`` names what is wrong."""
    body = text[2:] if text.startswith(("0x", "0X")) else text
    if len(body) != 64:
        raise ValueError(f"expected 64 hex digits for a 32-byte hash, got {len(body)}: {text!r}")
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ValueError(f"not a hex hash: {text!r}") from None
