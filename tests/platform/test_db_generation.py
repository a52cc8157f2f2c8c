"""Database.generation: counts committed writes per table, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from records import round_record
from sqlalchemy import delete, select

from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import Database, NonceRecord, RoundRecord


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'g.db'}")
    database.migrate()
    return database


def test_writes_count_reads_and_rollbacks_do_not(db: Database) -> None:
    assert db.generation("rounds") == 0
    with db.session() as s:
        s.add(round_record(1))
    assert db.generation("rounds") == 1
    assert db.generation("updates") == 0  # another table
    with db.session() as s:
        s.scalars(select(RoundRecord)).all()
    assert db.generation("rounds") == 1  # a read
    with db.session() as s:
        row = s.get(RoundRecord, 1)
        assert row is not None
        row.phase = RoundPhase.CLOSING
    assert db.generation("rounds") == 2  # an attribute change
    with pytest.raises(RuntimeError), db.session() as s:
        s.add(round_record(2))
        s.flush()
        raise RuntimeError("abandoned")
    assert db.generation("rounds") == 2  # rolled back: nothing was written
    with db.session() as s:
        s.execute(delete(NonceRecord))
    assert db.generation("nonces") == 1  # a bulk statement
    assert db.generation("rounds", "updates") == 2
