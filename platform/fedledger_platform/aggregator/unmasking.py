"""The aggregator's side of pairwise masking: who may submit, the dropouts, their reveals, and
the correction a round closes with.

Under the federation's masking rule only the round's members (admitted when it opened,
:class:`~fedledger_platform.ledger.RoundMembers`) may submit. When a round must close with
members missing, the coordinator moves it to ``unmasking`` and records them as dropped
(:meth:`Unmasking.record_dropped`); each surviving neighbour then posts signed reveals of the
points it shares with them (:meth:`Unmasking.accept`), checked here against both on-chain keys.
Once every required reveal is in, the round closes with the aggregate corrected by them
(:meth:`Unmasking.closing`) and ``closeRound(included, dropped, reveals_hash)``. A dropped
member's late upload is refused as soon as one of its seeds is revealed: the reveals are public,
and with all of its neighbours' seeds anyone holding the key could remove its mask. Knows
nothing of HTTP: refusals are typed :class:`~fedledger_platform.protocol.rejections.Rejection`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

import fedledger_crypto as fc
from fedledger_crypto import masking as mk
from fedledger_platform.aggregator.nonces import Sender, spending, use_up
from fedledger_platform.ledger import Membership, RoundMembers
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.protocol.rejections import (
    BadReveal,
    DuplicateUpdate,
    NotAllowed,
    NotFound,
    NotMember,
    RoundNotUnmasking,
    SeedsRevealed,
)
from fedledger_platform.storage import Database, DroppedRecord, RevealRecord, queries

__all__ = ["Closing", "RevealList", "Unmasking", "reveal_of"]

log = logging.getLogger("fedledger.aggregator")


def reveal_of(record: RevealRecord) -> mk.Reveal:
    """The stored reveal as the cryptography handles it."""
    return mk.Reveal(
        record.revealer, record.dropped, record.point, record.challenge, record.response
    )


@dataclass(frozen=True)
class Closing:
    """What a round closes with besides its sum: the dropped members (ascending), the
    correction removing their neighbours' masks (``None``: nothing to remove) and the
    ``correctionsHash`` (zero without dropouts)."""

    dropped: tuple[str, ...]
    correction: mk.Mask | None
    corrections_hash: bytes


@dataclass(frozen=True)
class RevealList:
    """A round's dropped members and the reveals stored for them."""

    round_number: int
    phase: RoundPhase
    dropped: list[str]
    reveals: list[RevealRecord]
    reveals_hash: bytes | None  # keccak256 of their canonical encoding (None: no dropouts)


