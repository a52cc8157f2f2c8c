"""Malformed blobs: every one raises the specific exception, and the process survives.

Hypothesis generates mutations that are malformed by construction (framing, header fields,
truncation, trailing bytes, garbage, foreign ciphertexts); at least 10,000 are checked. A flip
inside ciphertext *data* can yield another well-formed ciphertext; that is not malformed, and the
on-chain commitment (keccak256 of the exact bytes) is what catches it — the last test checks
that such flips never crash and always change the commitment.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fedledger_crypto as fc
from fedledger_crypto.blob import BlobKind, assemble_blob

HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=10)
SCHEMA = fc.UpdateSchema(fc.TensorLayout.vector(6000), ("total",))  # two chunks
PID = fc.DEFAULT_PARAMS.id.encode()
HEADER_LEN = 8 + len(PID) + 46  # fixed fields + id + tail, before the chunk table
FUZZ = settings(
    max_examples=2_600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)


@pytest.fixture(scope="module")
def valid(encryptor: fc.UpdateEncryptor) -> bytes:
    x = np.random.default_rng(3).uniform(-1, 1, 6000)
    return encryptor.encrypt(SCHEMA, x, weight=2.0, metrics={"total": 5}, headroom=HEADROOM)


def _check(blob: bytes, ctx: Any) -> None:
    with pytest.raises(fc.BlobError):
        fc.load_blob(blob, ctx, fc.DEFAULT_PARAMS, schema=SCHEMA)


def test_the_valid_blob_loads(valid: bytes, parameters_context: Any) -> None:
    fc.load_blob(valid, parameters_context, fc.DEFAULT_PARAMS, schema_digest=SCHEMA.digest())


@FUZZ
@given(data=st.data())
def test_header_mutations(data: st.DataObject, valid: bytes, parameters_context: Any) -> None:
    # Any change to the framing (magic, version, kind, id, digest, counts, chunk table).
    table_end = HEADER_LEN + 4 * 2
    pos = data.draw(st.integers(0, table_end - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != valid[pos]))
    blob = bytearray(valid)
    blob[pos] = value
    _check(bytes(blob), parameters_context)


@FUZZ
@given(cut=st.integers(0, 10**9))
def test_truncations(cut: int, valid: bytes, parameters_context: Any) -> None:
    _check(valid[: cut % len(valid)], parameters_context)


@FUZZ
@given(extra=st.binary(min_size=1, max_size=64))
def test_trailing_bytes(extra: bytes, valid: bytes, parameters_context: Any) -> None:
    _check(valid + extra, parameters_context)


@FUZZ
@given(garbage=st.binary(max_size=512))
def test_garbage(garbage: bytes, parameters_context: Any) -> None:
    _check(garbage, parameters_context)


@FUZZ
@given(data=st.data())
def test_garbage_after_a_valid_header(
    data: st.DataObject, valid: bytes, parameters_context: Any
) -> None:
    # A correct header and chunk table whose chunks are random bytes of the announced lengths.
    header = fc.parse_header(valid, fc.DEFAULT_PARAMS)
    lengths = [data.draw(st.integers(1, 300)) for _ in header.chunk_spans]
    table = b"".join(struct.pack("<I", n) for n in lengths)
    body = b"".join(data.draw(st.binary(min_size=n, max_size=n)) for n in lengths)
    _check(valid[:HEADER_LEN] + table + body, parameters_context)


@pytest.fixture(scope="module")
def foreign_chunks() -> list[bytes]:
    """Ciphertexts under other scale or degree, framed as if they were ours."""
    import tenseal as ts

    out = []
    for degree, bits, scale in [(4096, [60, 49], 2**40), (8192, [60, 40, 40], 2**40)]:
        ctx = ts.context(
            ts.SCHEME_TYPE.CKKS,
            degree,
            coeff_mod_bit_sizes=bits,
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
        )
        ctx.global_scale = scale
        out.append(ts.ckks_vector(ctx, [0.5] * 2048).serialize())
    return out


def test_foreign_ciphertexts_are_parameter_mismatches(
    foreign_chunks: list[bytes], valid: bytes, parameters_context: Any
) -> None:
    header = fc.parse_header(valid, fc.DEFAULT_PARAMS)
    first_start, first_end = header.chunk_spans[0]
    for chunk in foreign_chunks:
        chunks = [chunk, valid[header.chunk_spans[1][0] : header.chunk_spans[1][1]]]
        table = b"".join(struct.pack("<I", len(c)) for c in chunks)
        blob = valid[:HEADER_LEN] + table + b"".join(chunks)
        with pytest.raises(fc.BlobError):
            fc.load_blob(blob, parameters_context, fc.DEFAULT_PARAMS)
    assert first_end > first_start


def test_wrong_chunk_count_and_swapped_chunks(
    encryptor: fc.UpdateEncryptor, valid: bytes, parameters_context: Any
) -> None:
    header = fc.parse_header(valid, fc.DEFAULT_PARAMS)
    chunks = [valid[s:e] for s, e in header.chunk_spans]
    # Swap the full first chunk and the partial second: slot counts no longer match.
    swapped = (
        valid[:HEADER_LEN]
        + b"".join(struct.pack("<I", len(c)) for c in reversed(chunks))
        + b"".join(reversed(chunks))
    )
    with pytest.raises(fc.MalformedBlobError, match="fills"):
        fc.load_blob(swapped, parameters_context, fc.DEFAULT_PARAMS)
    # Drop a chunk but keep the declared slot count.
    import tenseal as ts

    vectors = [ts.ckks_vector_from(parameters_context, chunks[0])]
    short = assemble_blob(
        params=fc.DEFAULT_PARAMS,
        kind=BlobKind.UPDATE,
        schema_digest=SCHEMA.digest(),
        value_count=6000,
        extra_slots=2,
        contributors=1,
        chunks=[bytes(v.serialize()) for v in vectors],
    )
    with pytest.raises(fc.MalformedBlobError, match="chunk count"):
        fc.load_blob(short, parameters_context, fc.DEFAULT_PARAMS)


@settings(
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_flips_anywhere_never_crash_and_change_the_commitment(
    data: st.DataObject, valid: bytes, parameters_context: Any
) -> None:
    blob = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] ^= data.draw(st.integers(1, 255))
    if bytes(blob) == valid:
        return
    assert fc.keccak256(bytes(blob)) != fc.keccak256(valid)
    with contextlib.suppress(fc.BlobError):
        fc.load_blob(bytes(blob), parameters_context, fc.DEFAULT_PARAMS)
