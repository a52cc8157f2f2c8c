"""Streaming homomorphic aggregation with a parameters-only context.

Each blob is validated and added chunk by chunk into a running sum, and a rejected blob leaves
the sum as it was, so memory stays O(model size) whatever the number of clients. Additions use
TenSEAL's in-place ``add_``: ``CKKSVector.copy()`` deep-copies the whole context and is never
needed.
CKKS addition is exact modular arithmetic, so the serialized sum is byte-identical whatever the
order of addition and in whatever process it is computed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fedledger_crypto.blob import (
    BlobHeader,
    BlobKind,
    assemble_blob,
    check_schema,
    check_schema_digest,
    load_blob,
    load_chunk,
    read_chunk,
    read_header,
)
from fedledger_crypto.chunk import ckks_vector_message
from fedledger_crypto.context import Context, context_params
from fedledger_crypto.errors import (
    BlobError,
    ContextError,
    MalformedBlobError,
    SchemaMismatchError,
)
from fedledger_crypto.layout import UpdateSchema
from fedledger_crypto.masking import Mask
from fedledger_crypto.params import CKKSParams
from fedledger_crypto.residues import ResidueIO

__all__ = ["StreamingAggregator", "aggregate_blobs", "apply_correction"]

_CORRECTION_BLOCK = 16  # chunks whose correction polynomials are expanded at once


class StreamingAggregator:
    """A running sum of encrypted updates (or partial aggregates).

    ``schema`` pins the accepted schema and value counts (``schema_digest`` only the
    digest); with neither, the first blob fixes them. Not thread-safe: serialize calls to
    :meth:`add` (the aggregator service does).
    """

    def __init__(
        self,
        context: Context,
        *,
        schema_digest: bytes | None = None,
        schema: UpdateSchema | None = None,
    ) -> None:
        if context.is_private():
            raise ContextError(
                "StreamingAggregator takes the parameters-only context; it must never hold the "
                "secret key"
            )
        self._ctx = context
        self.params: CKKSParams = context_params(context)
        self._schema = schema
        self._schema_digest = schema.digest() if schema is not None else schema_digest
        self._header: BlobHeader | None = None
        self._sum: list[Any] | None = None
        self._contributors = 0

    @property
    def contributors(self) -> int:
        """How many updates the running sum holds."""
        return self._contributors

    @property
    def schema_digest(self) -> bytes | None:
        """The schema digest of the summed blobs (``None`` before the first blob)."""
        return self._schema_digest

    def validate(self, blob: bytes) -> BlobHeader:
        """Fully validate ``blob`` against the running sum without adding it."""
        header, _ = self._load(blob)
        return header

    def _check_header(self, header: BlobHeader) -> None:
        if self._schema is not None:
            check_schema(header, self._schema)  # the digest and the value counts
        elif self._schema_digest is not None:
            check_schema_digest(header, self._schema_digest)
        if self._header is not None and (
            header.value_count != self._header.value_count
            or header.extra_slots != self._header.extra_slots
        ):
            raise SchemaMismatchError(
                f"blob has {header.value_count}+{header.extra_slots} slots, the running sum "
                f"{self._header.value_count}+{self._header.extra_slots}"
            )

    def _load(self, blob: bytes) -> tuple[BlobHeader, list[Any]]:
        header, vectors = load_blob(blob, self._ctx, self.params, schema_digest=self._schema_digest)
        self._check_header(header)
        return header, vectors

    def add_file(self, path: Path, *, kind: int | None = None) -> BlobHeader:
        """Validate and add a blob stored in a file, one chunk in memory at a time.

        One pass: each chunk is parsed, validated and added. When a chunk is rejected, the
        chunks already added are read again and subtracted — CKKS addition is exact modular
        arithmetic, so the sum is byte-identical to what it was — and the error is raised: a
        rejected blob (:class:`~fedledger_crypto.errors.BlobError`) leaves the sum unchanged,
        and memory stays at the running sum plus one chunk, whatever the blob's size. Any other
        error (reading the file, memory) may leave the sum half-updated: discard this
        aggregator and rebuild the sum from the stored blobs, as the aggregator service does.
        With ``kind`` (e.g. ``BlobKind.UPDATE``) a blob of another kind is rejected with
        :class:`MalformedBlobError`: an aggregate-kind blob may claim any number of
        contributors.
        """
        with path.open("rb") as handle:
            header = read_header(handle, self.params)
            if kind is not None and header.kind != kind:
                raise MalformedBlobError(f"blob kind {header.kind}, expected {kind}")
            self._check_header(header)

            def chunk(i: int) -> Any:
                span = header.chunk_spans[i]
                return load_chunk(self._ctx, self.params, header, i, read_chunk(handle, span))

            if self._sum is None:
                vectors = [chunk(i) for i in range(header.chunk_count)]
                self._sum, self._header = vectors, header
                self._schema_digest = header.schema_digest
            else:
                added = 0
                try:
                    for i, acc in enumerate(self._sum):
                        acc.add_(chunk(i))
                        added += 1
                except BlobError:
                    for i in range(added):
                        self._sum[i].sub_(chunk(i))
                    raise
        self._contributors += header.contributors
        return header

    def add(self, blob: bytes) -> BlobHeader:
        """Validate ``blob`` and add it into the sum; on any error the sum is unchanged."""
        header, vectors = self._load(blob)
        if self._sum is None:
            self._sum = vectors
            self._header = header
            self._schema_digest = header.schema_digest
        else:
            for acc, vector in zip(self._sum, vectors, strict=True):
                acc.add_(vector)  # in place: no copy of the ciphertext or context
        self._contributors += header.contributors
        return header

    def _summed(self) -> tuple[list[Any], BlobHeader]:
        """The running sum and the first summed blob's header; refuses an empty sum."""
        if self._sum is None or self._header is None:
            raise ValueError("no update has been added yet; there is nothing to aggregate")
        return self._sum, self._header

    def _result_header(self, first: BlobHeader, chunk_lengths: list[int]) -> BlobHeader:
        return BlobHeader.for_chunks(
            params=self.params,
            kind=BlobKind.AGGREGATE,
            schema_digest=first.schema_digest,
            value_count=first.value_count,
            extra_slots=first.extra_slots,
            contributors=self._contributors,
            chunk_lengths=chunk_lengths,
        )

    def result(self) -> bytes:
        """The aggregate blob (kind ``AGGREGATE``); deterministic bytes for the same inputs."""
        vectors, first = self._summed()
        chunks = [bytes(v.serialize()) for v in vectors]
        return self._result_header(first, [len(c) for c in chunks]).encode() + b"".join(chunks)

    def write_result(self, path: Path) -> int:
        """Write the aggregate blob to ``path`` one chunk at a time (fsynced); returns its size.

        Byte-identical to :meth:`result`, without holding the serialized blob in memory.
        """
        vectors, first = self._summed()
        body = path.with_suffix(path.suffix + ".body")
        lengths = []
        with body.open("wb") as out:
            for vector in vectors:
                chunk = vector.serialize()
                lengths.append(len(chunk))
                out.write(chunk)
        header = self._result_header(first, lengths)
        with path.open("wb") as out, body.open("rb") as src:
            out.write(header.encode())
            while piece := src.read(1 << 20):
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        body.unlink()
        return path.stat().st_size


