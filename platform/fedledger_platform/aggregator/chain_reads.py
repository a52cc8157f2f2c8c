"""The chain reads the aggregator makes often, each with the rule that lets it reuse an answer.

Every coordinator tick and every upload would otherwise ask the chain again; these answers
change rarely, and each rule below says why reusing one is safe.
"""

from __future__ import annotations

import time

import fedledger_crypto as fc
from fedledger_platform.ledger import Ledger

__all__ = ["ChainReads"]


class ChainReads:
    """Cached reads of one federation's ledger (thread-safe: each cache is one assignment)."""

    def __init__(self, ledger: Ledger, *, parameters_hash: bytes, params_id: str) -> None:
        self.ledger = ledger
        self._parameters_hash = parameters_hash
        self._params_id = params_id
        self._admitted: dict[str, float] = {}
        self._participants: tuple[float, int] = (0.0, 0)
        self._chain_time: tuple[float, int] = (0.0, 0)
        self._params_committed = False

    def is_admitted(self, address: str) -> bool:
        """Admission on chain; a positive answer is reused for two seconds.

        Reuse is safe for uploads: acceptance also needs the participant's on-chain commitment
        for the round, which only an admitted account could make.
        """
        now = time.monotonic()
        if self._admitted.get(address, 0.0) > now:
            return True
        admitted = self.ledger.is_participant(address)
        if admitted:
            self._admitted[address] = now + 2.0
        return admitted

    def participant_count(self) -> int:
        """Admitted participants (reused for a second: the coordinator reads it every tick)."""
        read_at, count = self._participants
        if time.monotonic() - read_at > 1.0:
            count = len(self.ledger.participants())
            self._participants = (time.monotonic(), count)
        return count

    def deadline_passed(self, deadline: int) -> bool:
        """Whether ``deadline`` passed by the wall clock or by the chain's clock.

        The chain's clock (which a devnet can move forward, and which runs ahead of the wall
        clock when blocks come faster than one a second) is read at most once a second.
        """
        if time.time() > deadline:
            return True
        read_at, chain_time = self._chain_time
        if time.monotonic() - read_at > 1.0:
            chain_time = self.ledger.chain.latest_timestamp()
            self._chain_time = (time.monotonic(), chain_time)
        return chain_time > deadline

    def open_time(self) -> int:
        """The later of wall-clock time and the chain's latest block time (read now: a round's
        deadline is counted from it)."""
        return max(int(time.time()), self.ledger.chain.latest_timestamp())

    def params_problem(self) -> str | None:
        """Why rounds cannot open yet for the CKKS parameters; ``None`` once the key dealer
        committed the federation's parameters (committed once, so never asked again)."""
        if self._params_committed:
            return None
        committed = self.ledger.encryption_params_hash()
        if committed == bytes(32):
            return "waiting for the key dealer to commit the CKKS parameters"
        if committed != self._parameters_hash:
            return (
                f"on-chain parameters hash {fc.hash_hex(committed)} does not match "
                f"{self._params_id}"
            )
        self._params_committed = True
        return None
