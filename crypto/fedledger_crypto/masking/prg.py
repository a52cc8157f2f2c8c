"""The mask PRG: a 32-byte pair seed expanded into residues uniform modulo a prime.

AES-256-CTR keyed by the seed (``cryptography``, OpenSSL) produces a keystream; each 64-bit
little-endian word keeps its low ``b = bitlen(q)`` bits and is accepted when below ``q``
(rejection sampling: every accepted value is exactly uniform on ``[0, q)``). The 128-bit
counter block is ``prime index (u32) ‖ stream (u32) ‖ block counter (u64)``, big-endian:

* stream 0: chunk ``c`` of an update takes the ``N`` words starting at word ``c·N``, so any run
  of chunks is one contiguous keystream (one AES call for many chunks);
* stream 1: words rejected in chunk ``c`` are replaced, in position order, by the accepted
  words of the keystream starting at block ``c·2^32`` — a chunk never needs 2^32 blocks.

The counter ranges of different primes, streams and chunks never overlap, so every residue of
every chunk and prime comes from its own keystream blocks (domain separation), and the output
for a chunk does not depend on which run of chunks was requested. SEAL's primes lie just below
a power of two (``q > 2^b·(1 − 2^-40)`` for the shipped sets), so stream 1 is almost never
read; it keeps the output exactly uniform for any prime.
"""

from __future__ import annotations

import struct

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fedledger_crypto.errors import MaskingError
from fedledger_crypto.residues import ResidueArray

__all__ = ["expand"]

_SPILL_STREAM = 1
_SPILL_STRIDE = 2**32  # blocks reserved for the spill stream of one chunk
_BLOCK_WORDS = 2  # 64-bit words per 16-byte AES block
_ZEROS = bytes(8 * 16 * 4096)  # the plaintext of the keystream, for runs up to 16 chunks of 4096


def _keystream_words(seed: bytes, counter: bytes, words: int) -> ResidueArray:
    """``words`` little-endian 64-bit words of AES-256-CTR keystream from ``counter``."""
    encryptor = Cipher(algorithms.AES256(seed), modes.CTR(counter)).encryptor()
    size = 8 * words
    zeros = memoryview(_ZEROS)[:size] if size <= len(_ZEROS) else bytes(size)
    # Written in place into an uninitialised array (update_into wants room for one more
    # block): no zero-filled buffer and no copy per neighbour.
    out = np.empty(words + 2, dtype="<u8")  # the keystream read as little-endian words
    encryptor.update_into(zeros, out.data.cast("B"))
    return out[:words]


def _counter(prime_index: int, stream: int, block: int) -> bytes:
    return struct.pack(">IIQ", prime_index, stream, block)


def expand(
    seed: bytes, modulus: int, prime_index: int, *, degree: int, start: int, stop: int
) -> ResidueArray:
    """Residues uniform modulo ``modulus`` for chunks ``start`` to ``stop - 1``: shape
    ``(stop - start, degree)``, dtype ``uint64``. Deterministic in all arguments.
    """
    if len(seed) != 32:
        raise MaskingError(f"a pair seed is 32 bytes, got {len(seed)}")
    if not 2 < modulus < 2**63 or degree < 2 or degree % _BLOCK_WORDS or not 0 <= start <= stop:
        raise MaskingError(
            f"cannot expand: modulus {modulus}, degree {degree}, chunks [{start}, {stop})"
        )
    keep = np.uint64((1 << modulus.bit_length()) - 1)
    q = np.uint64(modulus)
    words = _keystream_words(
        seed, _counter(prime_index, 0, start * degree // _BLOCK_WORDS), (stop - start) * degree
    )
    words &= keep
    out = words.reshape(stop - start, degree)
    if out.size and out.max() >= q:
        for row in np.flatnonzero((out >= q).any(axis=1)):
            _refill(out[row], seed, q=q, keep=keep, prime_index=prime_index, chunk=start + int(row))
    return out


def _refill(
    row: ResidueArray,
    seed: bytes,
    *,
    q: np.uint64,
    keep: np.uint64,
    prime_index: int,
    chunk: int,
) -> None:
    """Replace the rejected words of ``row`` by accepted words of the chunk's spill stream."""
    rejected = np.flatnonzero(row >= q)
    spill = _counter(prime_index, _SPILL_STREAM, chunk * _SPILL_STRIDE)
    # Draw enough words for all replacements at once with overwhelming probability; the
    # acceptance rate q/2^b is at least 1/2.
    draw = 4 * len(rejected) + 64
    while True:
        candidates = _keystream_words(seed, spill, draw) & keep
        accepted = candidates[candidates < q]
        if len(accepted) >= len(rejected):
            row[rejected] = accepted[: len(rejected)]
            return
        draw *= 2  # the same stream, longer: the first accepted words do not change
