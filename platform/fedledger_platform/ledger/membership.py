"""A round's members and their mask neighbour graph, as the chain fixes them.

Under the federation's masking rule (``masking()``), a round's *members* are the participants
admitted at the block the round opened in (``RoundInfo.opened_block``: ``participants()`` read
at that block); the neighbour graph is drawn over them from that block's hash
(:func:`fedledger_crypto.masking.neighbour_graph`, with the rule's ``completeUpTo`` and
``degree``); their public keys are those of their ``ParticipantAdmitted`` events. Participants,
the aggregator and auditors all read it here, so they agree on who masks with whom, who may
submit, and which reveals a dropout needs. Answers are cached: none of them can change once the
round has opened (a public key is fixed by its address, which is its keccak256).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from web3 import Web3

from fedledger_crypto import masking as mk
from fedledger_crypto.errors import MaskingError
from fedledger_crypto.masking.seeds import address_of_public_key
from fedledger_platform.errors import LedgerError
from fedledger_platform.ledger.binding import Ledger
from fedledger_platform.ledger.results import MaskingConfig, RoundInfo
from fedledger_platform.protocol import RoundPhase

__all__ = ["Membership", "RoundMembers"]


@dataclass(frozen=True)
class RoundMembers:
    """Who takes part in one round and, under masking, who masks with whom."""

    number: int
    opened_block: int
    rule: MaskingConfig
    members: tuple[str, ...]  # checksummed, ascending
    graph: mk.NeighbourGraph | None  # None: the federation does not mask
    public_keys: Mapping[str, bytes]  # the members' 64-byte keys, by lowercase address
    context: mk.RoundContext

    @property
    def masking(self) -> bool:
        """Whether this round's updates are masked."""
        return self.graph is not None

    def is_member(self, address: str) -> bool:
        """Whether ``address`` was admitted when the round opened."""
        return Web3.to_checksum_address(address) in self.members

    def neighbours(self, address: str) -> tuple[str, ...]:
        """The mask neighbours of member ``address`` (checksummed, ascending)."""
        if self.graph is None:
            return ()
        return tuple(Web3.to_checksum_address(a) for a in self.graph.of(address))

    def dropped(self, included: Iterable[str]) -> list[str]:
        """The members whose updates are not among ``included`` (ascending)."""
        kept = {a.lower() for a in included}
        return [m for m in self.members if m.lower() not in kept]

    def required_reveals(self, dropped: Iterable[str]) -> set[tuple[str, str]]:
        """``(revealer, dropped)`` pairs (lowercase) a correction for ``dropped`` needs: each
        surviving neighbour of each dropped member."""
        if self.graph is None:
            return set()
        gone = {d.lower() for d in dropped}
        return {(j, d) for d in gone for j in self.graph.of(d) if j not in gone}

    def mask(self, private_key: bytes, address: str) -> mk.Mask:
        """The mask of member ``address`` (holding ``private_key``) in this round."""
        if self.graph is None:
            raise MaskingError(f"round {self.number} is not masked")
        return mk.participant_mask(private_key, address, self.graph, self.public_keys, self.context)

    def correction(self, reveals: Sequence[mk.Reveal], dropped: Iterable[str]) -> mk.Mask:
        """The correction for ``dropped`` from ``reveals``, each verified against the two
        on-chain keys (:func:`fedledger_crypto.masking.correction`; ``RevealError`` names the
        round and the pair of a bad, unexpected, repeated or missing reveal)."""
        if self.graph is None:
            raise MaskingError(f"round {self.number} is not masked")
        gone = {d.lower() for d in dropped}
        survivors = [m for m in self.members if m.lower() not in gone]
        return mk.correction(
            reveals,
            self.graph,
            survivors,
            gone,
            public_keys=self.public_keys,
            context=self.context,
        )


class Membership:
    """Reads :class:`RoundMembers` from one ledger and keeps them (thread-safe)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._rounds: dict[int, RoundMembers] = {}
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def of(self, number: int, info: RoundInfo | None = None) -> RoundMembers:
        """Round ``number``'s members (``info``: the round as just read, when at hand).

        Raises :class:`LedgerError` for a round the chain never opened.
        """
        kept = self._rounds.get(number)
        if kept is not None:
            return kept
        info = info or self.ledger.get_round(number)
        if info.status is RoundPhase.NONE or not info.opened_block:
            raise LedgerError(f"round {number} has not been opened on chain")
        block = info.opened_block
        rule = self.ledger.masking(block=block)
        # Ascending as numbers: the ledger's order for address lists.
        admitted = self.ledger.participants(block=block)
        members = tuple(sorted(admitted, key=lambda a: int(a, 16)))
        ledger = self.ledger
        context = mk.RoundContext(ledger.chain.chain_id, ledger.address, number)
        graph = None
        keys: dict[str, bytes] = {}
        if rule.enabled:
            graph = mk.neighbour_graph(
                members,
                ledger.block_hash(block),
                complete_up_to=rule.complete_up_to,
                degree=rule.degree or None,
            )
            keys = self._public_keys(members, block)
        found = RoundMembers(number, block, rule, members, graph, keys, context)
        with self._lock:
            self._rounds[number] = found
        return found

    def _public_keys(self, members: Sequence[str], block: int) -> dict[str, bytes]:
        """The members' keys from their ``ParticipantAdmitted`` events: one log query per
        admission block (a batch admission puts many in one block)."""
        missing = [m for m in members if m.lower() not in self._keys]
        blocks = {self.ledger.admission_block(m, block=block) for m in missing}
        for admitted_in in sorted(blocks - {0}):
            for event in self.ledger.log.find(
                "ParticipantAdmitted", [], from_block=admitted_in, to_block=admitted_in
            ):
                key = bytes(event.args["publicKey"])
                address = str(event.args["participant"]).lower()
                if address_of_public_key(key) == address:
                    with self._lock:
                        self._keys[address] = key
        absent = [m for m in members if m.lower() not in self._keys]
        if absent:
            raise LedgerError(
                f"no ParticipantAdmitted event with a public key for {', '.join(absent)}: the "
                "node does not serve those blocks' logs"
            )
        return {m.lower(): self._keys[m.lower()] for m in members}
