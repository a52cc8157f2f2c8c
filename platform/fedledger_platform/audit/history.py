"""The chain history an audit judges: the ledger's and the token's events, read once (paginated
``eth_getLogs`` from the deployment block up to the pinned block) and grouped by round."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from web3 import Web3

from fedledger_platform.audit.results import by_address
from fedledger_platform.ledger import Ledger, LedgerEvent

__all__ = ["EVENTS", "ZERO_ADDRESS", "History", "RoundEvents", "read_history"]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

#: The events an audit reads, ledger and token together.
EVENTS = (
    "EncryptionParamsCommitted",
    "RoundOpened",
    "UpdateCommitted",
    "RoundClosed",
    "RoundFailed",
    "ModelAttested",
    "ModelPublished",
    "Transfer",
)


@dataclass
class RoundEvents:
    """One round's events; ``commits`` holds each participant's commitment of this round (the
    contract keeps only the latest, the log keeps them all)."""

    opened: LedgerEvent | None = None
    commits: dict[str, LedgerEvent] = field(default_factory=dict)
    closed: LedgerEvent | None = None
    failed: LedgerEvent | None = None
    attestations: list[LedgerEvent] = field(default_factory=list)
    published: LedgerEvent | None = None

    @property
    def committed(self) -> tuple[str, ...]:
        """The participants that committed an update, in address order."""
        return tuple(by_address(self.commits))

    @property
    def failure_reason(self) -> str | None:
        """The reason ``RoundFailed`` gives, if the round failed."""
        return str(self.failed.args["reason"]) if self.failed is not None else None

    @property
    def transactions(self) -> dict[str, str]:
        """The round's lifecycle transactions by name (``open``, ``close``, ``publish``,
        ``fail``), those that happened."""
        return {
            name: event.tx_hash
            for name, event in (
                ("open", self.opened),
                ("close", self.closed),
                ("publish", self.published),
                ("fail", self.failed),
            )
            if event is not None
        }

    def left_out(self, included: Sequence[str]) -> list[str]:
        """Participants that committed but are not in ``included``, in address order."""
        return by_address(set(self.commits) - set(included))

    def leading_attestations(self) -> int:
        """How many attestations the most attested model hash has."""
        counts: dict[bytes, int] = {}
        for attestation in self.attestations:
            digest = bytes(attestation.args["modelHash"])
            counts[digest] = counts.get(digest, 0) + 1
        return max(counts.values(), default=0)


@dataclass
class History:
    """The federation's events up to the pinned block."""

    rounds: dict[int, RoundEvents] = field(default_factory=dict)
    params_committed: list[LedgerEvent] = field(default_factory=list)
    transfers: list[LedgerEvent] = field(default_factory=list)

    def round(self, number: int) -> RoundEvents:
        """Round ``number``'s events (empty when the log has none)."""
        return self.rounds.get(number) or RoundEvents()

    @property
    def mints(self) -> list[LedgerEvent]:
        """The token transfers from the zero address."""
        return [t for t in self.transfers if t.args["from"] == ZERO_ADDRESS]

    @property
    def closes(self) -> dict[str, LedgerEvent]:
        """Every ``RoundClosed`` event by its transaction hash."""
        return {r.closed.tx_hash: r.closed for r in self.rounds.values() if r.closed}

    @property
    def params_commit_tx(self) -> str | None:
        """The transaction of the latest ``EncryptionParamsCommitted``."""
        return self.params_committed[-1].tx_hash if self.params_committed else None

    def record(self, event: LedgerEvent, *, token: str) -> None:
        """File one event of the ledger or of its token (at address ``token``), in chain order."""
        if event.name == "Transfer":
            if event.address == token:
                self.transfers.append(event)
            return
        if event.name == "EncryptionParamsCommitted":
            self.params_committed.append(event)
            return
        r = self.rounds.setdefault(int(event.args["round"]), RoundEvents())
        if event.name == "RoundOpened":
            r.opened = event
        elif event.name == "UpdateCommitted":
            r.commits[Web3.to_checksum_address(event.args["participant"])] = event
        elif event.name == "RoundClosed":
            r.closed = event
        elif event.name == "RoundFailed":
            r.failed = event
        elif event.name == "ModelAttested":
            r.attestations.append(event)
        elif event.name == "ModelPublished":
            r.published = event

    def extend(self, ledger: Ledger, from_block: int, to_block: int, page_size: int) -> None:
        """Add the events of ``ledger`` and its token from ``from_block`` to ``to_block`` (the
        blocks after those already read: a reader that follows the chain calls this again)."""
        for event in ledger.events(
            from_block=from_block, to_block=to_block, names=EVENTS, page_size=page_size
        ):
            self.record(event, token=ledger.token.address)

    def lineage(self, number: int) -> bytes | None:
        """The base model round ``number`` should continue from: the latest model published
        before it, else the first round's base model (``None`` when the log has neither)."""
        for earlier in range(number - 1, 0, -1):
            published = self.round(earlier).published
            if published is not None:
                return bytes(published.args["modelHash"])
        first = self.round(1).opened
        return bytes(first.args["baseModelHash"]) if first is not None else None


def read_history(ledger: Ledger, from_block: int, to_block: int, page_size: int) -> History:
    """Read the events of ``ledger`` and its token from ``from_block`` to ``to_block``,
    ``page_size`` blocks per request."""
    history = History()
    history.extend(ledger, from_block, to_block, page_size)
    return history
