"""The encrypted-blob format: one self-describing byte string per update or aggregate.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic  b"FLDG"
    4       2     format version (1)
    6       1     kind: 1 = one participant's update, 2 = aggregate (sum of updates)
    7       1     length L of the parameter-set id
    8       L     parameter-set id, ASCII (e.g. "ckks-n4096-q60-s35")
    8+L     32    schema digest (keccak256 of the tensor layout and metric names)
    40+L    4     value count V (model values; the weight and metrics follow)
    44+L    2     extra value count E (1 weight + number of metric sums)
    46+L    4     contributors (1 for an update, the number of summed updates for an aggregate)
    50+L    4     chunk count C = ceil((V + E) / N)
    54+L    4*C   byte length of each chunk
    ...           the C chunks: TenSEAL-serialized CKKS vectors (``CKKSVectorProto``), each one
                  ciphertext of up to N/2 complex slots

Two values per slot (format version 2). CKKS slots are complex numbers; value ``2k`` of a chunk
is the real part of its slot ``k`` and value ``2k + 1`` the imaginary part, so a ciphertext of
N/2 slots carries N values: half the ciphertexts, bytes and encryption work of real-only
encoding, and the sums are unchanged (addition is slot-wise on both parts). TenSEAL's own
vectors encode real numbers only, so the participant encodes, encrypts and decrypts through
SEAL's API as TenSEAL ships it (``tenseal.sealapi``) and wraps each ciphertext in TenSEAL's
vector message; the aggregator and auditors load and add chunks as TenSEAL vectors.

An update's chunks are *seeded*: the mask polynomial of each symmetric encryption is stored as
the seed it was drawn from and expanded again on load, so an update is half the size of an
aggregate (whose summed masks have no seed).

Every chunk is encrypted separately (TenSEAL's automatic splitting of long vectors is not used).
Validation is complete *before* anything is summed, so a rejected blob never touches a running
aggregate; every rejection is a :class:`~fedledger_crypto.errors.BlobError`.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import tenseal as ts
from tenseal import sealapi

from fedledger_crypto.context import Context, context_params
from fedledger_crypto.errors import (
    ContextError,
    MalformedBlobError,
    ParameterMismatchError,
    SchemaMismatchError,
)
from fedledger_crypto.layout import UpdateSchema
from fedledger_crypto.params import CKKSParams, HeadroomPolicy

__all__ = [
    "BLOB_FORMAT_VERSION",
    "BlobHeader",
    "BlobKind",
    "DecryptedSum",
    "UpdateEncryptor",
    "assemble_blob",
    "check_schema",
    "check_schema_digest",
    "load_blob",
    "load_chunk",
    "parse_header",
    "read_chunk",
    "read_header",
]

FloatArray = npt.NDArray[np.float64]

BLOB_MAGIC = b"FLDG"
BLOB_FORMAT_VERSION = 2
_FIXED = struct.Struct("<4sHBB")  # magic, version, kind, params-id length
_TAIL = struct.Struct("<32sIHII")  # schema digest, values, extra slots, contributors, chunks
_CHUNK_LEN = struct.Struct("<I")
_MAX_EXTRA_SLOTS = 1 + 64


class BlobKind:
    """Values of the header's ``kind`` byte."""

    UPDATE = 1
    AGGREGATE = 2


