"""Contexts: secret vs. parameters-only, serialization, the parameters hash."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tenseal as ts

import fedledger_crypto as fc


def test_secret_context_round_trip(secret_context: Any) -> None:
    data = fc.serialize_secret_context(secret_context)
    ctx = fc.load_secret_context(data, fc.DEFAULT_PARAMS)
    vec = ts.ckks_vector(secret_context, [0.25, -0.5])
    again = ts.ckks_vector_from(ctx, vec.serialize())
    np.testing.assert_allclose(again.decrypt(), [0.25, -0.5], atol=1e-7)


def test_parameters_context_is_small_and_keyless(secret_context: Any) -> None:
    data = fc.parameters_bytes(secret_context)
    assert len(data) < 200
    ctx = fc.load_parameters_context(data, fc.DEFAULT_PARAMS)
    assert not ctx.is_private()


def test_parameters_context_cannot_decrypt(secret_context: Any, parameters_context: Any) -> None:
    blob = ts.ckks_vector(secret_context, [1.0, 2.0]).serialize()
    vec = ts.ckks_vector_from(parameters_context, blob)
    with pytest.raises(ValueError, match="secret"):
        vec.decrypt()


def test_parameters_context_refuses_a_secret_key(secret_context: Any) -> None:
    with pytest.raises(fc.ContextError, match="refusing"):
        fc.load_parameters_context(fc.serialize_secret_context(secret_context), fc.DEFAULT_PARAMS)


def test_secret_loader_refuses_a_parameters_context(secret_context: Any) -> None:
    with pytest.raises(fc.ContextError, match="no secret key"):
        fc.load_secret_context(fc.parameters_bytes(secret_context), fc.DEFAULT_PARAMS)


def test_wrong_parameter_set_is_named() -> None:
    other = fc.create_secret_context(fc.PRECISE_PARAMS)
    with pytest.raises(fc.ContextError, match="ckks-n8192-q60-s40"):
        fc.load_parameters_context(fc.parameters_bytes(other), fc.DEFAULT_PARAMS)


def test_garbage_is_a_context_error() -> None:
    with pytest.raises(fc.ContextError):
        fc.load_parameters_context(b"\x00" * 50, fc.DEFAULT_PARAMS)


def test_parameters_hash_is_keccak_of_the_canonical_bytes(secret_context: Any) -> None:
    # Independent keys, same parameters: the public bytes and hence the hash are identical.
    other = fc.create_secret_context(fc.DEFAULT_PARAMS)
    assert fc.parameters_bytes(other) == fc.parameters_bytes(secret_context)
    assert fc.parameters_hash(fc.DEFAULT_PARAMS) == fc.keccak256(fc.parameters_bytes(other))
    assert fc.parameters_hash(fc.DEFAULT_PARAMS) != fc.parameters_hash(fc.PRECISE_PARAMS)


def test_keccak256_matches_ethereum() -> None:
    # keccak256("") as every Ethereum tool computes it (not SHA3-256).
    assert fc.hash_hex(fc.keccak256(b"")) == (
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert fc.hash_from_hex(fc.hash_hex(fc.keccak256(b"x"))) == fc.keccak256(b"x")
    with pytest.raises(ValueError, match="64 hex digits"):
        fc.hash_from_hex("0x1234")
