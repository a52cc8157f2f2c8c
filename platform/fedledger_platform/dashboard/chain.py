"""Following a federation's chain for the dashboard: the event history read incrementally (only
the blocks mined since the last read), each touched round's record at the head block, the gas
of every transaction once, and the federation's facts when an event may have changed them.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.audit import EVENTS, ZERO_ADDRESS, History
from fedledger_platform.ledger import Ledger, LedgerEvent, RoundInfo

__all__ = ["ChainFacts", "ChainFollower"]

#: Events after which the facts (participants, dealer, parameters, reward) are read again.
_FACT_EVENTS = frozenset(
    {
        "ParticipantAdmitted",
        "ParticipantRemoved",
        "KeyDealerAppointed",
        "EncryptionParamsCommitted",
        "RewardPerUpdateChanged",
    }
)


@dataclass(frozen=True)
class ChainFacts:
    """The federation-wide state the dashboard shows, at one block."""

    participants: tuple[str, ...]
    key_dealer: str | None
    parameters_hash: str | None
    reward_per_update: int
    quorum_bps: int


class ChainFollower:
    """Reads a ledger's history from ``from_block`` on, a page of ``page_size`` blocks at a
    time, and keeps what it read: call :meth:`advance` to catch up with the chain."""

    def __init__(self, ledger: Ledger, *, from_block: int, page_size: int = 2_000) -> None:
        self.ledger = ledger
        self.from_block = from_block
        self.page_size = page_size
        self.history = History()
        self.block = from_block - 1  # the last block read
        self.infos: dict[int, RoundInfo] = {}
        self.gas: dict[str, int] = {}  # gas used by transaction hash
        self.facts: ChainFacts | None = None

    def advance(self) -> bool:
        """Read the blocks mined since the last call; ``True`` when any event was new."""
        head = int(self.ledger.w3.eth.block_number)
        if head <= self.block:
            return False
        events = list(
            self.ledger.events(from_block=self.block + 1, to_block=head, page_size=self.page_size)
        )
        touched: set[int] = set()
        for event in events:
            if event.name in EVENTS:
                self.history.record(event, token=self.ledger.token.address)
                if "round" in event.args:
                    touched.add(int(event.args["round"]))
        for number in touched:
            self.infos[number] = self.ledger.get_round(number, block=head)
        for tx_hash in {e.tx_hash for e in events if _costs_gas_of_a_round(e)} - set(self.gas):
            receipt = self.ledger.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            self.gas[tx_hash] = int(receipt["gasUsed"])
        if self.facts is None or any(e.name in _FACT_EVENTS for e in events):
            self.facts = self._read_facts(head)
        self.block = head
        return bool(events)

    def _read_facts(self, block: int) -> ChainFacts:
        ledger = self.ledger
        dealer = ledger.key_dealer()
        params = ledger.encryption_params_hash(block=block)
        return ChainFacts(
            participants=tuple(Web3.to_checksum_address(a) for a in ledger.participants()),
            key_dealer=None if int(dealer, 16) == 0 else dealer,
            parameters_hash=fc.hash_hex(params) if any(params) else None,
            reward_per_update=ledger.reward_per_update(),
            quorum_bps=ledger.quorum_bps(block=block),
        )

    def balances(self) -> dict[str, int]:
        """Every token holder's balance, from the token's ``Transfer`` log."""
        return balances_of(self.history)


def _costs_gas_of_a_round(event: LedgerEvent) -> bool:
    return event.name in EVENTS and "round" in event.args


def balances_of(history: History) -> dict[str, int]:
    """Balances from ``Transfer`` events: what each address received minus what it sent (the
    zero address, where mints come from, is left out)."""
    found: dict[str, int] = {}
    for transfer in history.transfers:
        value = int(transfer.args["value"])
        sender = Web3.to_checksum_address(transfer.args["from"])
        receiver = Web3.to_checksum_address(transfer.args["to"])
        found[sender] = found.get(sender, 0) - value
        found[receiver] = found.get(receiver, 0) + value
    found.pop(ZERO_ADDRESS, None)
    return found
