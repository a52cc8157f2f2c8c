"""The encrypted-blob format: one self-describing byte string per update or aggregate.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic  b"FLDG"
    4       2     format version (2: two values per complex slot)
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
                  ciphertext of up to N/2 complex slots (:mod:`fedledger_crypto.chunk`)

Two values per slot: value ``2k`` of a chunk is the real part of its slot ``k`` and value
``2k + 1`` the imaginary part, so a ciphertext of N/2 slots carries N values (half the
ciphertexts, bytes and encryption work of real-only encoding; addition is slot-wise on both
parts, so sums are unchanged).

An update's chunks are *seeded*: the mask polynomial of each symmetric encryption is stored as
the seed it was drawn from and expanded again on load, so an update is half the size of an
aggregate (whose summed masks have no seed).

Validation is complete *before* anything is summed, so a rejected blob never touches a running
aggregate; every rejection is a :class:`~fedledger_crypto.errors.BlobError`.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from fedledger_crypto.chunk import load_vector, max_chunk_bytes
from fedledger_crypto.context import Context
from fedledger_crypto.errors import MalformedBlobError, ParameterMismatchError, SchemaMismatchError
from fedledger_crypto.layout import UpdateSchema
from fedledger_crypto.params import CKKSParams

__all__ = [
    "BLOB_FORMAT_VERSION",
    "BlobHeader",
    "BlobKind",
    "assemble_blob",
    "check_schema",
    "check_schema_digest",
    "load_blob",
    "load_chunk",
    "parse_header",
    "read_chunk",
    "read_header",
]

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

    @classmethod
    def for_chunks(
        cls,
        *,
        params: CKKSParams,
        kind: int,
        schema_digest: bytes,
        value_count: int,
        extra_slots: int,
        contributors: int,
        chunk_lengths: Iterable[int],
    ) -> BlobHeader:
        """The header of a new blob (this format version) whose chunks have these lengths.

        Spans are counted from the first chunk; only their lengths are encoded.
        """
        spans = []
        position = 0
        for length in chunk_lengths:
            spans.append((position, position + length))
            position += length
        return cls(
            BLOB_FORMAT_VERSION,
            kind,
            params.id,
            schema_digest,
            value_count,
            extra_slots,
            contributors,
            tuple(spans),
        )

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
    limit = max_chunk_bytes(params)
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
        load_chunk(ctx, params, header, i, bytes(view[start:end]))
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
    return load_vector(ctx, params, chunk, header.slots_in_chunk(index, params.slots), index)


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
    header = BlobHeader.for_chunks(
        params=params,
        kind=kind,
        schema_digest=schema_digest,
        value_count=value_count,
        extra_slots=extra_slots,
        contributors=contributors,
        chunk_lengths=[len(chunk) for chunk in chunks],
    )
    return header.encode() + b"".join(chunks)
