"""Parameter sets: validation against the 128-bit limits and the headroom rule."""

from __future__ import annotations

import pytest

import fedledger_crypto as fc


def test_default_set_is_single_data_prime_at_the_security_limit() -> None:
    p = fc.DEFAULT_PARAMS
    assert p.data_level_primes == 1
    assert p.total_modulus_bits == fc.params.SECURITY_128_MAX_MODULUS_BITS[4096] == 109
    assert p.slots == 2048


@pytest.mark.parametrize(
    ("degree", "bits", "scale", "message"),
    [
        (4096, (60, 50), 35, "security limit"),
        (2048, (40, 20), 16, "security limit"),  # 60 bits > 54 for N = 2048
        (8192, (60, 60, 60, 39), 40, "security limit"),  # 219 bits > 218 for N = 8192
        (3000, (60, 49), 35, "poly_modulus_degree"),
        (4096, (60,), 35, "special prime"),
        (4096, (61, 40), 35, "outside"),
        (4096, (60, 49), 59, "headroom"),
    ],
)
def test_invalid_sets_are_refused(
    degree: int, bits: tuple[int, ...], scale: int, message: str
) -> None:
    with pytest.raises(fc.ParameterError, match=message):
        fc.CKKSParams("bad", degree, bits, scale)


def test_params_are_frozen() -> None:
    with pytest.raises(AttributeError):
        fc.DEFAULT_PARAMS.scale_bits = 40  # type: ignore[misc]


def test_unknown_set_lists_the_known_ones() -> None:
    with pytest.raises(fc.ParameterError, match="ckks-n4096-q60-s35"):
        fc.get_params("nope")


def test_headroom_rule_admits_the_documented_federation() -> None:
    # 1,000 clients x weight 10^4 x |value| 1 must fit the default set.
    policy = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=1000)
    assert policy.per_client_bound >= 10_000
    policy.check(10_000.0)
    with pytest.raises(fc.HeadroomExceededError, match="max_clients 1000"):
        policy.check(2 * policy.per_client_bound)
    with pytest.raises(fc.HeadroomExceededError):
        policy.check(float("nan"))


def test_compact_set_arithmetic() -> None:
    # The figures docs/crypto.md derives for ckks-n4096-q40-s16, recomputed from the set.
    p = fc.COMPACT_PARAMS
    assert p.data_level_primes == 1
    assert p.total_modulus_bits == 80 <= fc.params.SECURITY_128_MAX_MODULUS_BITS[4096]
    assert fc.get_params("ckks-n4096-q40-s16") is p
    assert p.capacity() == 0.75 * 2**23 == 6_291_456
    # sqrt(4096 · (1/12 + 3.2²) / 2) / 2**16: one update's error on one decrypted value.
    assert p.noise_std() == pytest.approx(2.2187e-3, rel=1e-4)


def test_headroom_refusal_at_the_compact_capacity() -> None:
    # 1,000 clients may each encode slots up to 6,291; 256 clients (the daemons' default
    # max_clients) up to 24,576, above the largest slot the tasks produce with 8 clients
    # (12,420: a recommendation client's sample count).
    policy = fc.HeadroomPolicy(fc.COMPACT_PARAMS, max_clients=1000)
    assert policy.per_client_bound == pytest.approx(6291.456)
    policy.check(6291.0)
    with pytest.raises(fc.HeadroomExceededError, match=r"ckks-n4096-q40-s16 / max_clients 1000"):
        policy.check(6292.0)
    fc.HeadroomPolicy(fc.COMPACT_PARAMS, max_clients=256).check(12_420.0)
    with pytest.raises(fc.HeadroomExceededError):
        fc.HeadroomPolicy(fc.COMPACT_PARAMS, max_clients=256).check(24_577.0)
