"""The update codec: layouts, weighted encoding, blobs, decryption, headroom."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import tenseal as ts
import torch

import fedledger_crypto as fc

HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=1000)


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "fc.weight": torch.rand(3, 700, generator=g) - 0.5,
        "fc.bias": torch.rand(3, generator=g, dtype=torch.float64),
        "emb.weight": (torch.rand(40, 100, generator=g) - 0.5).to(torch.float16),
        "steps": torch.tensor(7, dtype=torch.int64),
    }


def test_layout_order_is_sorted_by_name_and_round_trips() -> None:
    state = _state()
    layout = fc.TensorLayout.from_state(state)
    assert [s.name for s in layout.tensors] == ["emb.weight", "fc.bias", "fc.weight", "steps"]
    vector = layout.flatten(state)
    assert vector.dtype == np.float64 and vector.shape == (layout.size,)
    assert vector[4000] == state["fc.bias"][0].item()  # after the 4,000 embedding values
    back = layout.unflatten(vector)
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype and back[name].shape == tensor.shape
        assert torch.equal(back[name], tensor)


def test_layout_rejects_other_state() -> None:
    layout = fc.TensorLayout.from_state(_state())
    bad = _state()
    bad["fc.bias"] = torch.zeros(4)
    with pytest.raises(fc.SchemaMismatchError, match=r"fc\.bias"):
        layout.flatten(bad)
    del bad["steps"]
    with pytest.raises(fc.SchemaMismatchError, match="missing"):
        layout.flatten(bad)


def test_state_round_trip_through_encryption(encryptor: fc.UpdateEncryptor) -> None:
    state = _state()
    layout = fc.TensorLayout.from_state(state)
    schema = fc.UpdateSchema(layout, ("correct", "total"))
    blob = encryptor.encrypt(
        schema,
        layout.flatten(state),
        weight=1.0,
        metrics={"correct": 3.0, "total": 4.0},
        headroom=HEADROOM,
    )
    header = fc.parse_header(blob, fc.DEFAULT_PARAMS)
    assert header.kind == fc.BlobKind.UPDATE
    assert header.value_count == layout.size and header.extra_slots == 3
    assert header.chunk_count == -(-(layout.size + 3) // 4096)  # two values per slot
    decrypted = encryptor.decrypt(blob, schema)
    restored = layout.unflatten(decrypted.values)
    for name, tensor in state.items():
        assert restored[name].dtype == tensor.dtype
        torch.testing.assert_close(restored[name], tensor, atol=1e-6, rtol=0)
    assert decrypted.metrics == pytest.approx({"correct": 3.0, "total": 4.0}, abs=1e-6)


def test_numpy_vector_round_trip(encryptor: fc.UpdateEncryptor) -> None:
    x = np.linspace(-1, 1, 5000)
    schema = fc.UpdateSchema(fc.TensorLayout.vector(5000))
    blob = encryptor.encrypt(schema, x, weight=3.0, headroom=HEADROOM, weighted=False)
    out = encryptor.decrypt(blob, schema)
    np.testing.assert_allclose(out.values, x, atol=1e-7)
    assert out.weight == pytest.approx(3.0, abs=1e-7)


def test_serialization_survives_a_fresh_context(secret_context: Any) -> None:
    """Every operation again after a serialize/deserialize round trip of the context."""
    reloaded = fc.load_secret_context(
        fc.serialize_secret_context(secret_context), fc.DEFAULT_PARAMS
    )
    schema = fc.UpdateSchema(fc.TensorLayout.vector(10))
    blob = fc.UpdateEncryptor(secret_context).encrypt(
        schema, np.arange(10.0) / 10, weight=2.0, headroom=HEADROOM
    )
    out = fc.UpdateEncryptor(reloaded).decrypt(blob, schema)
    np.testing.assert_allclose(out.mean(), np.arange(10.0) / 10, atol=1e-7)


@pytest.fixture(scope="module", params=[fc.DEFAULT_PARAMS, fc.COMPACT_PARAMS], ids=lambda p: p.id)
def codec(request: pytest.FixtureRequest) -> tuple[fc.CKKSParams, fc.UpdateEncryptor, Any]:
    """A parameter set with an encryptor and a parameters-only context of a fresh key."""
    params: fc.CKKSParams = request.param
    secret = fc.create_secret_context(params)
    public = fc.load_parameters_context(fc.parameters_bytes(secret), params)
    return params, fc.UpdateEncryptor(secret), public


def test_weighted_sum_of_1000_clients_is_within_the_noise_bound(
    codec: tuple[fc.CKKSParams, fc.UpdateEncryptor, Any],
) -> None:
    # Prepare: 1,000 clients at the headroom policy's limit: the extreme client encodes every
    # slot at the per-client bound (the largest weight with slots of modulus 1), the others
    # weights up to it; one integer count per client as a metric.
    params, encryptor, public = codec
    headroom = fc.HeadroomPolicy(params, max_clients=1000)
    top = math.floor(headroom.per_client_bound)
    rng = np.random.default_rng(7)
    size = 4200  # two chunks, the second partially filled
    schema = fc.UpdateSchema(fc.TensorLayout.vector(size), ("correct",))
    weights = rng.integers(1, top + 1, size=1000)
    weights[0] = top
    values = rng.uniform(-1, 1, size=(1000, size)) / np.sqrt(2)
    values[0, :] = 1 / np.sqrt(2)
    counts = rng.integers(0, 50, size=1000)
    counts[0] = 0  # its slot pairs the count with the weight, already at the bound
    aggregator = fc.StreamingAggregator(public, schema_digest=schema.digest())
    # Execute
    for w, x, c in zip(weights, values, counts, strict=True):
        blob = encryptor.encrypt(
            schema, x, weight=float(w), metrics={"correct": float(c)}, headroom=headroom
        )
        aggregator.add(blob)
    result = encryptor.decrypt(aggregator.result(), schema)
    # Assert: against float64. Each decrypted value of the sum carries an error of standard
    # deviation noise_std·√1000 (measured within 10 % of it); none is 6 of them away, so
    # integer sums decrypt exactly once rounded.
    sigma = params.noise_std() * math.sqrt(1000)
    exact = (weights[:, None] * values).sum(axis=0)
    errors = result.values - exact
    assert result.contributors == 1000
    assert 0.9 < errors.std() / sigma < 1.1
    assert np.max(np.abs(errors)) < 6 * sigma
    assert abs(result.weight - weights.sum()) < 6 * sigma
    assert abs(result.metrics["correct"] - counts.sum()) < 6 * sigma < 0.5
    # The mean's error is the sum's over Σw (plus the weight's share): about 3e-13 for the
    # default set and 3e-7 for the compact one here.
    mean_error = np.max(np.abs(result.mean() - exact / weights.sum()))
    assert mean_error < 12 * sigma / weights.sum()


def test_headroom_overflow_is_refused_before_encryption(encryptor: fc.UpdateEncryptor) -> None:
    schema = fc.UpdateSchema(fc.TensorLayout.vector(4))
    small = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=10_000)
    with pytest.raises(fc.HeadroomExceededError, match="values 2-3"):
        encryptor.encrypt(schema, np.array([0.0, 0.5, 1.0, 0.0]), weight=5_000.0, headroom=small)
    # Each value of the pair is within the bound, their slot's modulus is not.
    near = 0.9 * small.per_client_bound
    with pytest.raises(fc.HeadroomExceededError, match="values 0-1"):
        encryptor.encrypt(schema, np.array([near, near, 0.0, 0.0]), weight=1.0, headroom=small)
    encryptor.encrypt(schema, np.array([near, 0.0, near, 0.0]), weight=1.0, headroom=small)


def test_encrypt_rejects_bad_input(encryptor: fc.UpdateEncryptor) -> None:
    schema = fc.UpdateSchema(fc.TensorLayout.vector(4), ("total",))
    with pytest.raises(fc.SchemaMismatchError):
        encryptor.encrypt(schema, np.zeros(5), weight=1.0, metrics={"total": 1}, headroom=HEADROOM)
    with pytest.raises(fc.SchemaMismatchError, match="metrics"):
        encryptor.encrypt(schema, np.zeros(4), weight=1.0, headroom=HEADROOM)
    with pytest.raises(ValueError, match="NaN"):
        encryptor.encrypt(
            schema, np.array([0, np.nan, 0, 0]), weight=1.0, metrics={"total": 1}, headroom=HEADROOM
        )
    with pytest.raises(ValueError, match="positive"):
        encryptor.encrypt(schema, np.zeros(4), weight=0.0, metrics={"total": 1}, headroom=HEADROOM)
    with pytest.raises(ValueError, match="non-negative"):
        encryptor.encrypt(
            schema,
            np.zeros(4),
            weight=-1.0,
            metrics={"total": 1},
            headroom=HEADROOM,
            weighted=False,
        )
    # A summed statistic may carry weight 0.
    blob = encryptor.encrypt(
        schema, np.ones(4), weight=0.0, metrics={"total": 0}, headroom=HEADROOM, weighted=False
    )
    assert encryptor.decrypt(blob, schema).weight == pytest.approx(0.0, abs=1e-6)


def test_encryptor_needs_the_secret_key(parameters_context: Any) -> None:
    with pytest.raises(fc.ContextError):
        fc.UpdateEncryptor(parameters_context)


#: Bytes per parameter of an update and of an aggregate. An update stores each mask polynomial
#: as its seed: one polynomial of N 64-bit words per chunk (60-bit prime: 8 bytes a word; 40-bit
#: prime: about 6 once SEAL's zstd has coded the 24 zero high bits). A sum of updates holds
#: both polynomials in full.
BYTES_PER_PARAMETER = {fc.DEFAULT_PARAMS.id: (8.1, 16.1), fc.COMPACT_PARAMS.id: (6.1, 12.1)}


def test_bytes_per_parameter_at_scale(
    codec: tuple[fc.CKKSParams, fc.UpdateEncryptor, Any],
) -> None:
    params, encryptor, public = codec
    update_limit, aggregate_limit = BYTES_PER_PARAMETER[params.id]
    size = 4096 * 25 - 1  # 25 full ciphertexts of 2048 slots, two values each
    schema = fc.UpdateSchema(fc.TensorLayout.vector(size))
    headroom = fc.HeadroomPolicy(params, max_clients=2)
    rng = np.random.default_rng(0)
    blobs = [
        encryptor.encrypt(schema, rng.uniform(-1, 1, size), weight=1.0, headroom=headroom)
        for _ in range(2)
    ]
    assert fc.parse_header(blobs[0], params).chunk_count == 25
    assert len(blobs[0]) / size <= update_limit
    aggregate = fc.aggregate_blobs(public, blobs)
    assert aggregate_limit - 0.2 <= len(aggregate) / size <= aggregate_limit


def _chunk_mask(ctx: Any, blob: bytes, index: int, count: int = 8) -> list[int]:
    """The first coefficients of chunk ``index``'s second polynomial (its seed-derived mask)."""
    start, end = fc.parse_header(blob, fc.DEFAULT_PARAMS).chunk_spans[index]
    ciphertext = ts.ckks_vector_from(ctx, blob[start:end]).data.ciphertext()[0]
    n = fc.DEFAULT_PARAMS.poly_modulus_degree
    return [ciphertext[n + i] for i in range(count)]