class Unmasking:
    """Masking at one aggregator; ``wake`` runs the coordinator now (reveals may be complete)."""

    def __init__(self, db: Database, membership: Membership, wake: Callable[[], None]) -> None:
        self.db = db
        self.membership = membership
        self._wake = wake

    def members(self, number: int) -> RoundMembers:
        """Round ``number``'s members and mask graph, from the chain (kept once read)."""
        return self.membership.of(number)

    # ------------------------------------------------------------------ uploads

    def check_member(self, number: int, participant: str) -> None:
        """Refuse an upload to a masked round by a participant admitted after it opened."""
        members = self.members(number)
        if members.masking and not members.is_member(participant):
            raise NotMember(
                f"{participant} was admitted after round {number} opened (block "
                f"{members.opened_block}): it has no mask neighbours in this round; submit from "
                "the next round on"
            )

    def check_not_revealed(self, number: int, participant: str) -> None:
        """Refuse a dropped member's upload once any of its seeds was revealed."""
        with self.db.session() as s:
            revealed = queries.reveals(s, number, dropped=participant)
        if revealed:
            raise SeedsRevealed(
                f"{participant} was dropped from round {number} and {len(revealed)} of its mask "
                "seeds are revealed: its update would no longer be hidden, so it is never "
                "accepted; take part in the next round"
            )

    # ------------------------------------------------------------------ the unmasking phase

    def record_dropped(self, session: Session, number: int) -> list[str]:
        """Record (in ``session``) the members whose updates the round has not accepted."""
        accepted = queries.participants_by_round(session, number).get(number, [])
        dropped = self.members(number).dropped(accepted)
        for participant in dropped:
            session.merge(DroppedRecord(round_number=number, participant=participant))
        return dropped

    def missing(self, number: int) -> int:
        """How many required reveals round ``number`` still lacks."""
        with self.db.session() as s:
            dropped = queries.dropped_by_round(s, number).get(number, [])
            stored = queries.reveals(s, number)
        needed = self.members(number).required_reveals(dropped)
        return len(needed - {(r.revealer.lower(), r.dropped.lower()) for r in stored})

    def accept(
        self, sender: Sender, number: int, reveals: Sequence[mk.Reveal]
    ) -> tuple[list[RevealRecord], bool]:
        """Check and store ``sender``'s reveals for round ``number`` (all or none); returns them
        as stored and whether any is new. An identical repeat is answered as stored."""
        revealer = sender.address
        members = self.members(number)
        with self.db.session() as s:
            record = queries.round_record(s, number)
            if record is None:
                raise NotFound(f"round {number} does not exist")
            dropped = set(queries.dropped_by_round(s, number).get(number, []))
            accepted = set(queries.participants_by_round(s, number).get(number, []))
            stored = {r.dropped: r for r in queries.reveals(s, number) if r.revealer == revealer}
        new = [r for r in reveals if not self._stored(stored, r)]
        if new and record.phase != RoundPhase.UNMASKING:
            raise RoundNotUnmasking(
                f"round {number} is {record.phase}: reveals are taken only while it is unmasking"
            )
        if new and revealer not in accepted:
            raise NotAllowed(
                f"{revealer} has no accepted update in round {number}: only surviving members "
                "reveal"
            )
        for reveal in new:
            self._check(reveal, revealer, members, dropped, stored)
        if new:
            now = int(time.time())
            try:
                with spending(self.db, sender) as s:
                    for reveal in new:
                        s.add(_record(number, reveal, now))
            except IntegrityError as exc:  # the same pair stored by a concurrent request
                raise DuplicateUpdate(
                    f"{revealer} revealed these in round {number} already"
                ) from exc
            log.info("round %d: %d reveals from %s", number, len(new), revealer)
            self._wake()
        else:
            use_up(self.db, sender)  # answered from what is stored: still only once
        with self.db.session() as s:
            mine = [r for r in queries.reveals(s, number) if r.revealer == revealer]
        return mine, bool(new)

    @staticmethod
    def _stored(stored: dict[str, RevealRecord], reveal: mk.Reveal) -> bool:
        """Whether ``reveal`` is already stored; :class:`DuplicateUpdate` for a different one
        of the same pair."""
        kept = stored.get(Web3.to_checksum_address(reveal.dropped))
        if kept is None:
            return False
        if reveal_of(kept) != reveal:
            raise DuplicateUpdate(
                f"{kept.revealer} already revealed a different point for {kept.dropped}"
            )
        return True

    @staticmethod
    def _check(
        reveal: mk.Reveal,
        revealer: str,
        members: RoundMembers,
        dropped: set[str],
        stored: dict[str, RevealRecord],
    ) -> None:
        peer = Web3.to_checksum_address(reveal.dropped)
        where = f"round {members.number}: reveal for {peer}"
        if reveal.revealer != revealer.lower():
            raise BadReveal(f"{where} names revealer {reveal.revealer}, not the signer")
        if peer not in dropped:
            raise BadReveal(f"{where}: {peer} is not dropped from this round")
        if peer not in members.neighbours(revealer):
            raise BadReveal(f"{where}: {peer} is not a mask neighbour of {revealer}")
        try:
            mk.verify_reveal(
                reveal,
                revealer_public_key=members.public_keys[reveal.revealer],
                dropped_public_key=members.public_keys[reveal.dropped],
                context=members.context,
            )
        except fc.RevealError as exc:
            raise BadReveal(str(exc)) from exc

    def listing(self, number: int) -> RevealList:
        """Round ``number``'s dropped members and stored reveals."""
        with self.db.session() as s:
            record = queries.round_record(s, number)
            if record is None:
                raise NotFound(f"round {number} does not exist")
            dropped = queries.dropped_by_round(s, number).get(number, [])
            stored = queries.reveals(s, number)
        digest = None
        if dropped:
            digest = mk.reveals_hash(map(reveal_of, stored), self.members(number).context)
        return RevealList(number, RoundPhase(record.phase), dropped, stored, digest)

    # ------------------------------------------------------------------ closing

    def closing(self, number: int, included: Sequence[str]) -> Closing:
        """What round ``number`` closes with when ``included`` are summed: its dropped members
        and the correction from their (re-verified) reveals."""
        members = self.members(number)
        if not members.masking:
            return Closing((), None, bytes(32))
        dropped = members.dropped(included)
        if not dropped:
            return Closing((), None, bytes(32))
        with self.db.session() as s:
            reveals = [reveal_of(r) for r in queries.reveals(s, number)]
        correction = members.correction(reveals, dropped)
        digest = mk.reveals_hash(reveals, members.context)
        return Closing(tuple(dropped), correction if correction.terms else None, digest)


def _record(number: int, reveal: mk.Reveal, now: int) -> RevealRecord:
    return RevealRecord(
        round_number=number,
        revealer=Web3.to_checksum_address(reveal.revealer),
        dropped=Web3.to_checksum_address(reveal.dropped),
        point=reveal.point,
        challenge=reveal.challenge,
        response=reveal.response,
        received_at=now,
    )