@dataclass(frozen=True)
class BlobHeader:
    """The parsed header of a blob plus where each chunk lies in the blob."""

    version: int
    kind: int
    params_id: str
    schema_digest: bytes
    value_count: int
    extra_slots: int
    contributors: int
    chunk_spans: tuple[tuple[int, int], ...]  # (start, end) byte offsets of each chunk

    @property
    def chunk_count(self) -> int:
        """Number of ciphertext chunks."""
        return len(self.chunk_spans)

    @property
    def total_values(self) -> int:
        """Model values plus extra values (weight and metric sums)."""
        return self.value_count + self.extra_slots

    def slots_in_chunk(self, index: int, slots: int) -> int:
        """How many (complex) slots chunk ``index`` fills: two values per slot."""
        per_chunk = 2 * slots
        return math.ceil(min(per_chunk, self.total_values - index * per_chunk) / 2)

    def encode(self) -> bytes:
        """Header bytes (without the chunks) as they appear at the start of the blob."""
        pid = self.params_id.encode("ascii")
        lengths = b"".join(_CHUNK_LEN.pack(end - start) for start, end in self.chunk_spans)
        return (
            _FIXED.pack(BLOB_MAGIC, self.version, self.kind, len(pid))
            + pid
            + _TAIL.pack(
                self.schema_digest,
                self.value_count,
                self.extra_slots,
                self.contributors,
                self.chunk_count,
            )
            + lengths
        )


def _max_chunk_bytes(params: CKKSParams) -> int:
    # Two polynomials of N 64-bit coefficients per data prime, plus generous framing.
    return 2 * params.poly_modulus_degree * params.data_level_primes * 8 + 4096


def parse_header(data: bytes, params: CKKSParams, *, total_size: int | None = None) -> BlobHeader:
    """Parse and check a blob's header against ``params`` without touching the ciphertexts.

    ``data`` is the whole blob, or only its beginning (header and chunk table) when
    ``total_size`` gives the blob's full length. Raises :class:`MalformedBlobError` for a
    structurally broken blob and :class:`ParameterMismatchError` for a blob made under another
    parameter set.
    """
    view = memoryview(data)
    size = len(view) if total_size is None else total_size
    if len(view) < _FIXED.size:
        raise MalformedBlobError(f"blob of {len(view)} bytes is shorter than the header")
    magic, version, kind, pid_len = _FIXED.unpack_from(view, 0)
    if magic != BLOB_MAGIC:
        raise MalformedBlobError(f"not a fedledger blob: magic {bytes(magic)!r}")
    if version != BLOB_FORMAT_VERSION:
        raise MalformedBlobError(
            f"blob format version {version} is not supported (expected {BLOB_FORMAT_VERSION})"
        )
    if kind not in (BlobKind.UPDATE, BlobKind.AGGREGATE):
        raise MalformedBlobError(f"unknown blob kind {kind}")
    offset = _FIXED.size
    if len(view) < offset + pid_len + _TAIL.size:
        raise MalformedBlobError("blob truncated inside the header")
    try:
        params_id = bytes(view[offset : offset + pid_len]).decode("ascii")
    except UnicodeDecodeError:
        raise MalformedBlobError("parameter-set id is not ASCII") from None
    offset += pid_len
    if params_id != params.id:
        raise ParameterMismatchError(
            f"blob was encrypted under parameter set {params_id!r}, this federation uses "
            f"{params.id!r}"
        )
    digest, values, extra, contributors, chunks = _TAIL.unpack_from(view, offset)
    offset += _TAIL.size
    if values < 1 or not 1 <= extra <= _MAX_EXTRA_SLOTS:
        raise MalformedBlobError(f"invalid slot counts: {values} values, {extra} extra slots")
    if contributors < 1 or (kind == BlobKind.UPDATE and contributors != 1):
        raise MalformedBlobError(f"invalid contributor count {contributors} for blob kind {kind}")
    expected_chunks = math.ceil((values + extra) / (2 * params.slots))
    if chunks != expected_chunks:
        raise MalformedBlobError(
            f"chunk count {chunks} does not match {values + extra} values "
            f"({expected_chunks} chunks of {2 * params.slots})"
        )
    if len(view) < offset + chunks * _CHUNK_LEN.size:
        raise MalformedBlobError("blob truncated inside the chunk table")
    limit = _max_chunk_bytes(params)
    spans = []
    position = offset + chunks * _CHUNK_LEN.size
    for i in range(chunks):
        (length,) = _CHUNK_LEN.unpack_from(view, offset + i * _CHUNK_LEN.size)
        if not 0 < length <= limit:
            raise MalformedBlobError(f"chunk {i} claims {length} bytes (limit {limit})")
        spans.append((position, position + length))
        position += length
    if position != size:
        raise MalformedBlobError(
            f"blob is {size} bytes but its chunk table accounts for {position}"
            + (" (truncated)" if position > size else " (trailing bytes)")
        )
    return BlobHeader(
        version, kind, params_id, bytes(digest), values, extra, contributors, tuple(spans)
    )