def aggregate_blobs(
    context: Context, blobs: Iterable[bytes], *, schema_digest: bytes | None = None
) -> bytes:
    """Sum ``blobs`` one by one and return the aggregate blob."""
    aggregator = StreamingAggregator(context, schema_digest=schema_digest)
    for blob in blobs:
        aggregator.add(blob)
    return aggregator.result()


def apply_correction(context: Context, blob: bytes, correction: Mask) -> bytes:
    """The aggregate ``blob`` with ``correction`` added to each chunk's first component.

    ``correction`` comes from :func:`fedledger_crypto.masking.correction`: it removes the masks
    dropped participants' neighbours left in the sum. Needs no secret key (a parameters-only
    context does); deterministic bytes for the same inputs. Applying it twice adds the masks
    back with the opposite sign: the result's hash differs and it decrypts to noise.
    """
    params = context_params(context)
    header, vectors = load_blob(blob, context, params)
    if header.kind != BlobKind.AGGREGATE:
        raise MalformedBlobError(
            f"a correction applies to an aggregate blob (kind {BlobKind.AGGREGATE}), got kind "
            f"{header.kind}"
        )
    io = ResidueIO(context, params)
    chunks = []
    try:
        for first in range(0, header.chunk_count, _CORRECTION_BLOCK):
            last = min(first + _CORRECTION_BLOCK, header.chunk_count)
            polys = correction.polynomials(io.moduli, params.poly_modulus_degree, first, last)
            for vector, poly in zip(vectors[first:last], polys, strict=True):
                ciphertext = vector.data.ciphertext()[0]
                io.add_to_c0(ciphertext, poly)
                data = io.save(ciphertext)
                chunks.append(ckks_vector_message(vector.size(), data, params.scale))
    finally:
        io.close()
    return assemble_blob(
        params=params,
        kind=BlobKind.AGGREGATE,
        schema_digest=header.schema_digest,
        value_count=header.value_count,
        extra_slots=header.extra_slots,
        contributors=header.contributors,
        chunks=chunks,
    )
