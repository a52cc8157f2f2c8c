"""The Li–Micciancio key-recovery attack: on a raw decryption it works, on what is published it
does not (docs/crypto.md, "Published models and key recovery").

The attacker holds a ciphertext (every blob is public to the aggregator and the auditors) and
values decoded from its decryption. It re-encodes them into the integer polynomial
``m' = round(Δ·σ⁻¹(z))`` (numpy FFT), reads ``c0, c1`` in the coefficient domain, and solves
``c0 + c1·s = m'`` in ``Z_q[X]/(X^N + 1)`` with a negacyclic NTT written here. Success is
unmistakable: the secret key is ternary, a wrong ``m'`` gives a uniformly random ``s``.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

import fedledger_crypto as fc
from fedledger_crypto import masking as mk

N = fc.DEFAULT_PARAMS.poly_modulus_degree
DELTA = fc.DEFAULT_PARAMS.scale
HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=16)
CONTEXT = mk.RoundContext(31337, "0x" + "ab" * 20, 4)


# -- the attacker's tools ------------------------------------------------------------------------


def _root(q: int) -> int:
    """A primitive 2N-th root of unity modulo the prime q (q ≡ 1 mod 2N)."""
    for g in range(2, 1000):
        psi = pow(g, (q - 1) // (2 * N), q)
        if pow(psi, N, q) == q - 1:
            return psi
    raise AssertionError("no root found")


def _ntt(a: np.ndarray, q: int, psi: int, inverse: bool = False) -> np.ndarray:
    """Negacyclic NTT over Python integers: evaluations at psi^(2k+1) (and back)."""
    n = len(a)
    root = pow(psi, -1, q) if inverse else psi
    omega = root * root % q
    x = np.array([int(v) for v in a], dtype=object)
    if not inverse:
        x = x * np.array([pow(root, j, q) for j in range(n)], dtype=object) % q
    # iterative radix-2 Cooley–Tukey on the bit-reversed input
    bits = n.bit_length() - 1
    rev = [int(f"{i:0{bits}b}"[::-1], 2) for i in range(n)]
    x = x[rev]
    size = 2
    while size <= n:
        w = np.array([pow(omega, (n // size) * j, q) for j in range(size // 2)], dtype=object)
        x = x.reshape(-1, size)
        even, odd = x[:, : size // 2], x[:, size // 2 :] * w % q
        x = np.concatenate([(even + odd) % q, (even - odd) % q], axis=1).reshape(-1)
        size *= 2
    if inverse:
        n_inv = pow(n, -1, q)
        x = x * n_inv % q * np.array([pow(root, j, q) for j in range(n)], dtype=object) % q
    return x


def _reencode(values: np.ndarray) -> np.ndarray:
    """m' = round(Δ·σ⁻¹(z)) for the N values (N/2 complex slots) of one chunk, SEAL's slot
    order: slot i is the evaluation at ζ^(3^i mod 2N) (SEAL's CKKSEncoder uses 3 as generator).
    """
    z = values.view(np.complex128)
    w = np.zeros(2 * N, dtype=np.complex128)
    w[[pow(3, i, 2 * N) for i in range(N // 2)]] = z * DELTA
    return np.rint(2.0 / N * np.fft.fft(w)[:N].real).astype(np.int64)


def _ciphertext_coefficients(chunk: Any, ctx: Any) -> tuple[np.ndarray, np.ndarray]:
    """c0 and c1 of a chunk's ciphertext in the coefficient domain (SEAL's own inverse NTT)."""
    seal_context = ctx.data.seal_context()
    with tempfile.TemporaryDirectory() as scratch:
        path = f"{scratch}/ct"
        chunk.save(path)  # TenSEAL's ciphertext type into sealapi's, through SEAL's format
        ct = sealapi.Ciphertext()
        ct.load(seal_context, path)
    sealapi.Evaluator(seal_context).transform_from_ntt_inplace(ct)
    data = ct.dyn_array()
    words = np.array([data.at(i) for i in range(2 * N)], dtype=object)
    return words[:N], words[N:]


def _recover_key(chunk: Any, values: np.ndarray, ctx: Any, q: int) -> np.ndarray:
    """Solve c0 + c1·s = m' for s (centered), from one chunk and its decoded values."""
    psi = _root(q)
    c0, c1 = _ciphertext_coefficients(chunk.data.ciphertext()[0], ctx)
    m = np.array([int(v) % q for v in _reencode(values)], dtype=object)
    lhs, c1_hat = _ntt((m - c0) % q, q, psi), _ntt(c1, q, psi)
    s_hat = np.array(
        [a * pow(int(b), -1, q) % q for a, b in zip(lhs, c1_hat, strict=True)], dtype=object
    )
    s = _ntt(s_hat, q, psi, inverse=True)
    return np.array([v - q if v > q // 2 else v for v in s], dtype=object)


def _ternary(s: np.ndarray) -> float:
    return float(np.mean([v in (-1, 0, 1) for v in s]))


# -- the scenarios -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published_round(encryptor: fc.UpdateEncryptor, parameters_context: Any) -> dict[str, Any]:
    """Three participants' updates of a model whose first N coordinates are hashed buckets no
    one uses (base 0, update 0), the rest ordinary weights; the round's aggregate."""
    size = 2 * N - 1  # with the weight: exactly two chunks
    rng = np.random.default_rng(5)
    schema = fc.UpdateSchema(fc.TensorLayout.vector(size))
    base = np.concatenate([np.zeros(N), rng.normal(0, 0.05, N - 1)]).astype(np.float32)
    updates = [np.concatenate([np.zeros(N), rng.normal(0, 0.01, N - 1)]) for _ in range(3)]
    weights = [1200.0, 800.0, 950.0]
    blobs = [
        encryptor.encrypt(schema, u, weight=w, headroom=HEADROOM)
        for u, w in zip(updates, weights, strict=True)
    ]
    aggregate = fc.aggregate_blobs(parameters_context, blobs)
    return {"schema": schema, "base": base, "aggregate": aggregate, "q": 1152921504606830593}


def _publish(decrypted: fc.DecryptedSum, base: np.ndarray) -> np.ndarray:
    """The model bytes as every task's ``next_state`` makes them: the float32 state plus the
    weighted mean cast to float32, added in float32 (``_training.add_state``)."""
    return base + decrypted.mean().astype(np.float32)


def _attack_published(
    round_: dict[str, Any], published: np.ndarray, weight: float, ctx: Any
) -> np.ndarray:
    """The attacker knows the previous model, the new one and the summed weight."""
    mean = published.astype(np.float64) - round_["base"].astype(np.float64)
    _, vectors = fc.load_blob(round_["aggregate"], ctx, fc.DEFAULT_PARAMS)
    return _recover_key(vectors[0], mean[:N] * weight, ctx, round_["q"])


def test_the_attack_recovers_the_key_from_a_raw_decryption(
    encryptor: fc.UpdateEncryptor, secret_context: Any, published_round: dict[str, Any]
) -> None:
    # Prepare: the raw float64 decoding of the aggregate.
    raw = encryptor.decrypt(published_round["aggregate"], published_round["schema"])
    # Execute
    s = _attack_published(
        published_round,
        (published_round["base"].astype(np.float64) + raw.mean()),
        raw.weight,
        secret_context,
    )
    # Assert: the key is recovered — ternary, and it decrypts another ciphertext.
    assert _ternary(s) == 1.0
    q = published_round["q"]
    other = encryptor.encrypt(
        fc.UpdateSchema(fc.TensorLayout.vector(N - 1)),
        np.full(N - 1, 0.25),
        weight=1.0,
        headroom=HEADROOM,
    )
    _, vectors = fc.load_blob(other, secret_context, fc.DEFAULT_PARAMS)
    c0, c1 = _ciphertext_coefficients(vectors[0].data.ciphertext()[0], secret_context)
    psi = _root(q)
    m = (_ntt(c0, q, psi) + _ntt(c1, q, psi) * _ntt(s % q, q, psi)) % q
    coefficients = [v - q if v > q // 2 else v for v in _ntt(m, q, psi, inverse=True)]
    assert abs(coefficients[0] / DELTA - 0.25) < 1e-6  # the constant term of an all-0.25 vector


def test_the_attack_fails_on_a_published_model_with_flooding(
    encryptor: fc.UpdateEncryptor, secret_context: Any, published_round: dict[str, Any]
) -> None:
    flooded = encryptor.decrypt(
        published_round["aggregate"], published_round["schema"], flood=CONTEXT
    )
    published = _publish(flooded, published_round["base"])
    s = _attack_published(published_round, published, flooded.weight, secret_context)
    assert _ternary(s) < 0.01  # a random polynomial: 3 of q values are ternary


def test_without_flooding_the_unused_buckets_leak_the_key(
    encryptor: fc.UpdateEncryptor, secret_context: Any, published_round: dict[str, Any]
) -> None:
    # The leak flooding closes: float32 keeps 24 significant bits of a coordinate whose base
    # and true mean are 0, i.e. of the noise itself; a chunk of such coordinates gives m'.
    raw = encryptor.decrypt(published_round["aggregate"], published_round["schema"])
    published = _publish(raw, published_round["base"])
    s = _attack_published(published_round, published, raw.weight, secret_context)
    assert _ternary(s) == 1.0


def test_the_attack_fails_on_ordinary_published_weights(
    encryptor: fc.UpdateEncryptor, secret_context: Any, published_round: dict[str, Any]
) -> None:
    # The second chunk's coordinates have a nonzero base: float32 rounding of base + mean
    # erases the noise (ULP ≈ 10⁻⁹ against noise/Σw ≈ 10⁻¹²), even without flooding.
    raw = encryptor.decrypt(published_round["aggregate"], published_round["schema"])
    published = _publish(raw, published_round["base"])
    mean = published.astype(np.float64) - published_round["base"].astype(np.float64)
    values = np.concatenate([mean[N:], [1.0]]) * raw.weight  # the weight is known exactly
    _, vectors = fc.load_blob(published_round["aggregate"], secret_context, fc.DEFAULT_PARAMS)
    s = _recover_key(vectors[1], values, secret_context, published_round["q"])
    assert _ternary(s) < 0.01


def test_flooding_is_identical_for_every_key_holder_and_bound_to_the_blob(
    secret_context: Any, published_round: dict[str, Any]
) -> None:
    schema = published_round["schema"]
    one = fc.UpdateEncryptor(
        fc.load_secret_context(fc.serialize_secret_context(secret_context), fc.DEFAULT_PARAMS)
    )
    two = fc.UpdateEncryptor(
        fc.load_secret_context(fc.serialize_secret_context(secret_context), fc.DEFAULT_PARAMS)
    )
    a = one.decrypt(published_round["aggregate"], schema, flood=CONTEXT)
    b = two.decrypt(published_round["aggregate"], schema, flood=CONTEXT)
    raw = one.decrypt(published_round["aggregate"], schema)
    assert a.values.tobytes() == b.values.tobytes() and a.weight == b.weight
    noise = a.values - raw.values
    assert 0.8 * 2**-12 < float(np.std(noise)) < 1.2 * 2**-12
    assert float(np.max(np.abs(noise))) <= np.sqrt(12) * 2**-12
    later = mk.RoundContext(CONTEXT.chain_id, CONTEXT.ledger, CONTEXT.round + 1)
    assert one.decrypt(published_round["aggregate"], schema, flood=later).values[0] != a.values[0]