def test_every_chunk_is_masked_with_a_fresh_seed(
    encryptor: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    # A repeated seed would repeat the mask, and the difference of two ciphertexts would then
    # reveal the difference of their plaintexts.
    schema = fc.UpdateSchema(fc.TensorLayout.vector(3 * 4096))
    first, second = (
        encryptor.encrypt(schema, np.zeros(3 * 4096), weight=1.0, headroom=HEADROOM)
        for _ in range(2)
    )
    masks = [_chunk_mask(parameters_context, blob, i) for blob in (first, second) for i in (0, 1)]
    assert len({tuple(mask) for mask in masks}) == 4
    assert all(any(mask) for mask in masks)


def test_value_count_one_off_is_a_schema_mismatch(
    encryptor: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    # 4 values + 1 weight fill 3 slots; 5 values + 1 weight fill 3 slots as well, so only the
    # schema can tell that a header claiming 5 values is wrong.
    schema = fc.UpdateSchema(fc.TensorLayout.vector(4))
    blob = bytearray(encryptor.encrypt(schema, np.ones(4), weight=1.0, headroom=HEADROOM))
    offset = 8 + len(fc.DEFAULT_PARAMS.id) + 32
    blob[offset] = 5
    forged = bytes(blob)
    fc.load_blob(forged, parameters_context, fc.DEFAULT_PARAMS)  # structurally valid
    with pytest.raises(fc.SchemaMismatchError, match="5 values"):
        fc.load_blob(forged, parameters_context, fc.DEFAULT_PARAMS, schema=schema)
    with pytest.raises(fc.SchemaMismatchError):
        fc.StreamingAggregator(parameters_context, schema=schema).add(forged)
    with pytest.raises(fc.SchemaMismatchError):
        encryptor.decrypt(forged, schema)


def test_encryption_leaves_no_scratch_files(secret_context: Any) -> None:
    own = fc.UpdateEncryptor(secret_context)
    scratch = own._seal.io.scratch  # SEAL saves ciphertexts only to files: they must not pile up
    schema = fc.UpdateSchema(fc.TensorLayout.vector(5000))
    own.encrypt(schema, np.ones(5000), weight=1.0, headroom=HEADROOM)
    assert scratch.is_dir() and list(scratch.iterdir()) == []
    own.close()
    assert not scratch.exists()
