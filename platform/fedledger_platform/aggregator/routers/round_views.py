"""Rounds as the REST API shows them, and the kept answer of ``GET /v1/rounds/current``.

Every view costs a fixed number of queries however long the history: one round is three
statements, the list of every round three as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fedledger_platform.aggregator.schemas import RoundPublic, UpdatePublic
from fedledger_platform.protocol.rejections import NotFound
from fedledger_platform.storage import (
    Database,
    DroppedRecord,
    RoundRecord,
    UpdateRecord,
    queries,
)

__all__ = ["LatestRoundCache", "latest_round_view", "round_view", "rounds_view", "updates_view"]


def _public(record: RoundRecord, participants: list[str], dropped: list[str]) -> RoundPublic:
    return RoundPublic(
        number=record.number,
        phase=record.phase,
        base_model_hash=record.base_model_hash,
        deadline=record.deadline,
        min_updates=record.min_updates,
        accepted=len(participants),
        participants=list(participants),
        dropped=list(dropped),
        unmasking_since=record.unmasking_since,
        aggregate_hash=record.aggregate_hash,
        published_model_hash=record.published_model_hash,
        failure_reason=record.failure_reason,
        open_tx=record.open_tx,
        close_tx=record.close_tx,
        close_gas=record.close_gas,
    )


def _round(session: Session, record: RoundRecord) -> RoundPublic:
    number = record.number
    return _public(
        record,
        queries.participants_by_round(session, number).get(number, []),
        queries.dropped_by_round(session, number).get(number, []),
    )


def latest_round_view(db: Database) -> RoundPublic | None:
    """The latest round (``None`` before the first)."""
    with db.session() as s:
        record = queries.latest_round(s)
        if record is None:
            return None
        return _round(s, record)


def round_view(db: Database, number: int) -> RoundPublic:
    """Round ``number``."""
    with db.session() as s:
        record = queries.round_record(s, number)
        if record is None:
            raise NotFound(f"round {number} does not exist")
        return _round(s, record)


def rounds_view(db: Database) -> list[RoundPublic]:
    """Every round, oldest first."""
    with db.session() as s:
        records = queries.rounds(s)
        participants = queries.participants_by_round(s)
        dropped = queries.dropped_by_round(s)
        return [
            _public(r, participants.get(r.number, []), dropped.get(r.number, [])) for r in records
        ]


def updates_view(db: Database, number: int) -> list[UpdatePublic]:
    """Metadata of round ``number``'s accepted updates, in participant address order."""
    with db.session() as s:
        if queries.round_record(s, number) is None:
            raise NotFound(f"round {number} does not exist")
        records = queries.round_updates(s, number)
    return [
        UpdatePublic(
            participant=r.participant,
            update_hash=r.blob_hash,
            size=r.size,
            received_at=r.received_at,
        )
        for r in records
    ]


def _failed(future: asyncio.Future[RoundPublic | None]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


class LatestRoundCache:
    """The latest round as ``GET /v1/rounds/current`` answers it (event loop only).

    Every waiting client asks at each phase change, so the answer is kept until the rounds or
    updates tables are written again (:meth:`Database.generation`): an unchanged answer needs
    neither the database nor a worker thread, and the clients that ask while it is being read
    wait for that one read. ``read`` reads the latest round (a test may stand in for it).
    """

    TABLES = (RoundRecord.__tablename__, UpdateRecord.__tablename__, DroppedRecord.__tablename__)

    def __init__(self, db: Database, read: Callable[[], RoundPublic | None] | None = None) -> None:
        self._db = db
        self._read = read if read is not None else (lambda: latest_round_view(db))
        self._kept: tuple[int, RoundPublic | None] | None = None
        self._reading: tuple[int, asyncio.Future[RoundPublic | None]] | None = None

    def _read_at(self, version: int) -> RoundPublic | None:
        """Read, and keep the answer for generation ``version`` unless a write landed since."""
        view = self._read()
        if self._db.generation(*self.TABLES) == version:
            self._kept = (version, view)
        return view

    async def get(self) -> RoundPublic | None:
        """The latest round, ``None`` before the first."""
        version = self._db.generation(*self.TABLES)
        if self._kept is not None and self._kept[0] == version:
            return self._kept[1]
        reading = self._reading
        if reading is None or reading[0] != version or _failed(reading[1]):
            task = asyncio.ensure_future(run_in_threadpool(self._read_at, version))
            reading = self._reading = (version, task)
        # Shielded: a caller that goes away does not cancel the read the others wait for.
        return await asyncio.shield(reading[1])
