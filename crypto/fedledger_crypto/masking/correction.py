"""Corrections: the mask terms dropped participants left in the survivors' sum, removed.

The sum of the survivors' masked updates holds, besides their true sum, every term a survivor
``j`` shares with a dropped neighbour ``d``: ``σ_jd·PRG(s_jd)`` with ``σ_jd = +1`` when
``d > j`` and ``−1`` otherwise (terms between two survivors cancel; terms of a dropped
participant never entered the sum). The correction is the mask of those terms with opposite
signs, built from verified reveals only: one reveal by each surviving neighbour for each dropped
participant, none for a pair the graph does not link, none by a dropped participant.
Adding it to the first component of the aggregate, chunk by chunk
(:func:`fedledger_crypto.apply_correction`), leaves exactly the survivors' sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fedledger_crypto.errors import RevealError
from fedledger_crypto.masking.graph import NeighbourGraph
from fedledger_crypto.masking.masks import Mask, MaskTerm
from fedledger_crypto.masking.reveals import Reveal, verify_reveal
from fedledger_crypto.masking.seeds import RoundContext, address_bytes, canonical_address

__all__ = ["correction"]


def correction(
    reveals: Iterable[Reveal],
    graph: NeighbourGraph,
    survivors: Iterable[str],
    dropped: Iterable[str],
    *,
    public_keys: Mapping[str, bytes],
    context: RoundContext,
) -> Mask:
    """The correction for ``dropped`` participants, from ``reveals`` checked one by one.

    ``survivors`` and ``dropped`` partition the members whose masks may be in play (members of
    ``graph``); ``public_keys`` are the registered keys. Raises :class:`RevealError` naming the
    round and the pair for a reveal that does not verify, one outside the survivor–dropped
    edges of the graph, a repeated one, or a missing one.
    """
    alive = {canonical_address(a) for a in survivors}
    gone = {canonical_address(a) for a in dropped}
    keys = {canonical_address(a): k for a, k in public_keys.items()}
    members = set(graph.members)
    where = f"round {context.round}"
    if alive & gone:
        raise RevealError(f"{where}: {sorted(alive & gone)} are listed as survivor and dropped")
    if not (alive | gone) <= members:
        raise RevealError(f"{where}: {sorted((alive | gone) - members)} are not round members")
    needed = {(j, d) for d in gone for j in graph.of(d) if j in alive}
    seen: dict[tuple[str, str], MaskTerm] = {}
    for reveal in reveals:
        pair = (reveal.revealer, reveal.dropped)
        label = f"{where}: reveal by {reveal.revealer} for {reveal.dropped}"
        if pair not in needed:
            raise RevealError(f"{label} is not for a surviving neighbour of a dropped participant")
        if pair in seen:
            raise RevealError(f"{label} is given twice")
        for party in pair:
            if party not in keys:
                raise RevealError(f"{label}: no registered public key for {party}")
        seed = verify_reveal(
            reveal,
            revealer_public_key=keys[reveal.revealer],
            dropped_public_key=keys[reveal.dropped],
            context=context,
        )
        # j added +PRG(s_jd) when d > j: the correction subtracts it, and vice versa.
        added = 1 if address_bytes(reveal.dropped) > address_bytes(reveal.revealer) else -1
        seen[pair] = MaskTerm(seed, -added, reveal.dropped)
    missing = sorted(needed - set(seen))
    if missing:
        listed = ", ".join(f"{j} for {d}" for j, d in missing)
        raise RevealError(f"{where}: missing reveals ({listed})")
    return Mask(tuple(seen[pair] for pair in sorted(seen)))
