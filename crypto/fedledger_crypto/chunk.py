"""One chunk of a blob is one SEAL ciphertext: encoding, encryption, loading and decryption.

CKKS slots are complex numbers; a chunk carries up to N/2 of them, i.e. up to N values (value
``2k`` is the real part of slot ``k``, value ``2k + 1`` its imaginary part). TenSEAL's own
vectors encode real numbers only, so the participant encodes, encrypts and decrypts through
SEAL's API as TenSEAL ships it (``tenseal.sealapi``) and wraps each ciphertext in TenSEAL's
vector message (``CKKSVectorProto``); the aggregator and auditors load and add chunks as
ordinary TenSEAL vectors (:func:`load_vector`).

Encryption is split in two steps: :meth:`SealCodec.encode` (slots → plaintext) and
:meth:`SealCodec.encrypt` (plaintext → serialized chunk), which adds a pairwise mask
polynomial (:mod:`fedledger_crypto.masking`) to the serialized ciphertext's first component.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import tenseal as ts
from tenseal import sealapi

from fedledger_crypto.context import Context
from fedledger_crypto.errors import MalformedBlobError, ParameterMismatchError
from fedledger_crypto.params import CKKSParams
from fedledger_crypto.residues import ResidueArray, ResidueIO

__all__ = [
    "ComplexArray",
    "SealCodec",
    "ckks_vector_message",
    "load_vector",
    "max_chunk_bytes",
]

ComplexArray = npt.NDArray[np.complex128]


def max_chunk_bytes(params: CKKSParams) -> int:
    """An upper bound on the size of one serialized chunk of ``params``.

    A blob's chunk table is checked against it before any chunk is read.
    """
    # Two polynomials of N 64-bit coefficients per data prime, plus generous framing.
    return 2 * params.poly_modulus_degree * params.data_level_primes * 8 + 4096


def load_vector(
    ctx: Context, params: CKKSParams, chunk: bytes, expected_slots: int, index: int
) -> Any:
    """Parse chunk ``index`` as a TenSEAL vector and check it is a fresh ciphertext of
    ``params`` filling ``expected_slots`` slots.

    Raises :class:`MalformedBlobError` for bytes that are not such a ciphertext and
    :class:`ParameterMismatchError` for a ciphertext of other CKKS parameters or scale.
    """
    try:
        vector = ts.ckks_vector_from(ctx, chunk)
    except Exception as exc:  # TenSEAL/SEAL raise ValueError or RuntimeError for bad streams
        raise MalformedBlobError(f"chunk {index} is not a valid CKKS ciphertext ({exc})") from exc
    ciphertexts = vector.data.ciphertext()
    if len(ciphertexts) != 1:
        raise MalformedBlobError(f"chunk {index} holds {len(ciphertexts)} ciphertexts, expected 1")
    ct = ciphertexts[0]
    if (
        ct.poly_modulus_degree() != params.poly_modulus_degree
        or ct.coeff_modulus_size() != params.data_level_primes
        or list(ct.parms_id()) != list(ctx.data.seal_context().first_parms_id())
    ):
        raise ParameterMismatchError(f"chunk {index} was encrypted under other CKKS parameters")
    if ct.scale != params.scale:
        raise ParameterMismatchError(
            f"chunk {index} has scale 2**{math.log2(max(ct.scale, 1.0)):.2f}, expected "
            f"2**{params.scale_bits}"
        )
    if ct.size() != 2 or not ct.is_ntt_form() or ct.is_transparent():
        raise MalformedBlobError(f"chunk {index} is not a fresh two-component ciphertext")
    if vector.size() != expected_slots:
        raise MalformedBlobError(
            f"chunk {index} fills {vector.size()} slots, expected {expected_slots}"
        )
    return vector


def _proto_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def ckks_vector_message(slots: int, ciphertext: bytes, scale: float) -> bytes:
    """TenSEAL's ``CKKSVectorProto`` for one ciphertext filling ``slots`` slots.

    The message (tenseal/proto/tensors.proto) has three fields: ``repeated uint32 sizes = 1``
    (packed), ``repeated bytes ciphertexts = 2`` and ``double scale = 3``.
    """
    sizes = _proto_varint(slots)
    return b"".join(
        (
            b"\x0a" + _proto_varint(len(sizes)) + sizes,
            b"\x12" + _proto_varint(len(ciphertext)) + ciphertext,
            b"\x19" + struct.pack("<d", scale),
        )
    )


class SealCodec:
    """Complex encoding, symmetric encryption (masked or not) and decryption of single SEAL
    ciphertexts.

    Needs a secret context. Serialization goes through :class:`ResidueIO`'s private scratch
    directory, removed with the object.
    """

    def __init__(self, ctx: Context, params: CKKSParams) -> None:
        seal_context = ctx.data.seal_context()
        self._secret_key = ctx.data.secret_key()
        self._encoder = sealapi.CKKSEncoder(seal_context)
        self._encryptor = sealapi.Encryptor(seal_context, self._secret_key)
        self._decryptor = sealapi.Decryptor(seal_context, self._secret_key)
        self._scale = params.scale
        self.io = ResidueIO(ctx, params)
        self._secret: ResidueArray | None = None

    def encode(self, pairs: ComplexArray) -> Any:
        """The plaintext polynomial of ``pairs`` (at most N/2 complex slots) at the scale.

        SEAL leaves a CKKS plaintext at the first data level in NTT form: for each data prime
        ``q_i`` in turn, N residues modulo ``q_i`` (``coeff_count() == N × data primes``).
        """
        plain = sealapi.Plaintext()
        self._encoder.encode(pairs.tolist(), self._scale, plain)
        return plain

    def encrypt(self, plain: Any, slots: int, mask: ResidueArray | None = None) -> bytes:
        """One chunk: ``plain`` (filling ``slots`` slots) encrypted, as a TenSEAL message; with
        ``mask`` (residues in NTT form), the encryption of ``plain + mask``.

        A symmetric encryption is ``(c0, c1) = (−a·s + m + e, a)``, in NTT form. Adding ``r``
        to ``c0`` gives ``(−a·s + (m + r) + e, a)``: exactly the encryption of ``m + r`` with
        the same ``a`` and ``e``. So the mask is added to the ``c0`` words of the serialized
        chunk (:meth:`ResidueIO.add_to_serialized_c0`), with no second pass through SEAL.
        """
        # The serializable form of a symmetric encryption stores the second polynomial as the
        # seed it was drawn from (SEAL expands it on load): half the bytes of a chunk.
        data = self.io.save(self._encryptor.encrypt_symmetric(plain))
        if mask is not None:
            data = self.io.add_to_serialized_c0(data, mask)
        return ckks_vector_message(slots, data, self._scale)

    def secret_residues(self) -> ResidueArray:
        """The secret key ``s`` at the data level in NTT form (as SEAL stores it), read once."""
        if self._secret is None:
            key = self._secret_key.data()
            k, n = self.io.shape
            flat = np.fromiter((key[i] for i in range(k * n)), dtype=np.uint64, count=k * n)
            self._secret = flat.reshape(k, n)
        return self._secret

    def decrypt(self, vector: Any) -> ComplexArray:
        """The complex slots a loaded, validated TenSEAL vector fills."""
        plain = sealapi.Plaintext()
        self._decryptor.decrypt(vector.data.ciphertext()[0], plain)
        slots = np.asarray(self._encoder.decode_complex(plain), dtype=np.complex128)
        return slots[: vector.size()]

    def close(self) -> None:
        """Remove the private directory now rather than when the object is collected."""
        self.io.close()
