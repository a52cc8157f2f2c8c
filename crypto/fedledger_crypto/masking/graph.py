"""The round's neighbour graph: who masks with whom.

Members are the round's participants, sorted by address. Up to ``complete_up_to`` members
(default 32) every pair is linked. Above it, SecAgg+'s random Harary graph: the members are put
on a ring in the order of a uniformly random permutation drawn from public randomness (32 bytes
fixed on chain when the round opens, e.g. the opening block's hash), and each is linked to its
``k/2`` nearest members on either side of the ring. ``k`` defaults to ``2·⌈log2 n⌉`` (already
even) and may be configured to any even value ``≥ 2``; when ``k ≥ n − 1`` the graph is complete.

Properties (each tested): symmetric (``j ∈ N(i) ⇔ i ∈ N(j)``), no self-loops, ``k``-regular
(the ``k`` ring offsets ``±1 … ±k/2`` are distinct modulo ``n`` because ``k < n``), connected
(the ring), and a pure function of (members, randomness, settings): anyone recomputes it.

The permutation is Fisher–Yates driven by SHA-256 in counter mode over the randomness, each
index drawn by rejection sampling (no modulo bias).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fedledger_crypto.errors import MaskingError
from fedledger_crypto.masking.seeds import canonical_address

__all__ = ["DEFAULT_COMPLETE_UP_TO", "NeighbourGraph", "default_degree", "neighbour_graph"]

DEFAULT_COMPLETE_UP_TO = 32
_PERMUTATION_LABEL = b"fedledger-neighbour-graph-v1"


def default_degree(members: int) -> int:
    """SecAgg+'s default degree ``2·⌈log2 n⌉`` for ``n`` members."""
    return 2 * math.ceil(math.log2(members)) if members > 1 else 0


@dataclass(frozen=True)
class NeighbourGraph:
    """An undirected graph over the round's members (lowercase addresses, sorted)."""

    members: tuple[str, ...]
    neighbours: dict[str, tuple[str, ...]]
    complete: bool

    def of(self, member: str) -> tuple[str, ...]:
        """The neighbours of ``member``, sorted by address."""
        key = canonical_address(member)
        if key not in self.neighbours:
            raise MaskingError(f"{key} is not a member of this round's neighbour graph")
        return self.neighbours[key]

    def linked(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are neighbours."""
        return canonical_address(b) in self.of(a)

    def edges(self) -> Iterator[tuple[str, str]]:
        """Every edge once, as ``(lower address, higher address)``."""
        for member in self.members:
            for peer in self.neighbours[member]:
                if member < peer:
                    yield member, peer


class _WordStream:
    """64-bit words from SHA-256(label ‖ randomness ‖ counter)."""

    def __init__(self, randomness: bytes) -> None:
        self._randomness = randomness
        self._counter = 0
        self._buffer: list[int] = []

    def word(self) -> int:
        if not self._buffer:
            block = hashlib.sha256(
                _PERMUTATION_LABEL + self._randomness + self._counter.to_bytes(8, "big")
            ).digest()
            self._counter += 1
            self._buffer = [int.from_bytes(block[i : i + 8], "big") for i in range(24, -1, -8)]
        return self._buffer.pop()

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` by rejection sampling."""
        limit = (2**64 // bound) * bound
        while True:
            w = self.word()
            if w < limit:
                return w % bound


def _permutation(count: int, randomness: bytes) -> list[int]:
    order = list(range(count))
    stream = _WordStream(randomness)
    for i in range(count - 1, 0, -1):
        j = stream.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def neighbour_graph(
    members: Iterable[str],
    randomness: bytes,
    *,
    complete_up_to: int = DEFAULT_COMPLETE_UP_TO,
    degree: int | None = None,
) -> NeighbourGraph:
    """The neighbour graph of ``members`` for a round whose public randomness is ``randomness``.

    ``degree`` overrides ``2·⌈log2 n⌉`` for graphs above ``complete_up_to`` members; it must be
    even (each member takes ``degree / 2`` ring neighbours on either side).
    """
    listed = [canonical_address(m) for m in members]
    ordered = tuple(sorted(set(listed)))
    if len(ordered) != len(listed):
        raise MaskingError("the round's members list an address more than once")
    if len(randomness) != 32:
        raise MaskingError(f"the graph's public randomness is 32 bytes, got {len(randomness)}")
    if complete_up_to < 1:
        raise MaskingError(f"complete_up_to must be at least 1, got {complete_up_to}")
    n = len(ordered)
    k = default_degree(n) if degree is None else degree
    if degree is not None and (k < 2 or k % 2):
        raise MaskingError(f"the neighbour degree must be even and at least 2, got {k}")
    if n <= complete_up_to or k >= n - 1:
        return NeighbourGraph(
            ordered, {m: tuple(p for p in ordered if p != m) for m in ordered}, complete=True
        )
    ring = [ordered[i] for i in _permutation(n, randomness)]
    linked: dict[str, set[str]] = {m: set() for m in ordered}
    for position, member in enumerate(ring):
        for offset in range(1, k // 2 + 1):
            peer = ring[(position + offset) % n]
            linked[member].add(peer)
            linked[peer].add(member)
    return NeighbourGraph(
        ordered, {m: tuple(sorted(peers)) for m, peers in linked.items()}, complete=False
    )
