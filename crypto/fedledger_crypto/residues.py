"""Raw residue polynomials in and out of SEAL objects, through ``tenseal.sealapi`` as shipped.

A CKKS plaintext or ciphertext polynomial at the data level is stored by SEAL in NTT form as
``k × N`` 64-bit residues: for each data prime ``q_p`` in turn, N residues in ``[0, q_p)``.
SEAL's Python API, as TenSEAL ships it, reads such data one coefficient per call and loads
objects only from SEAL's serialized form. So residues go *into* SEAL as serialized bytes that
this module writes itself (SEAL's format with compression mode ``none``, which SEAL's loader
accepts and validates: parameters id, sizes, every residue below its prime), and come *out*
only where they must, one call per coefficient.

The serialized layouts (SEAL 4, ``Plaintext::save_members`` and ``Ciphertext::save_members``):
a 16-byte ``SEALHeader`` (magic, header size, version, compression mode, total size), then

* plaintext: parms id (4 × u64), coefficient count (u64), scale (f64), data array;
* ciphertext: parms id, NTT flag (u8), size, degree N, prime count (u64 each), scale (f64),
  correction factor (u64, 1 for CKKS), data array;

where a data array is a nested ``SEALHeader`` then its length (u64) and the words. A *seeded*
ciphertext (a fresh symmetric encryption's serializable form) stores only ``c0``'s ``k × N``
words in its data array, followed by the seed ``c1`` is expanded from; a compressed object
(zstd, SEAL's default) compresses everything after the outer header. A ciphertext's ``c0``
words can so be rewritten in the serialized bytes (:meth:`ResidueIO.add_to_serialized_c0`).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard
from tenseal import sealapi

from fedledger_crypto.context import Context
from fedledger_crypto.params import CKKSParams

__all__ = ["ResidueArray", "ResidueIO"]

#: ``uint64`` residues, shaped ``(k, N)`` for one polynomial (or ``(chunks, k, N)`` for many).
ResidueArray = npt.NDArray[np.uint64]

_COMPRESSION_NONE = 0
_COMPRESSION_ZSTD = 2
_HEADER_SIZE = 16
# In a serialized ciphertext's body: parms id (32), NTT flag (1), size, N, prime count, scale,
# correction factor (8 each), the data array's header (16) and length (8), then c0's words.
_C0_OFFSET = 32 + 1 + 5 * 8 + _HEADER_SIZE + 8


class ResidueIO:
    """Builds SEAL plaintexts and ciphertexts of one parameter set from raw residues, saves SEAL
    objects to bytes, and adds a residue polynomial to a ciphertext's first component.

    Works with a secret or a parameters-only context. SEAL saves and loads only through file
    paths here, so each object passes through a file in a private directory (memory-backed
    ``/dev/shm`` where it exists), removed with the object.
    """

    def __init__(self, ctx: Context, params: CKKSParams) -> None:
        self._seal_context = ctx.data.seal_context()
        data = self._seal_context.first_context_data()
        #: The data-level primes, in SEAL's order.
        self.moduli: tuple[int, ...] = tuple(int(m.value()) for m in data.parms().coeff_modulus())
        self.degree = params.poly_modulus_degree
        self._column = np.asarray(self.moduli, dtype=np.uint64).reshape(-1, 1)
        self._parms_id = struct.pack("<4Q", *self._seal_context.first_parms_id())
        self._evaluator = sealapi.Evaluator(self._seal_context)
        self._local = threading.local()
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        self.scratch = Path(tempfile.mkdtemp(prefix="fedledger-ct-", dir=base))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.scratch, ignore_errors=True)
        # The header's magic and version are whatever this SEAL build writes: read them once.
        probe = sealapi.Plaintext()
        sealapi.CKKSEncoder(self._seal_context).encode([0.0], 1.0, probe)
        self._version = self.save(probe)[:5]

    @property
    def shape(self) -> tuple[int, int]:
        """The shape ``(k, N)`` of one polynomial's residues."""
        return (len(self.moduli), self.degree)

    def reduce(self, residues: ResidueArray) -> ResidueArray:
        """``residues`` (each below twice its prime) reduced below their primes, in place."""
        # x − q wraps around to a huge value exactly when x < q: the minimum is x mod q.
        np.minimum(residues, residues - self._column, out=residues)
        return residues

    def save(self, obj: Any) -> bytes:
        """SEAL's serialized form of ``obj`` (a plaintext, ciphertext or serializable one)."""
        path = self._path()
        obj.save(path)
        # os-level calls: pathlib's parsing would cost as much as SEAL's own work per chunk.
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        os.unlink(path)  # noqa: PTH108 - nothing left behind by a process that is killed
        return data

    def plaintext(self, residues: ResidueArray, scale: float) -> Any:
        """An NTT-form plaintext at the data level holding ``residues`` (shape ``(k, N)``)."""
        fields = struct.pack("<Qd", residues.size, scale)
        plain = sealapi.Plaintext()
        self._load(plain, fields, [residues])
        return plain

    def add_to_c0(self, ciphertext: Any, residues: ResidueArray) -> None:
        """Add the polynomial ``residues`` to the first component of ``ciphertext``, in place.

        This is SEAL's plaintext addition: decryption then yields the old plaintext plus
        ``residues``, modulo each prime. No key is involved.
        """
        self._evaluator.add_plain_inplace(ciphertext, self.plaintext(residues, ciphertext.scale))

    def add_to_serialized_c0(self, data: bytes, residues: ResidueArray) -> bytes:
        """A serialized ciphertext (SEAL's form, seeded or not, compressed or not) with the
        polynomial ``residues`` added to its first component modulo each prime.

        Decryption then yields the old plaintext plus ``residues``, as with :meth:`add_to_c0`,
        but the ciphertext never goes through SEAL: its ``c0`` words are rewritten in place,
        so a seeded ciphertext keeps its seed (half the bytes). The result is written with
        compression mode none, or zstd when the input was compressed to fewer bytes than its
        raw form (as SEAL does for primes well below 2^64).
        """
        if len(data) < _HEADER_SIZE or data[:5] != self._version:
            raise ValueError("not a ciphertext serialized by this SEAL build")
        mode = data[5]
        if mode == _COMPRESSION_NONE:
            body = data[_HEADER_SIZE:]
        elif mode == _COMPRESSION_ZSTD:
            body = self._zstd().decompress(data[_HEADER_SIZE:])
        else:
            raise ValueError(f"SEAL compression mode {mode} is not handled")
        k, n = self.shape
        head = self._parms_id + struct.pack("<?QQQ", True, 2, n, k)
        (words,) = struct.unpack_from("<Q", body, _C0_OFFSET - 8)
        if body[: len(head)] != head or words not in (k * n, 2 * k * n):
            raise ValueError("the serialized ciphertext is not a fresh one of these parameters")
        if residues.shape != self.shape or residues.dtype != np.uint64:
            raise ValueError(f"expected uint64 residues of shape {self.shape}")
        # The header and body in one buffer whose c0 words are summed in place (q < 2^60: no
        # overflow), with no copy of the chunk per step.
        out = bytearray(self._header(_HEADER_SIZE + len(body)))
        out += body
        c0 = np.frombuffer(out, dtype="<u8", count=k * n, offset=_HEADER_SIZE + _C0_OFFSET)
        c0 = c0.reshape(k, n)
        np.add(c0, residues, out=c0)
        self.reduce(c0)
        if mode == _COMPRESSION_ZSTD and len(data) < _HEADER_SIZE + len(body):
            packed = zstandard.ZstdCompressor().compress(memoryview(out)[_HEADER_SIZE:])
            if len(packed) < len(body):
                return self._header(_HEADER_SIZE + len(packed), _COMPRESSION_ZSTD) + packed
        return bytes(out)

    def _zstd(self) -> zstandard.ZstdDecompressor:
        """This thread's decompressor (making one costs more than a chunk's decompression)."""
        decompressor: zstandard.ZstdDecompressor | None = getattr(self._local, "zstd", None)
        if decompressor is None:
            decompressor = self._local.zstd = zstandard.ZstdDecompressor()
        return decompressor

    def close(self) -> None:
        """Remove the private directory now rather than when the object is collected."""
        self._cleanup()

    def _header(self, total: int, mode: int = _COMPRESSION_NONE) -> bytes:
        return self._version + bytes([mode, 0, 0]) + struct.pack("<Q", total)

    def _path(self) -> str:
        return f"{self.scratch}/{threading.get_ident()}.seal"

    def _load(self, obj: Any, fields: bytes, polys: list[ResidueArray]) -> None:
        """Load ``obj`` from its serialized form: parms id, ``fields``, then the residues."""
        for poly in polys:
            if poly.shape != self.shape or poly.dtype != np.uint64:
                raise ValueError(
                    f"expected uint64 residues of shape {self.shape}, got {poly.dtype} {poly.shape}"
                )
        words = sum(p.size for p in polys)
        array = _HEADER_SIZE + 8 + 8 * words
        head = self._parms_id + fields
        total = _HEADER_SIZE + len(head) + array
        buffer = bytearray(total)
        prefix = self._header(total) + head + self._header(array) + struct.pack("<Q", words)
        buffer[: len(prefix)] = prefix
        view = np.frombuffer(buffer, dtype="<u8", offset=len(prefix)).reshape(len(polys), -1)
        for i, poly in enumerate(polys):
            view[i] = poly.reshape(-1)
        path = self._path()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, buffer)
        finally:
            os.close(fd)
        try:
            obj.load(self._seal_context, path)
        finally:
            os.unlink(path)  # noqa: PTH108 - as in save()
