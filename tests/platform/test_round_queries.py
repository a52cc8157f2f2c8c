"""Reading rounds costs the same at round 5 as at round 5,000: the latest round is one row, the
round list a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from records import round_record
from sqlalchemy import event

from fedledger_platform.aggregator.routers.round_views import (
    latest_round_view,
    round_view,
    rounds_view,
)
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import (
    Database,
    RoundRecord,
    UpdateRecord,
    latest_round,
)

ROUNDS = 60


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'rounds.db'}")
    database.migrate()
    with database.session() as s:
        for number in range(1, ROUNDS + 1):
            s.add(round_record(number, RoundPhase.PUBLISHED))
            for p in (2, 1) if number % 2 else (3,):  # stored out of address order
                s.add(
                    UpdateRecord(
                        round_number=number,
                        participant="0x" + f"{p:040x}",
                        blob_hash="0x" + "22" * 32,
                        size=1,
                        received_at=0,
                    )
                )
    return database


@contextmanager
def _counting(db: Database) -> Iterator[dict[str, int]]:
    counts = {"loaded": 0, "statements": 0}

    def loaded(*_: Any) -> None:
        counts["loaded"] += 1

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    event.listen(RoundRecord, "load", loaded)
    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(RoundRecord, "load", loaded)
        event.remove(db.engine, "before_cursor_execute", statement)


def test_latest_round_loads_one_row(db: Database, tmp_path: Path) -> None:
    with _counting(db) as counts, db.session() as s:
        record = latest_round(s)
    assert record is not None and record.number == ROUNDS
    assert counts["loaded"] == 1

    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    empty.migrate()
    with empty.session() as s:
        assert latest_round(s) is None


def test_round_views_keep_a_fixed_query_count(db: Database) -> None:
    with _counting(db) as counts:
        current = latest_round_view(db)
    assert current is not None
    assert current.number == ROUNDS and current.participants == ["0x" + f"{3:040x}"]
    assert counts == {"loaded": 1, "statements": 3}  # the round, its participants, its dropped

    with _counting(db) as counts:
        one = round_view(db, 7)
    assert one.number == 7 and one.participants == ["0x" + f"{1:040x}", "0x" + f"{2:040x}"]
    assert counts == {"loaded": 1, "statements": 3}

    with _counting(db) as counts:
        every = rounds_view(db)
    assert [r.number for r in every] == list(range(1, ROUNDS + 1))
    assert every[0].participants == ["0x" + f"{1:040x}", "0x" + f"{2:040x}"]
    assert all(r.accepted == (2 if r.number % 2 else 1) for r in every)
    assert counts["statements"] == 3  # the rounds, every round's participants, every dropped
