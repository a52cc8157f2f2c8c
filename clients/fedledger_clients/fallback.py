"""The censorship fallback: what a participant does when a signed message it handed to the
aggregator for relaying is not on chain in time.

The rule (:func:`fedledger_platform.protocol.fallback_due`): ``timeout_s`` after the hand-over
the participant looks at the chain; if its commitment (attestation) is not there, it commits
(attests) directly from its own account when the account holds the ether for it, and
otherwise keeps waiting, saying so once per message. The ledger counts either path once;
rounds and the audit treat both the same. A round that moved on (closed, failed, or past its
commit deadline) ends the watch: there is nothing left to send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Protocol

import fedledger_crypto as fc
from fedledger_clients.participant import Participant, ProtocolError
from fedledger_platform.protocol import RoundPhase, fallback_due

__all__ = ["Fallback", "Watched"]

log = logging.getLogger("fedledger.client")


class Watched(Protocol):
    """A round's record of what the participant handed over for relaying (the daemon's
    ``RoundLog``): a ``*_pending_since`` time is set at the hand-over, ``None`` once the
    watch is over."""

    round: int
    update_hash: str | None
    model_hash: str | None
    commit_pending_since: float | None
    attest_pending_since: float | None


class Fallback:
    """Watches one participant's relayed messages (``timeout_s``: the fallback's delay)."""

    def __init__(self, participant: Participant, *, timeout_s: float) -> None:
        self.participant = participant
        self.ledger = participant.ledger
        self.timeout_s = timeout_s
        self._told: set[tuple[str, int]] = set()  # messages whose lack of ether was logged

    def watch(self, rounds: Iterable[Watched]) -> bool:
        """Look at every message still watched; returns whether any watch ended (the caller
        saves its records)."""
        ended = False
        for entry in rounds:
            if self._commitment_settled(entry):
                entry.commit_pending_since, ended = None, True
            if self._attestation_settled(entry):
                entry.attest_pending_since, ended = None, True
        return ended

    def _commitment_settled(self, entry: Watched) -> bool:
        since, digest = entry.commit_pending_since, entry.update_hash
        if since is None or digest is None:
            return False
        return self.commitment(entry.round, fc.hash_from_hex(digest), since)

    def _attestation_settled(self, entry: Watched) -> bool:
        since, digest = entry.attest_pending_since, entry.model_hash
        if since is None or digest is None:
            return False
        return self.attestation(entry.round, fc.hash_from_hex(digest), since)

    def next_look_in(self, rounds: Iterable[Watched]) -> float | None:
        """Seconds until a watched message is due for a look (``None``: nothing watched). An
        attestation is looked at every second: the daemon ends once its own is on chain."""
        now, found = time.time(), []
        for entry in rounds:
            if entry.commit_pending_since is not None:
                found.append(entry.commit_pending_since + self.timeout_s - now)
            if entry.attest_pending_since is not None:
                found.append(min(1.0, entry.attest_pending_since + self.timeout_s - now))
        return max(0.0, min(found)) if found else None

    def commitment(self, round_number: int, digest: bytes, handed_over_at: float) -> bool:
        """Whether the watch over this round's signed commitment to ``digest`` is over: on
        chain, committed directly now, or the round no longer takes commitments."""
        if not fallback_due(handed_over_at, time.time(), self.timeout_s):
            return False
        me = self.participant.address
        info = self.ledger.get_round(round_number)
        if info.status is not RoundPhase.OPEN:
            return True  # closed (the aggregator settled every commitment first) or failed
        on_chain = self.ledger.update_commitment(round_number, me)
        if on_chain == digest:
            return True
        if on_chain != bytes(32):
            raise ProtocolError(
                f"round {round_number}: the chain holds commitment {fc.hash_hex(on_chain)} of "
                f"this account, not the uploaded {fc.hash_hex(digest)}"
            )
        if self.ledger.chain.latest_timestamp() > info.deadline:
            return True  # too late for either path
        if not self._affords(round_number, "commitUpdate", "commitment"):
            return False
        self.participant.commit(round_number, digest, on_chain=on_chain)
        log.warning(
            "%s round %d: the signed commitment was not on chain after %.0f s; committed it "
            "directly",
            me[:10],
            round_number,
            self.timeout_s,
        )
        return True

    def attestation(self, round_number: int, model_hash: bytes, handed_over_at: float) -> bool:
        """Whether the watch over this round's signed attestation of ``model_hash`` is over:
        on chain (looked at every time: cheap, and the daemon ends once it is), attested
        directly now, or the round failed."""
        me = self.participant.address
        if self.ledger.has_attested(round_number, me):
            return True
        if not fallback_due(handed_over_at, time.time(), self.timeout_s):
            return False
        if self.ledger.get_round(round_number).status not in (
            RoundPhase.CLOSED,
            RoundPhase.PUBLISHED,
        ):
            return True  # failed: attestations count no more
        if not self._affords(round_number, "attestModel", "attestation"):
            return False
        self.participant.attest_directly(round_number, model_hash)
        log.warning(
            "%s round %d: the signed attestation was not on chain after %.0f s; attested directly",
            me[:10],
            round_number,
            self.timeout_s,
        )
        return True

    def _affords(self, round_number: int, function: str, what: str) -> bool:
        """Whether this account can send ``function`` itself; says once when it cannot."""
        me = self.participant.address
        if self.ledger.can_afford(me, function):
            return True
        if (what, round_number) not in self._told:
            self._told.add((what, round_number))
            log.warning(
                "%s round %d: the signed %s is not on chain after %.0f s and this account "
                "holds no ether to send it itself; still waiting for the relayer",
                me[:10],
                round_number,
                what,
                self.timeout_s,
            )
        return False
