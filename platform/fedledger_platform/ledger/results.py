"""What the ledger binding returns: typed records of rounds, events and mined transactions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedledger_platform.protocol import RoundPhase

__all__ = [
    "LedgerEvent",
    "MaskingConfig",
    "RejectedItem",
    "RelayResult",
    "RoundInfo",
    "TxResult",
]


@dataclass(frozen=True)
class RoundInfo:
    """One round as the ledger records it (hashes are 32 raw bytes; zero when unset)."""

    number: int
    status: RoundPhase
    deadline: int
    min_updates: int
    included_count: int
    quorum: int
    base_model_hash: bytes
    aggregate_hash: bytes
    published_model_hash: bytes
    opened_block: int = 0  # the block the round opened in (0: never opened)


@dataclass(frozen=True)
class LedgerEvent:
    """A decoded contract event with where it happened.

    A relayed batch's one event stands for the single events of its items: the binding
    presents an ``UpdatesCommitted`` as one ``UpdateCommitted`` per item and a
    ``ModelsAttested`` as one ``ModelAttested`` per item, with the arguments the direct path's
    event carries; ``item`` is then the item's position in the batch event (``None``: the
    event is a log of its own).
    """

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int
    address: str
    item: int | None = None


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction: hash, block, gas used and the events it emitted."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[LedgerEvent, ...]

    def event(self, name: str) -> LedgerEvent:
        """The first event called ``name`` (``LookupError`` when absent)."""
        for event in self.events:
            if event.name == name:
                return event
        raise LookupError(f"transaction {self.tx_hash} emitted no {name} event")

    def all(self, name: str) -> list[LedgerEvent]:
        """Every event called ``name``, in order."""
        return [event for event in self.events if event.name == name]


@dataclass(frozen=True)
class RejectedItem:
    """An item of a relayed batch that the ledger refused and skipped, changing nothing."""

    index: int  # its position in the batch
    signer: str
    reason: str  # the custom error it broke, e.g. "LedgerNotParticipant"


@dataclass(frozen=True)
class RelayResult:
    """A mined relayed batch: its transaction, and the items it refused (the others stand)."""

    tx: TxResult
    rejected: tuple[RejectedItem, ...]


@dataclass(frozen=True)
class MaskingConfig:
    """The federation's pairwise-masking rule, as recorded on chain before the first round."""

    enabled: bool
    complete_up_to: int  # rounds of at most this many participants mask between all pairs
    degree: int  # above that, the neighbour graph's degree; 0: 2 * ceil(log2 n)
