"""The running sums on real CKKS updates, a real SQLite database and blob store: rebuilt from
the store at start-up and after a failure, so that a sum never differs from what is stored."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from records import round_record

import fedledger_crypto as fc
from fedledger_platform.aggregator.sums import RunningSums
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.protocol.rejections import BaseModelMissing
from fedledger_platform.storage import BlobStore, Database, RoundRecord, UpdateRecord

SCHEMA = fc.UpdateSchema(fc.TensorLayout.vector(500), ("correct",))
HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=16)
PARTICIPANTS = ["0x" + f"{i:040x}" for i in (3, 1, 2)]


@pytest.fixture(scope="module")
def updates(encryptor: fc.UpdateEncryptor) -> list[bytes]:
    rng = np.random.default_rng(5)
    return [
        encryptor.encrypt(
            SCHEMA, rng.uniform(-1, 1, 500), weight=1.0, metrics={"correct": i}, headroom=HEADROOM
        )
        for i in range(len(PARTICIPANTS))
    ]


def _store(db: Database, blobs: BlobStore, number: int, participant: str, blob: bytes) -> None:
    digest = blobs.put(blob)
    with db.session() as s:
        s.add(
            UpdateRecord(
                round_number=number,
                participant=participant,
                blob_hash=fc.hash_hex(digest),
                size=len(blob),
                received_at=int(time.time()),
            )
        )


def _sums(tmp_path: Path, context: Any, asked: list[int]) -> RunningSums:
    db = Database(f"sqlite:///{tmp_path / 'sums.db'}")
    db.migrate()

    def schema_of(record: RoundRecord) -> fc.UpdateSchema:
        asked.append(record.number)
        if record.number == 2:  # opened on a model whose bytes are not uploaded yet
            raise BaseModelMissing("round 2's base model is not stored yet")
        return SCHEMA

    return RunningSums(db, BlobStore(tmp_path / "blobs"), context, schema_of)


def _open_round(sums: RunningSums) -> RoundRecord:
    """Round 1, open."""
    record = round_record(1, RoundPhase.OPEN)
    with sums.db.session() as s:
        s.add(record)
    return record


def test_recovery_re_sums_the_stored_updates_of_active_rounds(
    tmp_path: Path, parameters_context: Any, updates: list[bytes]
) -> None:
    # Prepare: round 1 closing with three stored updates; round 2 open with none, and its base
    # model not stored yet (a restart right after a publication).
    asked: list[int] = []
    sums = _sums(tmp_path, parameters_context, asked)
    with sums.db.session() as s:
        s.add(round_record(1, RoundPhase.CLOSING))
        s.add(round_record(2, RoundPhase.OPEN))
    for participant, blob in zip(PARTICIPANTS, updates, strict=True):
        _store(sums.db, sums.blobs, 1, participant, blob)

    # Execute
    sums.recover()
    with sums.db.session() as s:
        closing = s.get(RoundRecord, 1)
    assert closing is not None
    digest, included = sums.write_aggregate(closing)

    # Assert: the aggregate of an uninterrupted run; round 2 needs no sum (nor its base) yet
    assert digest == fc.keccak256(fc.aggregate_blobs(parameters_context, updates))
    assert sums.blobs.get(digest) == fc.aggregate_blobs(parameters_context, updates)
    assert included == sorted(PARTICIPANTS)
    assert asked == [1]


def test_a_failure_after_adding_rebuilds_the_sum_from_the_store(
    tmp_path: Path, parameters_context: Any, updates: list[bytes]
) -> None:
    # Prepare: round 1 open with the first update stored and summed
    sums = _sums(tmp_path, parameters_context, [])
    record = _open_round(sums)
    first, second = tmp_path / "first.blob", tmp_path / "second.blob"
    first.write_bytes(updates[0])
    second.write_bytes(updates[1])
    sums.add(
        record,
        PARTICIPANTS[0],
        first,
        lambda: _store(sums.db, sums.blobs, 1, PARTICIPANTS[0], updates[0]),
    )

    def fail() -> None:
        raise OSError("disk full while storing")

    # Execute: the second update reaches the sum, then persisting it fails
    with pytest.raises(OSError, match="disk full"):
        sums.add(record, PARTICIPANTS[1], second, fail)
    digest, included = sums.write_aggregate(record)

    # Assert: the sum holds exactly what is stored
    assert digest == fc.keccak256(fc.aggregate_blobs(parameters_context, updates[:1]))
    assert included == [PARTICIPANTS[0]]


def test_a_rejected_blob_leaves_the_sum_as_it_was(
    tmp_path: Path, parameters_context: Any, updates: list[bytes]
) -> None:
    sums = _sums(tmp_path, parameters_context, [])
    record = _open_round(sums)
    _store(sums.db, sums.blobs, 1, PARTICIPANTS[0], updates[0])
    truncated = tmp_path / "truncated.blob"
    truncated.write_bytes(updates[1][: len(updates[1]) // 2])
    persisted: list[bool] = []

    with pytest.raises(fc.MalformedBlobError):
        sums.add(record, PARTICIPANTS[1], truncated, lambda: persisted.append(True))

    assert persisted == []
    digest, included = sums.write_aggregate(record)
    assert digest == fc.keccak256(fc.aggregate_blobs(parameters_context, updates[:1]))
    assert included == [PARTICIPANTS[0]]