def read_header(handle: BinaryIO, params: CKKSParams) -> BlobHeader:
    """Parse the header of a blob stored in a seekable binary file (reads only the header)."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    prefix = handle.read(_FIXED.size)
    if len(prefix) == _FIXED.size:
        pid_len = prefix[-1]
        prefix += handle.read(pid_len + _TAIL.size)
        if len(prefix) == _FIXED.size + pid_len + _TAIL.size:
            chunks = _TAIL.unpack_from(prefix, _FIXED.size + pid_len)[4]
            # Bound the table read by the file size: a forged count cannot make us read more.
            prefix += handle.read(min(chunks, size // _CHUNK_LEN.size + 1) * _CHUNK_LEN.size)
    return parse_header(prefix, params, total_size=size)


def read_chunk(handle: BinaryIO, span: tuple[int, int]) -> bytes:
    """The bytes of one chunk of a blob stored in a file."""
    handle.seek(span[0])
    return handle.read(span[1] - span[0])


def _load_chunk(
    ctx: Context, params: CKKSParams, chunk: bytes, expected_slots: int, index: int
) -> Any:
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


def load_blob(
    data: bytes,
    ctx: Context,
    params: CKKSParams,
    *,
    schema_digest: bytes | None = None,
    schema: UpdateSchema | None = None,
    kind: int | None = None,
) -> tuple[BlobHeader, list[Any]]:
    """Parse and fully validate a blob; return its header and its CKKS vectors.

    ``ctx`` may be a secret or a parameters-only context of ``params``. When ``schema_digest``
    (or ``kind``) is given, a blob of another schema (or kind) is rejected with
    :class:`SchemaMismatchError` (or :class:`MalformedBlobError`); ``schema`` also checks the
    header's value counts against the schema (see :func:`check_schema`).
    """
    header = parse_header(data, params)
    if schema is not None:
        check_schema(header, schema)
    if schema_digest is not None:
        check_schema_digest(header, schema_digest)
    if kind is not None and header.kind != kind:
        raise MalformedBlobError(f"blob kind {header.kind}, expected {kind}")
    view = memoryview(data)
    vectors = [
        _load_chunk(ctx, params, bytes(view[start:end]), header.slots_in_chunk(i, params.slots), i)
        for i, (start, end) in enumerate(header.chunk_spans)
    ]
    return header, vectors


def check_schema_digest(header: BlobHeader, digest: bytes) -> None:
    """:class:`SchemaMismatchError` unless the header carries the schema digest ``digest``."""
    if header.schema_digest != digest:
        raise SchemaMismatchError(
            f"blob encodes schema 0x{header.schema_digest.hex()[:16]}…, expected "
            f"0x{digest.hex()[:16]}… (another model layout or metric set)"
        )


def check_schema(header: BlobHeader, schema: UpdateSchema) -> None:
    """:class:`SchemaMismatchError` unless the header names ``schema`` and its value counts.

    The counts must be checked against the schema itself: with two values per slot, a count
    one off can describe the same ciphertexts (the last slot's second part is padding).
    """
    check_schema_digest(header, schema.digest())
    if (header.value_count, header.extra_slots) != (schema.layout.size, schema.extra_slots):
        raise SchemaMismatchError(
            f"blob declares {header.value_count} values + {header.extra_slots} extra, the "
            f"schema has {schema.layout.size} + {schema.extra_slots}"
        )


def load_chunk(
    ctx: Context, params: CKKSParams, header: BlobHeader, index: int, chunk: bytes
) -> Any:
    """Parse and validate chunk ``index`` of a blob whose header was already parsed."""
    return _load_chunk(ctx, params, chunk, header.slots_in_chunk(index, params.slots), index)


def assemble_blob(
    *,
    params: CKKSParams,
    kind: int,
    schema_digest: bytes,
    value_count: int,
    extra_slots: int,
    contributors: int,
    chunks: list[bytes],
) -> bytes:
    """A blob from already serialized chunks (header, chunk table, chunks)."""
    spans = []
    position = 0
    for chunk in chunks:
        spans.append((position, position + len(chunk)))
        position += len(chunk)
    header = BlobHeader(
        BLOB_FORMAT_VERSION,
        kind,
        params.id,
        schema_digest,
        value_count,
        extra_slots,
        contributors,
        tuple(spans),
    )
    return header.encode() + b"".join(chunks)


@dataclass(frozen=True)
class DecryptedSum:
    """The decrypted content of an update or aggregate blob.

    ``values`` are the (weighted, when the encoder weighted them) summed model values,
    ``weight`` the summed weights, ``metrics`` the summed metric sums.
    """

    values: FloatArray
    weight: float
    metrics: dict[str, float]
    contributors: int

    def mean(self) -> FloatArray:
        """The weighted mean ``Σ w·x / Σ w`` of a weighted encoding."""
        if not self.weight > 0:
            raise ValueError(f"cannot take a weighted mean with total weight {self.weight}")
        return self.values / self.weight


def _proto_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _ckks_vector_message(slots: int, ciphertext: bytes, scale: float) -> bytes:
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


class _SealCodec:
    """Complex encoding, symmetric encryption and decryption of single SEAL ciphertexts.

    SEAL's API as TenSEAL exposes it saves a ciphertext only to a file path, so each encryption
    is written to a file in a private directory (in memory-backed ``/dev/shm`` where it exists),
    read back and deleted; the directory is removed with the object.
    """

    def __init__(self, ctx: Context, params: CKKSParams) -> None:
        seal_context = ctx.data.seal_context()
        secret_key = ctx.data.secret_key()
        self._encoder = sealapi.CKKSEncoder(seal_context)
        self._encryptor = sealapi.Encryptor(seal_context, secret_key)
        self._decryptor = sealapi.Decryptor(seal_context, secret_key)
        self._scale = params.scale
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        self._dir = Path(tempfile.mkdtemp(prefix="fedledger-ct-", dir=base))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)

    def encrypt(self, pairs: npt.NDArray[np.complex128]) -> bytes:
        """One chunk: ``pairs`` (at most N/2 complex slots) encrypted, as a TenSEAL message."""
        plain = sealapi.Plaintext()
        self._encoder.encode(pairs.tolist(), self._scale, plain)
        # The serializable form of a symmetric encryption stores the second polynomial as the
        # seed it was drawn from (SEAL expands it on load): half the bytes of a chunk.
        ciphertext = self._encryptor.encrypt_symmetric(plain)
        path = self._dir / f"{threading.get_ident()}.ct"
        ciphertext.save(str(path))
        data = path.read_bytes()
        path.unlink()  # nothing left behind by a process that is killed
        return _ckks_vector_message(len(pairs), data, self._scale)

    def decrypt(self, vector: Any) -> npt.NDArray[np.complex128]:
        """The complex slots a loaded, validated TenSEAL vector fills."""
        plain = sealapi.Plaintext()
        self._decryptor.decrypt(vector.data.ciphertext()[0], plain)
        slots = np.asarray(self._encoder.decode_complex(plain), dtype=np.complex128)
        return slots[: vector.size()]

    def close(self) -> None:
        """Remove the private directory now rather than when the object is collected."""
        self._cleanup()


class UpdateEncryptor:
    """A participant's side of the codec: encrypts updates and decrypts aggregates.

    Holds the shared secret context; never give one to the aggregator.
    """

    def __init__(self, secret_context: Context) -> None:
        if not secret_context.is_private():
            raise ContextError(
                "UpdateEncryptor needs a secret context (one holding the secret key)"
            )
        self._ctx = secret_context
        self.params = context_params(secret_context)
        self._seal = _SealCodec(secret_context, self.params)

    def encrypt(
        self,
        schema: UpdateSchema,
        values: FloatArray,
        *,
        weight: float,
        metrics: Mapping[str, float] | None = None,
        headroom: HeadroomPolicy,
        weighted: bool = True,
    ) -> bytes:
        """Encrypt one update into a blob.

        With ``weighted`` the values are multiplied by ``weight`` before encryption (FedAvg:
        the aggregate then holds ``Σ w·x`` and ``Σ w``). Every slot (a pair of encoded values)
        is checked against ``headroom`` by its modulus;
        :class:`~fedledger_crypto.errors.HeadroomExceededError` names the values.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (schema.layout.size,):
            raise SchemaMismatchError(
                f"values of shape {values.shape} do not match the layout ({schema.layout.size})"
            )
        metrics = dict(metrics or {})
        if set(metrics) != set(schema.metric_names):
            raise SchemaMismatchError(
                f"metrics {sorted(metrics)} do not match the schema's {list(schema.metric_names)}"
            )
        if headroom.params != self.params:
            raise ContextError(
                f"headroom policy is for {headroom.params.id}, context is {self.params.id}"
            )
        # A weighted (FedAvg) update needs a positive weight; a summed statistic may carry 0
        # (e.g. a client with no posts in the window still reports, so others stay hidden).
        if not math.isfinite(weight) or weight < 0 or (weighted and weight == 0):
            raise ValueError(
                f"weight must be a {'positive' if weighted else 'non-negative'} finite number, "
                f"got {weight}"
            )
        n = schema.layout.size
        total = schema.total_values
        # Values 2k and 2k+1 become slot k's real and imaginary parts: a float64 array of even
        # length viewed as complex128 is exactly that pairing.
        flat = np.zeros(total + total % 2, dtype=np.float64)
        np.multiply(values, weight if weighted else 1.0, out=flat[:n])
        flat[n] = weight
        for i, name in enumerate(schema.metric_names):
            flat[n + 1 + i] = metrics[name]
        if not np.all(np.isfinite(flat)):
            raise ValueError("update contains NaN or infinite values")
        pairs = flat.view(np.complex128)
        peak = int(np.argmax(np.abs(pairs)))
        first = 2 * peak
        what = "weighted values" if first + 1 < n else "values (weight or metric sums)"
        headroom.check(float(abs(pairs[peak])), what=f"{what} {first}-{first + 1} (one slot)")
        size = self.params.slots
        chunks = [self._seal.encrypt(pairs[i : i + size]) for i in range(0, len(pairs), size)]
        return assemble_blob(
            params=self.params,
            kind=BlobKind.UPDATE,
            schema_digest=schema.digest(),
            value_count=n,
            extra_slots=schema.extra_slots,
            contributors=1,
            chunks=chunks,
        )

    def decrypt(self, blob: bytes, schema: UpdateSchema) -> DecryptedSum:
        """Validate and decrypt an update or aggregate blob of ``schema``."""
        header, vectors = load_blob(blob, self._ctx, self.params, schema=schema)
        pairs = np.concatenate([self._seal.decrypt(v) for v in vectors])
        flat = pairs.view(np.float64)
        n = header.value_count
        metrics = {name: float(flat[n + 1 + i]) for i, name in enumerate(schema.metric_names)}
        return DecryptedSum(flat[:n].copy(), float(flat[n]), metrics, header.contributors)

    def close(self) -> None:
        """Release the encryptor's scratch directory (also done when it is collected)."""
        self._seal.close()
