"""The round policy, transition by transition, on plain facts (no chain, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from fedledger_platform.protocol import (
    AdoptRound,
    CloseRound,
    FailRound,
    LatestRound,
    MarkPublished,
    OpenRound,
    RoundPhase,
    RoundRules,
    StartUnmasking,
    Wait,
    next_action,
    participant_wait_past,
)

RULES = RoundRules(count=3, min_updates=2, timeout_s=600, attestation_timeout_s=300)
BASE = "0x" + "11" * 32
MODEL = "0x" + "22" * 32


@dataclass
class Facts:
    """Plain facts that remember which of them the policy read."""

    latest: LatestRound | None = None
    chain_round: int = 0
    chain_phase: RoundPhase = RoundPhase.NONE
    accepted: int = 0
    admitted: int = 4
    masking: bool = False
    members: int = 4
    reveals_missing: int = 0
    deadline_passed: bool = False
    now: int = 10_000
    open_time: int = 10_000
    initial_model_hash: str | None = BASE
    params_problem: str | None = None
    reads: set[str] = field(default_factory=set)

    def __getattribute__(self, name: str) -> object:
        if not name.startswith("_") and name != "reads":
            object.__getattribute__(self, "reads").add(name)
        return object.__getattribute__(self, name)


def _round(phase: RoundPhase, number: int = 1, **changes: object) -> LatestRound:
    record = LatestRound(
        number=number,
        phase=phase,
        base_model_hash=BASE,
        published_model_hash=None,
        deadline=20_000,
        min_updates=2,
        closed_at=None,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- opening


def test_first_round_opens_on_the_initial_model() -> None:
    # Prepare
    facts = Facts(open_time=12_345)
    # Execute
    action = next_action(facts, RULES)
    # Assert
    assert action == OpenRound(1, base_model_hash=BASE, deadline=12_945, min_updates=2)
    assert facts.reads == {
        "latest",
        "chain_round",
        "initial_model_hash",
        "params_problem",
        "open_time",
    }


def test_first_round_waits_for_the_initial_model() -> None:
    assert next_action(Facts(initial_model_hash=None), RULES) == Wait(
        "waiting for the initial model"
    )


def test_no_round_opens_before_the_parameters_are_committed() -> None:
    action = next_action(Facts(params_problem="waiting for the key dealer"), RULES)
    assert action == Wait("waiting for the key dealer")


def test_round_after_a_published_one_trains_on_its_model() -> None:
    previous = _round(RoundPhase.PUBLISHED, published_model_hash=MODEL)
    action = next_action(Facts(latest=previous, chain_round=1), RULES)
    assert isinstance(action, OpenRound)
    assert (action.number, action.base_model_hash) == (2, MODEL)


def test_round_after_a_failed_one_retrains_on_the_same_base() -> None:
    action = next_action(Facts(latest=_round(RoundPhase.FAILED), chain_round=1), RULES)
    assert isinstance(action, OpenRound)
    assert (action.number, action.base_model_hash) == (2, BASE)


def test_no_round_beyond_the_configured_count() -> None:
    last = _round(RoundPhase.PUBLISHED, number=3, published_model_hash=MODEL)
    assert next_action(Facts(latest=last, chain_round=3), RULES) == Wait("finished: 3 rounds run")


def test_count_zero_keeps_going() -> None:
    last = _round(RoundPhase.PUBLISHED, number=99, published_model_hash=MODEL)
    action = next_action(Facts(latest=last, chain_round=99), replace(RULES, count=0))
    assert isinstance(action, OpenRound)
    assert action.number == 100


@pytest.mark.parametrize("latest", [None, _round(RoundPhase.PUBLISHED, published_model_hash=MODEL)])
def test_a_round_the_chain_has_and_we_do_not_is_adopted(latest: LatestRound | None) -> None:
    assert next_action(Facts(latest=latest, chain_round=2), RULES) == AdoptRound(2)


# ---------------------------------------------------------------- closing


def test_open_round_closes_once_everyone_submitted() -> None:
    facts = Facts(latest=_round(RoundPhase.OPEN), accepted=4, admitted=4)
    assert next_action(facts, RULES) == CloseRound(1)
    assert "deadline_passed" not in facts.reads  # no clock read when everyone submitted


def test_open_round_waits_for_the_others_before_the_deadline() -> None:
    facts = Facts(latest=_round(RoundPhase.OPEN), accepted=3, admitted=4)
    assert next_action(facts, RULES) == Wait("round 1 open")


def test_open_round_closes_at_the_deadline_with_enough_updates() -> None:
    facts = Facts(latest=_round(RoundPhase.OPEN), accepted=2, deadline_passed=True)
    assert next_action(facts, RULES) == CloseRound(1)


def test_open_round_fails_at_the_deadline_with_too_few_updates() -> None:
    facts = Facts(latest=_round(RoundPhase.OPEN), accepted=1, deadline_passed=True)
    assert next_action(facts, RULES) == FailRound(
        1, "deadline passed with 1 of the 2 required updates"
    )


def test_everyone_but_below_min_updates_waits() -> None:
    # Two admitted, one submitted and min_updates 2: not everyone, not expired.
    facts = Facts(latest=_round(RoundPhase.OPEN), accepted=1, admitted=2)
    assert next_action(facts, RULES) == Wait("round 1 open")


# ---------------------------------------------------------------- masking and dropouts


def test_masked_round_closes_directly_once_every_member_submitted() -> None:
    # Five admitted now, four members (one admitted after the round opened): all four in.
    facts = Facts(latest=_round(RoundPhase.OPEN), masking=True, accepted=4, members=4, admitted=5)
    assert next_action(facts, RULES) == CloseRound(1)
    assert "admitted" not in facts.reads and "deadline_passed" not in facts.reads


def test_masked_round_waits_for_its_members_before_the_deadline() -> None:
    facts = Facts(latest=_round(RoundPhase.OPEN), masking=True, accepted=3, members=4)
    assert next_action(facts, RULES) == Wait("round 1 open")


def test_masked_round_with_dropouts_at_the_deadline_starts_unmasking() -> None:
    facts = Facts(
        latest=_round(RoundPhase.OPEN), masking=True, accepted=2, members=4, deadline_passed=True
    )
    assert next_action(facts, RULES) == StartUnmasking(1)


def test_masked_round_with_too_few_updates_at_the_deadline_fails() -> None:
    facts = Facts(
        latest=_round(RoundPhase.OPEN), masking=True, accepted=1, members=4, deadline_passed=True
    )
    assert next_action(facts, RULES) == FailRound(
        1, "deadline passed with 1 of the 2 required updates"
    )


def test_unmasking_round_closes_once_every_required_reveal_is_in() -> None:
    facts = Facts(latest=_round(RoundPhase.UNMASKING, unmasking_since=9_000), reveals_missing=0)
    assert next_action(facts, RULES) == CloseRound(1)
    assert "now" not in facts.reads  # no clock read when the reveals are complete


def test_unmasking_round_waits_for_reveals_within_the_timeout() -> None:
    unmasking = _round(RoundPhase.UNMASKING, unmasking_since=9_000)
    facts = Facts(latest=unmasking, reveals_missing=3, now=9_120)
    assert next_action(facts, RULES) == Wait("round 1 unmasking: 3 reveals missing")


def test_unmasking_round_fails_at_the_reveal_timeout() -> None:
    unmasking = _round(RoundPhase.UNMASKING, unmasking_since=9_000)
    facts = Facts(latest=unmasking, reveals_missing=2, now=9_121)
    assert next_action(facts, RULES) == FailRound(
        1, "2 mask reveals still missing at the reveal timeout"
    )


def test_the_reveal_timeout_is_a_rule() -> None:
    unmasking = _round(RoundPhase.UNMASKING, unmasking_since=9_000)
    facts = Facts(latest=unmasking, reveals_missing=2, now=9_121)
    assert next_action(facts, replace(RULES, reveal_timeout_s=600)) == Wait(
        "round 1 unmasking: 2 reveals missing"
    )


def test_a_close_interrupted_by_a_crash_is_resumed() -> None:
    assert next_action(Facts(latest=_round(RoundPhase.CLOSING)), RULES) == CloseRound(1)


# ---------------------------------------------------------------- publication


def test_closed_round_is_published_when_the_chain_published_it() -> None:
    facts = Facts(latest=_round(RoundPhase.CLOSED), chain_phase=RoundPhase.PUBLISHED)
    assert next_action(facts, RULES) == MarkPublished(1)


def test_closed_round_failed_on_chain_is_recorded_without_abandoning_again() -> None:
    facts = Facts(latest=_round(RoundPhase.CLOSED), chain_phase=RoundPhase.FAILED)
    assert next_action(facts, RULES) == FailRound(1, "failed on chain", abandon=False)


def test_closed_round_fails_without_quorum_after_the_attestation_timeout() -> None:
    closed = _round(RoundPhase.CLOSED, closed_at=1_000)
    facts = Facts(latest=closed, chain_phase=RoundPhase.CLOSED, now=1_301)
    assert next_action(facts, RULES) == FailRound(
        1, "no attestation quorum before the attestation timeout"
    )


def test_closed_round_awaits_attestations_within_the_timeout() -> None:
    closed = _round(RoundPhase.CLOSED, closed_at=1_000)
    facts = Facts(latest=closed, chain_phase=RoundPhase.CLOSED, now=1_300)
    assert next_action(facts, RULES) == Wait("round 1 awaiting attestations")


def test_a_phase_no_round_records_is_an_error() -> None:
    with pytest.raises(ValueError, match="which no round records"):
        next_action(Facts(latest=_round(RoundPhase.NONE)), RULES)


# ---------------------------------------------------------------- participants


def test_participant_that_uploaded_waits_past_closing() -> None:
    assert participant_wait_past(
        3, RoundPhase.OPEN, uploaded=True, finished=False, last_round=5
    ) == (3, RoundPhase.CLOSING)


def test_masking_participant_that_uploaded_wakes_when_the_round_moves_on() -> None:
    # The round may enter unmasking and need its reveals.
    assert participant_wait_past(
        3, RoundPhase.OPEN, uploaded=True, finished=False, last_round=5, masking=True
    ) == (3, RoundPhase.OPEN)


def test_participant_that_revealed_waits_past_closing() -> None:
    assert participant_wait_past(
        3, RoundPhase.UNMASKING, uploaded=True, finished=False, last_round=5, revealed=True
    ) == (3, RoundPhase.CLOSING)


def test_participant_without_an_update_in_an_unmasking_round_waits_past_closing() -> None:
    # Dropped, or admitted after the round opened: nothing to reveal.
    assert participant_wait_past(
        3, RoundPhase.UNMASKING, uploaded=False, finished=False, last_round=5, masking=True
    ) == (3, RoundPhase.CLOSING)


def test_survivor_in_an_unmasking_round_that_has_not_revealed_wakes_at_any_change() -> None:
    assert participant_wait_past(
        3, RoundPhase.UNMASKING, uploaded=True, finished=False, last_round=5, masking=True
    ) == (3, RoundPhase.UNMASKING)


def test_participant_done_with_a_middle_round_waits_past_publication() -> None:
    assert participant_wait_past(
        3, RoundPhase.CLOSED, uploaded=True, finished=True, last_round=5
    ) == (3, RoundPhase.PUBLISHED)


def test_participant_done_with_the_last_round_wakes_at_any_change() -> None:
    # It must see the last round published to stop (and to supply the model bytes).
    assert participant_wait_past(
        5, RoundPhase.CLOSED, uploaded=True, finished=True, last_round=5
    ) == (5, RoundPhase.CLOSED)


def test_participant_with_nothing_done_wakes_at_any_change() -> None:
    assert participant_wait_past(
        2, RoundPhase.OPEN, uploaded=False, finished=False, last_round=None
    ) == (2, RoundPhase.OPEN)
