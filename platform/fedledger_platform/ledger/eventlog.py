"""Reading the ledger's and its token's event log: decoding, topic queries and pages.

Everything the ledger records but does not store — update hashes, participants' public keys,
the history of rounds — is in this log, so reads of it are as typed as the contract's views.

A relayed batch emits one event listing its accepted items (``UpdatesCommitted``,
``ModelsAttested``), where the direct path emits one event per item (``UpdateCommitted``,
``ModelAttested``). Decoding turns a batch event into the single events it stands for
(:func:`expand`), so that every reader — the binding, the audit, the dashboard — treats both
paths alike without knowing of batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from eth_abi.abi import encode as abi_encode
from web3 import Web3

from fedledger_platform.ledger.abi import ErrorDecoder, EventDecoder, Log
from fedledger_platform.ledger.chain import Chain
from fedledger_platform.ledger.results import LedgerEvent
from fedledger_platform.ledger.transactions import translate

__all__ = ["BATCH_EVENTS", "EventLog", "address_topic", "expand", "uint_topic"]

#: Each batch event: the single event each of its items stands for, the batch's list of
#: hashes and the single event's hash argument (both list the participants as
#: ``participants`` / ``participant``).
BATCH_EVENTS: dict[str, tuple[str, str, str]] = {
    "UpdatesCommitted": ("UpdateCommitted", "updateHashes", "updateHash"),
    "ModelsAttested": ("ModelAttested", "modelHashes", "modelHash"),
}


def address_topic(address: str) -> bytes:
    """An indexed ``address`` argument as its log topic."""
    return abi_encode(["address"], [Web3.to_checksum_address(address)])


def uint_topic(value: int) -> bytes:
    """An indexed unsigned integer argument as its log topic."""
    return value.to_bytes(32, "big")


def expand(event: LedgerEvent) -> list[LedgerEvent]:
    """A batch event as the single events of its items, in batch order (each with its
    ``item`` position; see :data:`BATCH_EVENTS`); any other event as itself."""
    batch = BATCH_EVENTS.get(event.name)
    if batch is None:
        return [event]
    single, hashes, hash_name = batch
    participants, digests = event.args["participants"], event.args[hashes]
    return [
        replace(
            event,
            name=single,
            args={"round": event.args["round"], "participant": participant, hash_name: digest},
            item=index,
        )
        for index, (participant, digest) in enumerate(zip(participants, digests, strict=True))
    ]


class EventLog:
    """The events of one ledger and its token, decoded with their ABIs."""

    def __init__(
        self, chain: Chain, ledger: str, token: str, events: EventDecoder, errors: ErrorDecoder
    ) -> None:
        self.chain = chain
        self.w3 = chain.w3
        self.ledger = ledger
        self.token = token
        self._events = events
        self._errors = errors

    def decode(self, log: Log) -> list[LedgerEvent]:
        """The ledger's or the token's event in ``log``, a batch event as the single events
        it stands for (:func:`expand`); empty for anything else."""
        if log.address not in (self.ledger, self.token):
            return []
        decoded = self._events.decode(log)
        if decoded is None:
            return []
        name, args = decoded
        event = LedgerEvent(
            name=name,
            args=args,
            block_number=log.block_number,
            tx_hash="0x" + log.tx_hash.hex(),
            log_index=log.log_index,
            address=log.address,
        )
        return expand(event)

    def find(
        self,
        name: str,
        topics: Sequence[bytes],
        *,
        from_block: int,
        to_block: int | None = None,
        latest_only: bool = False,
    ) -> list[LedgerEvent]:
        """The ledger's ``name`` events whose first indexed arguments are ``topics``
        (:func:`address_topic`, :func:`uint_topic`) — or only the latest — in chain order:
        one query that a node answers from its index (:meth:`Chain.logs`). ``name`` is the
        event as emitted: a batch event's query returns its items (:func:`expand`)."""
        try:
            logs = self.chain.logs(
                self.ledger,
                [self._events.topic(name), *topics],
                from_block=from_block,
                to_block=to_block,
                latest_only=latest_only,
            )
        except Exception as exc:
            raise translate(exc, "eth_getLogs", self._errors) from exc
        wanted = BATCH_EVENTS[name][0] if name in BATCH_EVENTS else name
        return [e for e in self._ordered(logs) if e.name == wanted]

    def pages(
        self,
        *,
        from_block: int = 0,
        to_block: int | None = None,
        names: Sequence[str] | None = None,
        page_size: int = 2_000,
    ) -> Iterator[LedgerEvent]:
        """Every event of the ledger and its token, in chain order, read in pages of
        ``page_size`` blocks, so a long history never asks a node for more than one page.
        ``names`` are matched after expansion: ``UpdateCommitted`` also yields the items of
        ``UpdatesCommitted`` events."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        try:
            last = self.w3.eth.block_number if to_block is None else to_block
        except Exception as exc:
            raise translate(exc, "eth_blockNumber", self._errors) from exc
        wanted = set(names) if names is not None else None
        start = from_block
        while start <= last:
            end = min(start + page_size - 1, last)
            query = {"address": [self.ledger, self.token], "fromBlock": start, "toBlock": end}
            for event in self._decoded(query):
                if wanted is None or event.name in wanted:
                    yield event
            start = end + 1

    def _decoded(self, query: dict[str, Any]) -> list[LedgerEvent]:
        try:
            logs = self.w3.eth.get_logs(query)  # type: ignore[arg-type]
        except Exception as exc:
            raise translate(exc, "eth_getLogs", self._errors) from exc
        return self._ordered(logs)

    def _ordered(self, logs: Iterable[Mapping[str, Any]]) -> list[LedgerEvent]:
        ordered = sorted(map(Log.of, logs), key=lambda x: (x.block_number, x.log_index))
        return [e for log in ordered for e in self.decode(log)]
