"""TenSEAL contexts: the participants' secret context and the aggregator's parameters-only one.

Participants encrypt *symmetrically* with the shared secret key (smaller, faster ciphertexts than
public-key encryption, and no public key is ever needed). The aggregator receives only the
public parameters — polynomial degree, primes and scale, 86 bytes for the default set — which
are enough to deserialize and add ciphertexts but not to decrypt or encrypt them.

The parameters bytes are deterministic for a parameter set, so ``parameters_hash`` (keccak256,
committed on chain by the key dealer) identifies the set exactly.
"""

from __future__ import annotations

import functools
from typing import Any

import tenseal as ts

from fedledger_crypto.commitments import keccak256
from fedledger_crypto.errors import ContextError
from fedledger_crypto.params import PARAMETER_SETS, CKKSParams

__all__ = [
    "context_params",
    "create_secret_context",
    "load_parameters_context",
    "load_secret_context",
    "parameters_bytes",
    "parameters_hash",
    "serialize_secret_context",
]

# A TenSEAL context is untyped (pybind11); keep the alias explicit at our boundary.
Context = Any


def create_secret_context(params: CKKSParams) -> Context:
    """A fresh CKKS context holding a new secret key, for symmetric encryption."""
    ctx = ts.context(
        ts.SCHEME_TYPE.CKKS,
        params.poly_modulus_degree,
        coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
        encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
    )
    ctx.global_scale = params.scale
    return ctx


def serialize_secret_context(ctx: Context) -> bytes:
    """The secret context as bytes: parameters and secret key, no evaluation keys."""
    if not ctx.is_private():
        raise ContextError("this context holds no secret key; nothing secret to serialize")
    data: bytes = ctx.serialize(
        save_public_key=False, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
    )
    return data


def parameters_bytes(ctx: Context) -> bytes:
    """The public parameters of a context (no keys at all): what the aggregator may hold."""
    data: bytes = ctx.serialize(
        save_public_key=False, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    return data


@functools.cache
def _canonical_parameters_bytes(params: CKKSParams) -> bytes:
    return parameters_bytes(create_secret_context(params))


def parameters_hash(params: CKKSParams) -> bytes:
    """keccak256 of the set's canonical parameters bytes (the value committed on chain)."""
    return keccak256(_canonical_parameters_bytes(params))


def context_params(ctx: Context) -> CKKSParams:
    """The named parameter set a context was created with; :class:`ContextError` if none."""
    data = parameters_bytes(ctx)
    for params in PARAMETER_SETS.values():
        if _canonical_parameters_bytes(params) == data:
            return params
    raise ContextError(
        "the context does not match any known parameter set "
        f"({', '.join(PARAMETER_SETS)}); it was created with other parameters"
    )


def _deserialize(data: bytes, what: str) -> Context:
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise ContextError(f"{what}: expected non-empty bytes")
    try:
        return ts.context_from(bytes(data))
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError for bad streams
        raise ContextError(f"{what}: not a serialized TenSEAL context ({exc})") from exc


def load_secret_context(data: bytes, params: CKKSParams) -> Context:
    """Deserialize a participant's secret context and check it belongs to ``params``."""
    ctx = _deserialize(data, "secret context")
    if not ctx.is_private():
        raise ContextError("secret context: the serialized context holds no secret key")
    found = context_params(ctx)
    if found != params:
        raise ContextError(f"secret context uses parameter set {found.id}, expected {params.id}")
    return ctx


def load_parameters_context(data: bytes, params: CKKSParams) -> Context:
    """Deserialize the parameters-only context the aggregator and auditors use.

    Refuses a context that carries a secret key: the aggregator must never be able to decrypt.
    """
    ctx = _deserialize(data, "parameters context")
    # A symmetric context of a known set (checked below) can hold no public key; the only key
    # that matters is the secret one.
    if ctx.is_private():
        raise ContextError(
            "parameters context: refusing a context that carries keys; the aggregator must hold "
            "only the public parameters (serialize with save_secret_key=False)"
        )
    found = context_params(ctx)
    if found != params:
        raise ContextError(
            f"parameters context uses parameter set {found.id}, expected {params.id}"
        )
    return ctx
