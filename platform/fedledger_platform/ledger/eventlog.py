"""Reading the ledger's and its token's event log: decoding, topic queries and pages.

Everything the ledger records but does not store — update hashes, participants' public keys,
the history of rounds — is in this log, so reads of it are as typed as the contract's views.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from web3 import Web3

from fedledger_platform.ledger.abi import ErrorDecoder, EventDecoder, Log
from fedledger_platform.ledger.chain import Chain
from fedledger_platform.ledger.results import LedgerEvent
from fedledger_platform.ledger.transactions import translate

__all__ = ["EventLog", "address_topic", "uint_topic"]


def address_topic(address: str) -> bytes:
    """An indexed ``address`` argument as its log topic."""
    return abi_encode(["address"], [Web3.to_checksum_address(address)])


def uint_topic(value: int) -> bytes:
    """An indexed unsigned integer argument as its log topic."""
    return value.to_bytes(32, "big")


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

    def decode(self, log: Log) -> LedgerEvent | None:
        """The ledger's or the token's event in ``log`` (``None`` for anything else)."""
        if log.address not in (self.ledger, self.token):
            return None
        decoded = self._events.decode(log)
        if decoded is None:
            return None
        name, args = decoded
        return LedgerEvent(
            name=name,
            args=args,
            block_number=log.block_number,
            tx_hash="0x" + log.tx_hash.hex(),
            log_index=log.log_index,
            address=log.address,
        )

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
        one query that a node answers from its index (:meth:`Chain.logs`)."""
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
        return [e for e in self._ordered(logs) if e.name == name]

    def pages(
        self,
        *,
        from_block: int = 0,
        to_block: int | None = None,
        names: Sequence[str] | None = None,
        page_size: int = 2_000,
    ) -> Iterator[LedgerEvent]:
        """Every event of the ledger and its token, in chain order, read in pages of
        ``page_size`` blocks, so a long history never asks a node for more than one page."""
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
        return [e for e in map(self.decode, ordered) if e is not None]
