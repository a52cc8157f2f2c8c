"""Named, frozen CKKS parameter sets and the headroom rule for addition-only aggregation.

Aggregation only ever adds ciphertexts, so no multiplicative depth is needed: one data prime
carries the values and a second prime is SEAL's special (key-switching) prime, which fresh
ciphertexts do not carry. The default set, ``ckks-n4096-q60-s35``, is ``N = 4096`` with primes
``[60, 49]`` (109 bits: exactly the 128-bit limit for N = 4096) and scale ``2**35``; with two
values per (complex) slot an update costs 8.1 bytes per parameter on the wire, against about 58
for NVFlare's default ``N = 8192, [60, 40, 40]`` with real-only encoding. ``ckks-n4096-q40-s16``
trades headroom and precision for 6.1 bytes per parameter (docs/crypto.md has the arithmetic).

Headroom. CKKS stores ``round(value * 2**scale_bits)`` modulo the data prime ``q0 ≈ 2**bits``;
a sum whose magnitude reaches ``q0 / 2`` wraps around and decrypts to garbage. With the
canonical embedding every coefficient is bounded by the largest slot modulus (a slot holds two
values as one complex number, ``|slot| = sqrt(x_2k**2 + x_2k+1**2)``), so the rule is::

    max_clients × max_weight × max|slot| × 2**scale_bits  <  2**(data_prime_bits − 1)

:meth:`CKKSParams.capacity` is the right-hand side divided by ``2**scale_bits`` with a 25 %
safety margin for encryption noise and rounding (``0.75 * 2**24 ≈ 1.26e7`` for the default set);
:class:`HeadroomPolicy` splits it evenly over the federation's ``max_clients``.

Precision. Each update adds independent rounding and encryption noise to every coefficient
(variance ``1/12 + 3.2**2``), which decodes to an error of standard deviation
:meth:`CKKSParams.noise_std` on every value; a sum of ``K`` updates carries ``sqrt(K)`` times it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from fedledger_crypto.errors import HeadroomExceededError, ParameterError

__all__ = [
    "COMPACT_PARAMS",
    "DEFAULT_PARAMS",
    "NVFLARE_DEFAULT_PARAMS",
    "PARAMETER_SETS",
    "PRECISE_PARAMS",
    "SECURITY_128_MAX_MODULUS_BITS",
    "CKKSParams",
    "HeadroomPolicy",
    "get_params",
]

#: Largest total coefficient-modulus bit count per polynomial degree for 128-bit classical
#: security (HomomorphicEncryption.org standard; SEAL's ``CoeffModulus::MaxBitCount``).
SECURITY_128_MAX_MODULUS_BITS: MappingProxyType[int, int] = MappingProxyType(
    {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
)

_HEADROOM_SAFETY = 0.75  # margin for encryption noise and rounding (noise is ~1e2, far below)
#: Variance of one coefficient's error in a fresh encryption: rounding to an integer (1/12) plus
#: SEAL's encryption noise (centered binomial, standard deviation 3.2).
_COEFFICIENT_ERROR_VARIANCE = 1 / 12 + 3.2**2
_SEAL_MAX_PRIME_BITS = 60
_SEAL_MIN_PRIME_BITS = 20  # primes ≡ 1 (mod 2N) must exist for N ≤ 32768


@dataclass(frozen=True)
class CKKSParams:
    """One CKKS parameter set. Validated on construction; immutable.

    ``coeff_mod_bit_sizes`` lists the data primes followed by the special prime (SEAL's
    convention); ciphertexts of fresh encryptions live at the level of the data primes.
    """

    id: str
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int

    def __post_init__(self) -> None:
        n = self.poly_modulus_degree
        limit = SECURITY_128_MAX_MODULUS_BITS.get(n)
        if limit is None:
            raise ParameterError(
                f"parameter set {self.id!r}: poly_modulus_degree {n} is not one of "
                f"{sorted(SECURITY_128_MAX_MODULUS_BITS)}"
            )
        if len(self.coeff_mod_bit_sizes) < 2:
            raise ParameterError(
                f"parameter set {self.id!r}: needs at least one data prime and the special prime, "
                f"got {list(self.coeff_mod_bit_sizes)}"
            )
        for bits in self.coeff_mod_bit_sizes:
            if not _SEAL_MIN_PRIME_BITS <= bits <= _SEAL_MAX_PRIME_BITS:
                raise ParameterError(
                    f"parameter set {self.id!r}: prime size {bits} bits is outside "
                    f"[{_SEAL_MIN_PRIME_BITS}, {_SEAL_MAX_PRIME_BITS}]"
                )
        if self.total_modulus_bits > limit:
            raise ParameterError(
                f"parameter set {self.id!r}: {self.total_modulus_bits} modulus bits exceed the "
                f"128-bit security limit of {limit} bits for N = {n}"
            )
        if not 1 <= self.scale_bits < self.data_prime_bits - 1:
            raise ParameterError(
                f"parameter set {self.id!r}: scale 2**{self.scale_bits} leaves no headroom under "
                f"the {self.data_prime_bits}-bit data prime"
            )
        if not self.id or not self.id.isascii() or len(self.id) > 64:
            raise ParameterError(f"parameter set id {self.id!r} must be 1-64 ASCII characters")

    @property
    def slots(self) -> int:
        """Number of values one ciphertext holds (``N / 2``)."""
        return self.poly_modulus_degree // 2

    @property
    def scale(self) -> float:
        """The encoding scale ``2**scale_bits``."""
        return float(2**self.scale_bits)

    @property
    def data_prime_bits(self) -> int:
        """Bit size of the first data prime, which bounds every decrypted value."""
        return self.coeff_mod_bit_sizes[0]

    @property
    def data_level_primes(self) -> int:
        """Number of primes a fresh ciphertext carries (all but the special prime)."""
        return len(self.coeff_mod_bit_sizes) - 1

    @property
    def total_modulus_bits(self) -> int:
        """Sum of all prime sizes, compared against the 128-bit security limit."""
        return sum(self.coeff_mod_bit_sizes)

    def capacity(self) -> float:
        """Largest magnitude a *summed* slot may reach (see the module docstring)."""
        return _HEADROOM_SAFETY * 2.0 ** (self.data_prime_bits - 1 - self.scale_bits)

    def noise_std(self) -> float:
        """Standard deviation of the error one fresh update adds to each decrypted value.

        A slot is the sum of N coefficients times roots of unity, so independent coefficient
        errors of variance v give each slot a complex error of variance N·v, split evenly
        between the two values it holds.
        """
        return math.sqrt(self.poly_modulus_degree * _COEFFICIENT_ERROR_VARIANCE / 2) / self.scale


@dataclass(frozen=True)
class HeadroomPolicy:
    """Splits a parameter set's capacity over at most ``max_clients`` contributions.

    Every slot a client encodes (the modulus of a pair of weighted values, weight or metric
    sums) must stay within :attr:`per_client_bound`; then no sum of ``max_clients``
    contributions can overflow.
    """

    params: CKKSParams
    max_clients: int

    def __post_init__(self) -> None:
        if self.max_clients < 1:
            raise ParameterError(f"max_clients must be at least 1, got {self.max_clients}")

    @property
    def per_client_bound(self) -> float:
        """Largest slot modulus one client may encode."""
        return self.params.capacity() / self.max_clients

    def check(self, max_abs_slot: float, *, what: str = "encoded value") -> None:
        """Raise :class:`HeadroomExceededError` when ``max_abs_slot`` exceeds the bound."""
        bound = self.per_client_bound
        if not max_abs_slot <= bound:  # also catches NaN
            raise HeadroomExceededError(
                f"{what} {max_abs_slot:.6g} exceeds the per-client bound {bound:.6g} "
                f"(capacity {self.params.capacity():.6g} of {self.params.id} / max_clients "
                f"{self.max_clients}); lower the clip norm or the weight, lower max_clients, or "
                f"choose a parameter set with a smaller scale"
            )


DEFAULT_PARAMS = CKKSParams(
    id="ckks-n4096-q60-s35", poly_modulus_degree=4096, coeff_mod_bit_sizes=(60, 49), scale_bits=35
)
#: A 40-bit data prime: 6.1 bytes per parameter in an update instead of 8.1, capacity ≈ 6.3e6 and
#: a decryption error of 2.2e-3 per update and value (docs/crypto.md: "The compact set").
COMPACT_PARAMS = CKKSParams(
    id="ckks-n4096-q40-s16", poly_modulus_degree=4096, coeff_mod_bit_sizes=(40, 40), scale_bits=16
)
#: More precision and slots per ciphertext, less headroom (capacity ≈ 3.9e5).
PRECISE_PARAMS = CKKSParams(
    id="ckks-n8192-q60-s40", poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 60), scale_bits=40
)
#: NVFlare's HE setting (TenSEALContextBuilder defaults), kept for side-by-side benchmarks.
NVFLARE_DEFAULT_PARAMS = CKKSParams(
    id="nvflare-n8192-q60-40-40-s40",
    poly_modulus_degree=8192,
    coeff_mod_bit_sizes=(60, 40, 40),
    scale_bits=40,
)

PARAMETER_SETS: MappingProxyType[str, CKKSParams] = MappingProxyType(
    {p.id: p for p in (DEFAULT_PARAMS, COMPACT_PARAMS, PRECISE_PARAMS, NVFLARE_DEFAULT_PARAMS)}
)


def get_params(params_id: str) -> CKKSParams:
    """Look up a named parameter set; :class:`ParameterError` lists the known ids."""
    try:
        return PARAMETER_SETS[params_id]
    except KeyError:
        raise ParameterError(
            f"unknown CKKS parameter set {params_id!r}; known sets: {', '.join(PARAMETER_SETS)}"
        ) from None
