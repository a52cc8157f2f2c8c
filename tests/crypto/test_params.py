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
