"""What the aggregator serves, fetched for an audit: the parameters-only context, models,
aggregates, the list of accepted uploads, a masked round's reveals and the individual updates
(signed GETs of the auditor account), with retries while it is unavailable, a cache of served
models (a round's published model is the next round's base) and updates downloaded ahead of
their summation."""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.api_client import (
    AggregatorClient,
    AggregatorError,
    AggregatorUnavailableError,
    Blob,
    ServedReveals,
)
from fedledger_platform.protocol import RoundPhase

__all__ = ["Download", "Evidence", "Served", "ServedLatest", "ServedRound"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Served:
    """What the aggregator served: the bytes' keccak256 and size, or why it served nothing."""

    actual: bytes | None
    size: int | None
    error: str | None

    def evidence(self) -> dict[str, Any]:
        """The served hash and size (``None`` when nothing was served), and the error if any."""
        return {
            "served_hash": fc.hash_hex(self.actual) if self.actual is not None else None,
            "served_size": self.size,
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class ServedRound:
    """``GET /v1/rounds/{n}``'s JSON, or why it was not served."""

    data: Mapping[str, Any] | None
    error: str | None

    @property
    def phase(self) -> RoundPhase | None:
        """The served phase (``None`` when not served or not a phase)."""
        try:
            return RoundPhase(str(self.data["phase"])) if self.data is not None else None
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class ServedLatest:
    """``GET /v1/models/latest``: the bytes' keccak256 and the headers, or why nothing."""

    actual: bytes | None
    round_number: int | None
    hash_header: str | None
    status: int | None  # the error status when nothing was served
    error: str | None

    def evidence(self) -> dict[str, Any]:
        """What was served, for the report."""
        return {
            "served_hash": fc.hash_hex(self.actual) if self.actual is not None else None,
            "served_round": self.round_number,
            "hash_header": self.hash_header,
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class Download:
    """One participant's stored update: its bytes, or the aggregator's error."""

    participant: str
    data: bytes | None
    error: str | None


class Evidence:
    """Fetches what one aggregator serves to the auditor account of ``client``.

    Fetches are retried ``retries`` times, waiting ``retry_delay_s`` then twice as long each
    time, while the aggregator is unavailable; any other error is the answer. ``prefetch``
    update blobs are downloaded ahead of the one being consumed.
    """

    def __init__(
        self,
        client: AggregatorClient,
        *,
        prefetch: int = 2,
        retries: int = 3,
        retry_delay_s: float = 0.5,
    ) -> None:
        self.client = client
        self.prefetch = max(1, prefetch)
        self.retries = max(0, retries)
        self.retry_delay_s = retry_delay_s
        self._models: dict[bytes, Served] = {}

    def clear(self) -> None:
        """Forget the served models (a new audit fetches them again)."""
        self._models.clear()

    def _retrying(self, fn: Callable[[], _T]) -> _T:
        delay = self.retry_delay_s
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except AggregatorUnavailableError:
                if attempt == self.retries:
                    raise
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(self, fn: Callable[[], Blob]) -> tuple[Blob | None, str | None]:
        try:
            return self._retrying(fn), None
        except AggregatorError as exc:
            return None, f"{exc.status} {exc.code}: {exc.message}"

    def _served(self, fn: Callable[[], Blob]) -> Served:
        blob, error = self._fetch(fn)
        if blob is None:
            return Served(None, None, error)
        return Served(fc.keccak256(blob.data), len(blob.data), None)

    def parameters(self) -> tuple[bytes | None, str | None]:
        """The served parameters-only CKKS context, or ``(None, "status code")``."""
        try:
            return self.client.parameters(), None
        except AggregatorError as exc:
            return None, f"{exc.status} {exc.code}"

    def model(self, digest: bytes) -> Served:
        """What is served for the model ``digest`` (fetched once per audit)."""
        cached = self._models.get(digest)
        if cached is None:
            cached = self._models[digest] = self._served(lambda: self.client.model(digest))
        return cached

    def aggregate(self, number: int) -> Served:
        """What is served as round ``number``'s aggregate."""
        return self._served(lambda: self.client.aggregate(number))

    def round(self, number: int, *, settled: Callable[[ServedRound], bool]) -> ServedRound:
        """``GET /v1/rounds/{number}``, asked again (as unavailability is retried) while it is
        not ``settled``: the aggregator records a phase change on chain a moment after it."""
        delay = self.retry_delay_s
        for attempt in range(self.retries + 1):
            try:
                served = ServedRound(self._retrying(lambda: self.client.round(number)), None)
            except AggregatorError as exc:
                return ServedRound(None, f"{exc.status} {exc.code}: {exc.message}")
            if settled(served) or attempt == self.retries:
                return served
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def latest_model(self) -> ServedLatest:
        """``GET /v1/models/latest``: the bytes' hash and the headers, or the error."""
        try:
            blob = self._retrying(self.client.latest_model)
        except AggregatorError as exc:
            return ServedLatest(None, None, None, exc.status, f"{exc.status} {exc.code}")
        return ServedLatest(
            fc.keccak256(blob.data),
            blob.round_number,
            blob.hash_header,
            None,
            None,
        )

    def reveals(self, number: int) -> tuple[ServedReveals | None, str | None]:
        """Round ``number``'s dropped members and reveals as served, or why there are none."""
        try:
            return self._retrying(lambda: self.client.reveals(number)), None
        except AggregatorError as exc:
            return None, f"{exc.status} {exc.code}: {exc.message}"
        except (KeyError, TypeError, ValueError) as exc:
            return None, f"the reveal list does not parse: {exc}"

    def accepted_uploads(self, number: int) -> set[str] | None:
        """The participants whose upload the aggregator lists as accepted in round ``number``
        (``None`` when it does not answer)."""
        try:
            return {Web3.to_checksum_address(u["participant"]) for u in self.client.updates(number)}
        except AggregatorError:
            return None

    def updates(self, number: int, participants: Sequence[str]) -> Iterator[Download]:
        """Each participant's stored update of round ``number``, in order, downloaded
        ``prefetch`` ahead of the caller so that downloads overlap its work on each one."""
        with ThreadPoolExecutor(max_workers=self.prefetch, thread_name_prefix="audit") as pool:
            queue: deque[tuple[str, Future[tuple[Blob | None, str | None]]]] = deque()
            remaining = iter(participants)

            def fill() -> None:
                while len(queue) < self.prefetch:
                    participant = next(remaining, None)
                    if participant is None:
                        return
                    fetch = functools.partial(self.client.update_blob, number, participant)
                    queue.append((participant, pool.submit(self._fetch, fetch)))

            fill()
            while queue:
                participant, future = queue.popleft()
                fill()
                blob, error = future.result()
                yield Download(participant, blob.data if blob is not None else None, error)
