"""The coordinator's facts: each read from its source only when the policy reads it, and at
most once per tick (the chain and the database stand in as counters; the policy is real)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from records import round_record
from sqlalchemy import event

from fedledger_platform.aggregator.coordinator import _Facts
from fedledger_platform.protocol import (
    MarkPublished,
    RoundPhase,
    RoundRules,
    Wait,
    next_action,
)
from fedledger_platform.storage import Database

RULES = RoundRules(count=3, min_updates=2, timeout_s=600, attestation_timeout_s=300)


class _Sources:
    """The coordinator's sources of facts, counting every read."""

    def __init__(self, db: Database, chain_phase: RoundPhase, *, masking: bool = False) -> None:
        self.reads: Counter[str] = Counter()
        self.db = db
        info = SimpleNamespace(status=chain_phase, published_model_hash=b"\x22" * 32)
        self.ledger = SimpleNamespace(
            current_round=self._counted("current_round", 1),
            get_round=self._counted("get_round", info),
        )
        self.chain = SimpleNamespace(
            participant_count=self._counted("participant_count", 3),
            deadline_passed=self._counted("deadline_passed", False),
            open_time=self._counted("open_time", 0),
            params_problem=self._counted("params_problem", None),
        )
        self.models = SimpleNamespace(initial_model_hash=self._counted("initial_model", None))
        members = SimpleNamespace(masking=masking, members=("a", "b", "c", "d"))
        self.unmasking = SimpleNamespace(
            members=self._counted("members", members),
            missing=self._counted("missing", 2),
        )

    def _counted(self, name: str, answer: object) -> Any:
        def read(*_: object) -> object:
            self.reads[name] += 1
            return answer

        return read


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'facts.db'}")
    database.migrate()
    return database


def _statements(db: Database) -> Counter[str]:
    counts: Counter[str] = Counter()
    event.listen(db.engine, "before_cursor_execute", lambda *_: counts.update(["sql"]))
    return counts


def test_an_open_round_reads_only_what_closing_it_needs(db: Database) -> None:
    # Prepare: round 1 open, nothing accepted
    record = round_record(1, RoundPhase.OPEN)
    record.min_updates = 2
    sources = _Sources(db, RoundPhase.OPEN)
    statements = _statements(db)
    facts = _Facts(sources, record)  # type: ignore[arg-type]

    # Execute: the policy, then every fact it read once more
    action = next_action(facts, RULES)
    again = (facts.accepted, facts.admitted, facts.deadline_passed)

    # Assert
    assert action == Wait("round 1 open")
    assert again == (0, 3, False)
    assert sources.reads == Counter({"members": 1, "participant_count": 1, "deadline_passed": 1})
    assert statements["sql"] == 1  # the accepted count, once


def test_a_masked_open_round_counts_its_members_not_the_admitted(db: Database) -> None:
    # Prepare: round 1 open and masked, nothing accepted
    record = round_record(1, RoundPhase.OPEN)
    record.min_updates = 2
    sources = _Sources(db, RoundPhase.OPEN, masking=True)
    facts = _Facts(sources, record)  # type: ignore[arg-type]

    # Execute
    action = next_action(facts, RULES)
    again = (facts.masking, facts.members)

    # Assert: the round's members read once
    assert action == Wait("round 1 open")
    assert again == (True, 4)
    assert sources.reads == Counter({"members": 1, "deadline_passed": 1})


def test_an_unmasking_round_reads_the_missing_reveals_and_the_clock(db: Database) -> None:
    record = round_record(1, RoundPhase.UNMASKING)
    record.unmasking_since = 10**12  # far ahead: not timed out
    sources = _Sources(db, RoundPhase.OPEN, masking=True)
    facts = _Facts(sources, record)  # type: ignore[arg-type]

    assert next_action(facts, RULES) == Wait("round 1 unmasking: 2 reveals missing")
    assert sources.reads == Counter({"missing": 1})


def test_publication_reuses_the_chain_read_of_the_policy(db: Database) -> None:
    # Prepare: round 1 closed here, published on chain
    record = round_record(1, RoundPhase.CLOSED)
    sources = _Sources(db, RoundPhase.PUBLISHED)
    facts = _Facts(sources, record)  # type: ignore[arg-type]

    # Execute
    action = next_action(facts, RULES)
    info = facts.chain_info  # what the coordinator records the published hash from

    # Assert: one read of the round on chain, nothing else
    assert action == MarkPublished(1)
    assert info.published_model_hash == b"\x22" * 32
    assert sources.reads == Counter({"get_round": 1})


def test_before_the_first_round_only_the_chain_round_and_initial_model_are_read(
    db: Database,
) -> None:
    sources = _Sources(db, RoundPhase.NONE)
    sources.ledger.current_round = sources._counted("current_round", 0)
    statements = _statements(db)
    facts = _Facts(sources, None)  # type: ignore[arg-type]

    assert next_action(facts, RULES) == Wait("waiting for the initial model")
    assert sources.reads == Counter({"current_round": 1, "initial_model": 1})
    assert statements["sql"] == 0
