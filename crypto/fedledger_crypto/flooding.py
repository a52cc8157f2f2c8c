"""Noise flooding of decryptions that leave a participant (published models).

A CKKS decryption returns the message plus the encryption noise ``e``. Whoever knows a
ciphertext and its exact decryption solves ``c0 + c1·s = Δ·m + e`` for the secret key ``s``
(Li–Micciancio, 2021); docs/crypto.md ("Published models and key recovery") shows which
published coordinates carry ``e`` and why. Flooding adds, before anything is published, noise
far larger than ``e`` that every participant derives identically — so the models stay
byte-identical and attestations agree — from a secret only participants hold:

    key   = HKDF-SHA256(ikm = the secret key's residues, salt = label,
                        info = chain id ‖ ledger ‖ round ‖ keccak256(decrypted blob))
    noise = for each decrypted value, (u1 + u2 + u3 + u4) · FLOOD_STD · √12 / 2^33

with ``u1…u4`` signed 32-bit words of the AES-256-CTR keystream under ``key``: a smooth,
bell-shaped (Irwin–Hall) distribution of standard deviation ``FLOOD_STD``, bounded by
``√12·FLOOD_STD``. The noise is computed in exact integer arithmetic and scaled by one IEEE
multiplication: the same bits on every machine. It is bound to the blob, never reused: the same
noise on two different ciphertexts would cancel in their difference.

``FLOOD_STD = 2^-12`` in the summed values' units keeps every integer sum exact once rounded
(bound 8.5·10⁻⁴ ≪ 0.5) and the hashtags task's window check (10⁻³) intact, and lies far below
the models' float32 resolution after division by the summed weight.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedledger_crypto.masking.seeds import RoundContext

__all__ = ["FLOOD_STD", "flood_noise"]

#: Standard deviation of the flooding noise, in the units of the decrypted (summed) values.
FLOOD_STD = 2.0**-12
_SALT = b"fedledger-flooding-v1"
_SCALE = FLOOD_STD * math.sqrt(12) / 2**33


def flood_noise(
    secret: bytes, context: RoundContext, blob_hash: bytes, count: int
) -> npt.NDArray[np.float64]:
    """``count`` flooding values for the decryption, in ``context``, of the blob whose
    keccak256 is ``blob_hash``.

    ``secret`` is the shared secret key's residues (only participants hold it).
    """
    if len(blob_hash) != 32:
        raise ValueError(f"blob_hash is a 32-byte keccak256, got {len(blob_hash)} bytes")
    info = context.encode() + blob_hash
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(secret)
    encryptor = Cipher(algorithms.AES256(key), modes.CTR(bytes(16))).encryptor()
    words = np.frombuffer(encryptor.update(bytes(16 * count)), dtype="<i4").astype(np.int64)
    summed = words.reshape(count, 4).sum(axis=1)  # exact: |sum| ≤ 2^33
    noise: npt.NDArray[np.float64] = summed.astype(np.float64) * _SCALE
    return noise
