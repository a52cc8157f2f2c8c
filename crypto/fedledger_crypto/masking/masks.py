"""Masks: signed sums of PRG expansions of pair seeds, as residue polynomials per chunk.

Participant ``i`` adds ``M_i = Σ_{j∈N(i), j>i} PRG(s_ij) − Σ_{j∈N(i), j<i} PRG(s_ij)`` (addresses
compared as numbers) to each chunk's plaintext, modulo each data prime. Over a round every pair
``{i, j}`` contributes ``+PRG(s_ij)`` once and ``−PRG(s_ij)`` once, so ``Σ_i M_i = 0`` exactly
(mod q) and the masks vanish from the encrypted sum. A correction for dropouts is a mask too:
the terms the dropped participants' neighbours added, with the opposite sign.

Masks are added to the NTT form SEAL keeps plaintexts and ciphertexts in. Per prime the NTT is a
bijective linear map of ``Z_q^N``: a uniform vector stays uniform in the coefficient domain,
and terms that cancel in one domain cancel in the other. Uniform residues modulo each prime are
uniform modulo their product (CRT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fedledger_crypto.errors import MaskingError
from fedledger_crypto.masking.graph import NeighbourGraph
from fedledger_crypto.masking.prg import expand
from fedledger_crypto.masking.seeds import (
    RoundContext,
    address_bytes,
    address_of_private_key,
    canonical_address,
    pair_seed,
)
from fedledger_crypto.residues import ResidueArray

__all__ = ["Mask", "MaskTerm", "participant_mask"]

# Up to 16 residues below 2^60 (or multiples of q) sum below 2^64.
_LAZY_TERMS = 16


@dataclass(frozen=True)
class MaskTerm:
    """``sign · PRG(seed)``; ``peer`` names the other end of the pair (for messages only)."""

    seed: bytes
    sign: int
    peer: str

    def __post_init__(self) -> None:
        if self.sign not in (1, -1):
            raise MaskingError(f"a mask term's sign is +1 or -1, got {self.sign}")
        if len(self.seed) != 32:
            raise MaskingError(f"a pair seed is 32 bytes, got {len(self.seed)}")


@dataclass(frozen=True)
class Mask:
    """A signed sum of seed expansions; :meth:`polynomials` yields its residues per chunk."""

    terms: tuple[MaskTerm, ...]

    def polynomials(
        self, moduli: Sequence[int], degree: int, start: int, stop: int
    ) -> ResidueArray:
        """The mask's residues for chunks ``start`` to ``stop - 1``: shape
        ``(stop - start, len(moduli), degree)``, each below its prime.
        """
        out = np.empty((stop - start, len(moduli), degree), dtype=np.uint64)
        for p, modulus in enumerate(moduli):
            if modulus >= 2**60:
                raise MaskingError(f"prime {modulus} exceeds 60 bits")
            out[:, p, :] = self._residues(modulus, p, degree, start, stop)
        return out

    def _residues(self, modulus: int, p: int, degree: int, start: int, stop: int) -> ResidueArray:
        q = np.uint64(modulus)
        # Lazy sums: ``sums[sign]`` stays below ``bounds[sign]·q``, reduced only when
        # ``plus + bound_minus·q − minus`` could pass 2^64 (16 multiples of a prime < 2^60).
        sums: dict[int, ResidueArray] = {}
        bounds = {1: 0, -1: 0}
        for term in self.terms:
            if bounds[1] + bounds[-1] == _LAZY_TERMS:
                for sign in sums:
                    sums[sign] %= q
                    bounds[sign] = 1
            r = expand(term.seed, modulus, p, degree=degree, start=start, stop=stop)
            if term.sign in sums:
                sums[term.sign] += r
            else:
                sums[term.sign] = r
            bounds[term.sign] += 1
        plus = sums.get(1, np.zeros((stop - start, degree), dtype=np.uint64))
        if -1 in sums:
            plus += np.uint64(bounds[-1] * modulus)  # keeps plus − minus positive
            plus -= sums[-1]
        plus %= q
        return plus


def participant_mask(
    private_key: bytes,
    own: str,
    graph: NeighbourGraph,
    public_keys: Mapping[str, bytes],
    context: RoundContext,
) -> Mask:
    """The mask of ``own`` (holding ``private_key``) in the round ``context`` over ``graph``.

    ``public_keys`` maps each neighbour's address to its 64-byte public key as registered on
    chain.
    """
    me = canonical_address(own)
    if address_of_private_key(private_key) != me:
        raise MaskingError(f"the private key given is not the key of {me}")
    keys = {canonical_address(a): k for a, k in public_keys.items()}
    terms = []
    for peer in graph.of(me):
        if peer not in keys:
            raise MaskingError(f"no registered public key for neighbour {peer} of {me}")
        sign = 1 if address_bytes(peer) > address_bytes(me) else -1
        terms.append(MaskTerm(pair_seed(private_key, me, peer, keys[peer], context), sign, peer))
    return Mask(tuple(terms))
