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
    44+L    2     extra slot count E (1 weight + number of metric sums)
    46+L    4     contributors (1 for an update, the number of summed updates for an aggregate)
    50+L    4     chunk count C = ceil((V + E) / slots)
    54+L    4*C   byte length of each chunk
    ...           the C chunks: TenSEAL-serialized CKKS vectors, each holding up to N/2 slots

Every chunk is encrypted separately at slot-size (TenSEAL's automatic splitting of long vectors
is not used). Validation is complete *before* anything is summed, so a rejected blob never
touches a running aggregate; every rejection is a :class:`~fedledger_crypto.errors.BlobError`.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import tenseal as ts

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
    "load_blob",
    "load_chunk",
    "parse_header",
    "read_chunk",
    "read_header",
]

FloatArray = npt.NDArray[np.float64]

BLOB_MAGIC = b"FLDG"
BLOB_FORMAT_VERSION = 1
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
    def total_slots(self) -> int:
        """Values plus extra slots."""
        return self.value_count + self.extra_slots

    def chunk_slots(self, slots: int) -> list[int]:
        """How many values each chunk holds for a parameter set with ``slots`` slots."""
        total = self.total_slots
        return [min(slots, total - i * slots) for i in range(self.chunk_count)]

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
    expected_chunks = math.ceil((values + extra) / params.slots)
    if chunks != expected_chunks:
        raise MalformedBlobError(
            f"chunk count {chunks} does not match {values + extra} slots "
            f"({expected_chunks} chunks of {params.slots})"
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
            f"chunk {index} holds {vector.size()} values, expected {expected_slots}"
        )
    return vector


def load_blob(
    data: bytes,
    ctx: Context,
    params: CKKSParams,
    *,
    schema_digest: bytes | None = None,
    kind: int | None = None,
) -> tuple[BlobHeader, list[Any]]:
    """Parse and fully validate a blob; return its header and its CKKS vectors.

    ``ctx`` may be a secret or a parameters-only context of ``params``. When ``schema_digest``
    (or ``kind``) is given, a blob of another schema (or kind) is rejected with
    :class:`SchemaMismatchError` (or :class:`MalformedBlobError`).
    """
    header = parse_header(data, params)
    if schema_digest is not None and header.schema_digest != schema_digest:
        raise SchemaMismatchError(
            f"blob encodes schema 0x{header.schema_digest.hex()[:16]}…, expected "
            f"0x{schema_digest.hex()[:16]}… (another model layout or metric set)"
        )
    if kind is not None and header.kind != kind:
        raise MalformedBlobError(f"blob kind {header.kind}, expected {kind}")
    view = memoryview(data)
    vectors = [
        _load_chunk(ctx, params, bytes(view[start:end]), slots, i)
        for i, ((start, end), slots) in enumerate(
            zip(header.chunk_spans, header.chunk_slots(params.slots), strict=True)
        )
    ]
    return header, vectors


def load_chunk(
    ctx: Context, params: CKKSParams, header: BlobHeader, index: int, chunk: bytes
) -> Any:
    """Parse and validate chunk ``index`` of a blob whose header was already parsed."""
    return _load_chunk(ctx, params, chunk, header.chunk_slots(params.slots)[index], index)


def serialize_blob(
    *,
    params: CKKSParams,
    kind: int,
    schema_digest: bytes,
    value_count: int,
    extra_slots: int,
    contributors: int,
    vectors: list[Any],
) -> bytes:
    """Assemble a blob from CKKS vectors (deterministic for equal ciphertexts)."""
    chunks = [bytes(v.serialize()) for v in vectors]
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
        the aggregate then holds ``Σ w·x`` and ``Σ w``). Every encoded slot is checked against
        ``headroom``; :class:`~fedledger_crypto.errors.HeadroomExceededError` names the slot.
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
        slots = np.empty(schema.total_slots, dtype=np.float64)
        n = schema.layout.size
        np.multiply(values, weight if weighted else 1.0, out=slots[:n])
        slots[n] = weight
        for i, name in enumerate(schema.metric_names):
            slots[n + 1 + i] = metrics[name]
        if not np.all(np.isfinite(slots)):
            raise ValueError("update contains NaN or infinite values")
        peak = int(np.argmax(np.abs(slots)))
        what = "weighted value" if peak < n else "weight or metric sum"
        headroom.check(float(abs(slots[peak])), what=f"{what} at slot {peak}")
        size = self.params.slots
        vectors = [
            ts.ckks_vector(self._ctx, slots[i : i + size].tolist())
            for i in range(0, len(slots), size)
        ]
        return serialize_blob(
            params=self.params,
            kind=BlobKind.UPDATE,
            schema_digest=schema.digest(),
            value_count=n,
            extra_slots=schema.extra_slots,
            contributors=1,
            vectors=vectors,
        )

    def decrypt(self, blob: bytes, schema: UpdateSchema) -> DecryptedSum:
        """Validate and decrypt an update or aggregate blob of ``schema``."""
        header, vectors = load_blob(blob, self._ctx, self.params, schema_digest=schema.digest())
        slots = np.concatenate([np.asarray(v.decrypt(), dtype=np.float64) for v in vectors])
        n = header.value_count
        metrics = {name: float(slots[n + 1 + i]) for i, name in enumerate(schema.metric_names)}
        return DecryptedSum(slots[:n].copy(), float(slots[n]), metrics, header.contributors)
