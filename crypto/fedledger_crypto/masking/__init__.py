"""Pairwise masks over encrypted updates, keyed from the chain, with dropout recovery.

``seeds`` (ECDH pair seeds bound to a round), ``prg`` (AES-256-CTR expansion to uniform
residues), ``graph`` (who masks with whom), ``masks`` (a participant's mask per chunk),
``reveals`` (Chaum–Pedersen-proved reveals of a dropped neighbour's point, and their canonical
encoding) and ``correction`` (the terms dropouts left in the sum). docs/crypto.md gives each
construction and its security argument.
"""

from fedledger_crypto.masking.correction import correction
from fedledger_crypto.masking.graph import (
    DEFAULT_COMPLETE_UP_TO,
    NeighbourGraph,
    default_degree,
    neighbour_graph,
)
from fedledger_crypto.masking.masks import Mask, MaskTerm, participant_mask
from fedledger_crypto.masking.prg import expand
from fedledger_crypto.masking.reveals import (
    Reveal,
    decode_reveals,
    encode_reveals,
    make_reveal,
    reveals_hash,
    verify_reveal,
)
from fedledger_crypto.masking.seeds import (
    RoundContext,
    address_of_private_key,
    pair_seed,
    seed_from_point,
    shared_point,
)

__all__ = [
    "DEFAULT_COMPLETE_UP_TO",
    "Mask",
    "MaskTerm",
    "NeighbourGraph",
    "Reveal",
    "RoundContext",
    "address_of_private_key",
    "correction",
    "decode_reveals",
    "default_degree",
    "encode_reveals",
    "expand",
    "make_reveal",
    "neighbour_graph",
    "pair_seed",
    "participant_mask",
    "reveals_hash",
    "seed_from_point",
    "shared_point",
    "verify_reveal",
]
