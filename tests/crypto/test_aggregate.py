"""Streaming aggregation: exactness, determinism across order and processes, isolation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fedledger_crypto as fc

HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=100)
SCHEMA = fc.UpdateSchema(fc.TensorLayout.vector(3000), ("correct",))


@pytest.fixture(scope="module")
def blobs(encryptor: fc.UpdateEncryptor) -> list[bytes]:
    rng = np.random.default_rng(1)
    return [
        encryptor.encrypt(
            SCHEMA,
            rng.uniform(-1, 1, 3000),
            weight=float(i + 1),
            metrics={"correct": i},
            headroom=HEADROOM,
        )
        for i in range(6)
    ]


def test_sum_is_identical_whatever_the_order(parameters_context: Any, blobs: list[bytes]) -> None:
    forward = fc.aggregate_blobs(parameters_context, blobs)
    backward = fc.aggregate_blobs(parameters_context, reversed(blobs))
    shuffled = fc.aggregate_blobs(parameters_context, [blobs[i] for i in (3, 0, 5, 1, 4, 2)])
    assert forward == backward == shuffled


def test_sum_is_identical_in_another_process(
    parameters_context: Any, blobs: list[bytes], tmp_path: Path
) -> None:
    for i, blob in enumerate(blobs):
        (tmp_path / f"{i}.blob").write_bytes(blob)
    (tmp_path / "params").write_bytes(fc.parameters_bytes(parameters_context))
    script = (
        "import sys, pathlib, fedledger_crypto as fc\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "ctx = fc.load_parameters_context((d / 'params').read_bytes(), fc.DEFAULT_PARAMS)\n"
        "blobs = [(d / f'{i}.blob').read_bytes() for i in (5, 2, 4, 0, 1, 3)]\n"
        "(d / 'sum').write_bytes(fc.aggregate_blobs(ctx, blobs))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True)
    assert (tmp_path / "sum").read_bytes() == fc.aggregate_blobs(parameters_context, blobs)


def test_partial_sums_compose(parameters_context: Any, blobs: list[bytes]) -> None:
    left = fc.aggregate_blobs(parameters_context, blobs[:2])
    right = fc.aggregate_blobs(parameters_context, blobs[2:])
    total = fc.aggregate_blobs(parameters_context, [left, right])
    assert total == fc.aggregate_blobs(parameters_context, blobs)
    assert fc.parse_header(total, fc.DEFAULT_PARAMS).contributors == 6


def test_aggregate_decrypts_to_the_weighted_mean(
    encryptor: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    # Expected values computed by hand: (1*2 + 3*6) / (1 + 3) = 5 and (1*0 + 3*-4) / 4 = -3.
    schema = fc.UpdateSchema(fc.TensorLayout.vector(2))
    a = encryptor.encrypt(schema, np.array([2.0, 0.0]), weight=1.0, headroom=HEADROOM)
    b = encryptor.encrypt(schema, np.array([6.0, -4.0]), weight=3.0, headroom=HEADROOM)
    out = encryptor.decrypt(fc.aggregate_blobs(parameters_context, [a, b]), schema)
    np.testing.assert_allclose(out.mean(), [5.0, -3.0], atol=1e-7)
    assert out.weight == pytest.approx(4.0, abs=1e-7)


def test_a_rejected_blob_leaves_the_sum_unchanged(
    encryptor: fc.UpdateEncryptor, parameters_context: Any, blobs: list[bytes]
) -> None:
    aggregator = fc.StreamingAggregator(parameters_context, schema_digest=SCHEMA.digest())
    aggregator.add(blobs[0])
    other_schema = fc.UpdateSchema(fc.TensorLayout.vector(3000), ("total",))
    wrong = encryptor.encrypt(
        other_schema, np.zeros(3000), weight=1.0, metrics={"total": 1}, headroom=HEADROOM
    )
    with pytest.raises(fc.SchemaMismatchError):
        aggregator.add(wrong)
    with pytest.raises(fc.MalformedBlobError):
        aggregator.add(blobs[1][:-10])
    aggregator.add(blobs[1])
    assert aggregator.contributors == 2
    assert aggregator.result() == fc.aggregate_blobs(parameters_context, blobs[:2])


def test_first_blob_fixes_the_layout(
    encryptor: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    aggregator = fc.StreamingAggregator(parameters_context)
    aggregator.add(
        encryptor.encrypt(
            SCHEMA, np.zeros(3000), weight=1.0, metrics={"correct": 0}, headroom=HEADROOM
        )
    )
    shorter = fc.UpdateSchema(fc.TensorLayout.vector(100), ("correct",))
    with pytest.raises(fc.SchemaMismatchError):
        aggregator.add(
            encryptor.encrypt(
                shorter, np.zeros(100), weight=1.0, metrics={"correct": 0}, headroom=HEADROOM
            )
        )


def test_aggregator_refuses_the_secret_context(secret_context: Any) -> None:
    with pytest.raises(fc.ContextError, match="secret"):
        fc.StreamingAggregator(secret_context)


def test_empty_aggregate_is_an_error(parameters_context: Any) -> None:
    with pytest.raises(ValueError, match="nothing to aggregate"):
        fc.StreamingAggregator(parameters_context).result()


def test_file_path_matches_the_in_memory_path(
    parameters_context: Any, blobs: list[bytes], tmp_path: Path
) -> None:
    files = []
    for i, blob in enumerate(blobs):
        path = tmp_path / f"{i}.blob"
        path.write_bytes(blob)
        files.append(path)
    aggregator = fc.StreamingAggregator(parameters_context, schema_digest=SCHEMA.digest())
    for path in files:
        aggregator.add_file(path)
    out = tmp_path / "sum.blob"
    size = aggregator.write_result(out)
    assert out.read_bytes() == aggregator.result() == fc.aggregate_blobs(parameters_context, blobs)
    assert size == out.stat().st_size


def test_a_rejected_file_leaves_the_sum_unchanged(
    parameters_context: Any, blobs: list[bytes], tmp_path: Path
) -> None:
    aggregator = fc.StreamingAggregator(parameters_context, schema_digest=SCHEMA.digest())
    aggregator.add(blobs[0])
    # Corrupt the *last* chunk's framing: the first chunks validate, the blob must still be refused.
    header = fc.parse_header(blobs[1], fc.DEFAULT_PARAMS)
    start, _ = header.chunk_spans[-1]
    bad = bytearray(blobs[1])
    bad[start : start + 8] = b"\xff" * 8
    path = tmp_path / "bad.blob"
    path.write_bytes(bytes(bad))
    with pytest.raises(fc.BlobError):
        aggregator.add_file(path)
    truncated = tmp_path / "short.blob"
    truncated.write_bytes(blobs[1][:-1])
    with pytest.raises(fc.MalformedBlobError, match="truncated"):
        aggregator.add_file(truncated)
    huge_count = bytearray(blobs[1])
    huge_count[len(fc.DEFAULT_PARAMS.id) + 50 : len(fc.DEFAULT_PARAMS.id) + 54] = (
        b"\xff\xff\xff\x7f"
    )
    forged = tmp_path / "forged.blob"
    forged.write_bytes(bytes(huge_count))
    with pytest.raises(fc.MalformedBlobError, match="chunk count"):
        aggregator.add_file(forged)
    assert aggregator.contributors == 1
    assert aggregator.result() == fc.aggregate_blobs(parameters_context, blobs[:1])


def test_a_blob_refused_at_its_last_chunk_is_subtracted_again(
    parameters_context: Any,
    encryptor: fc.UpdateEncryptor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: updates of four chunks; the second one's last chunk is corrupted.
    schema = fc.UpdateSchema(fc.TensorLayout.vector(3 * 4096))
    rng = np.random.default_rng(2)
    good = [
        encryptor.encrypt(schema, rng.uniform(-1, 1, 3 * 4096), weight=1.0, headroom=HEADROOM)
        for _ in range(2)
    ]
    header = fc.parse_header(good[1], fc.DEFAULT_PARAMS)
    assert header.chunk_count == 4
    bad = bytearray(good[1])
    start, _ = header.chunk_spans[-1]
    bad[start : start + 8] = b"\xff" * 8
    (tmp_path / "bad.blob").write_bytes(bytes(bad))
    (tmp_path / "good.blob").write_bytes(good[1])
    aggregator = fc.StreamingAggregator(parameters_context, schema=schema)
    aggregator.add(good[0])
    before = aggregator.result()
    loads: list[int] = []
    load_chunk = fc.aggregate.load_chunk

    def counted(*args: Any) -> Any:
        loads.append(args[3])  # the chunk index
        return load_chunk(*args)

    monkeypatch.setattr(fc.aggregate, "load_chunk", counted)

    # Execute / Assert: chunks 0-2 are added, chunk 3 is refused, 0-2 are subtracted again
    with pytest.raises(fc.MalformedBlobError, match="chunk 3"):
        aggregator.add_file(tmp_path / "bad.blob")
    assert loads == [0, 1, 2, 3, 0, 1, 2]
    assert aggregator.result() == before and aggregator.contributors == 1
    # An accepted file is read once, one chunk at a time.
    loads.clear()
    aggregator.add_file(tmp_path / "good.blob")
    assert loads == [0, 1, 2, 3]
    assert aggregator.result() == fc.aggregate_blobs(parameters_context, good)
