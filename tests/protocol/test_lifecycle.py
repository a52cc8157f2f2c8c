"""The round lifecycle: one enum, its chain encoding, order and transitions."""

from __future__ import annotations

import pytest

from fedledger_platform.protocol import (
    TRANSITIONS,
    InvalidTransitionError,
    RoundPhase,
    check_transition,
    parse_position,
    position,
)


def test_chain_status_round_trips_for_every_on_chain_phase() -> None:
    # FederationLedger.RoundStatus: None, Open, Closed, Published, Failed.
    assert [RoundPhase.from_chain(i) for i in range(5)] == [
        RoundPhase.NONE,
        RoundPhase.OPEN,
        RoundPhase.CLOSED,
        RoundPhase.PUBLISHED,
        RoundPhase.FAILED,
    ]
    for status in range(5):
        assert RoundPhase.from_chain(status).chain_status == status


def test_unmasking_and_closing_are_open_on_chain() -> None:
    assert RoundPhase.UNMASKING.chain_status == RoundPhase.OPEN.chain_status == 1
    assert RoundPhase.CLOSING.chain_status == RoundPhase.OPEN.chain_status == 1


def test_unknown_chain_status_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not a FederationLedger\.RoundStatus"):
        RoundPhase.from_chain(5)


def test_order_follows_the_life_of_a_round() -> None:
    ordered = [
        RoundPhase.NONE,
        RoundPhase.OPEN,
        RoundPhase.UNMASKING,
        RoundPhase.CLOSING,
        RoundPhase.CLOSED,
    ]
    assert [p.order for p in ordered] == [0, 1, 2, 3, 4]
    assert RoundPhase.PUBLISHED.order == RoundPhase.FAILED.order == 5
    assert position(3, RoundPhase.PUBLISHED) < position(4, RoundPhase.NONE)


@pytest.mark.parametrize("phase", list(RoundPhase))
def test_final_phases_have_no_way_out(phase: RoundPhase) -> None:
    assert phase.final == (not TRANSITIONS[phase])


def test_every_listed_transition_is_allowed_and_moves_forward() -> None:
    for current, targets in TRANSITIONS.items():
        for target in targets:
            check_transition(1, current, target)
            assert target.order > current.order


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (RoundPhase.OPEN, RoundPhase.CLOSED),  # must pass through closing
        (RoundPhase.OPEN, RoundPhase.PUBLISHED),
        (RoundPhase.CLOSED, RoundPhase.OPEN),
        (RoundPhase.PUBLISHED, RoundPhase.FAILED),
        (RoundPhase.FAILED, RoundPhase.OPEN),
        (RoundPhase.NONE, RoundPhase.CLOSING),
        (RoundPhase.UNMASKING, RoundPhase.CLOSED),  # must pass through closing
        (RoundPhase.UNMASKING, RoundPhase.OPEN),  # the accepted updates are frozen
        (RoundPhase.CLOSING, RoundPhase.UNMASKING),
    ],
)
def test_other_transitions_are_refused_naming_the_round(
    current: RoundPhase, wanted: RoundPhase
) -> None:
    with pytest.raises(InvalidTransitionError, match=f"round 7 cannot go from {current}"):
        check_transition(7, current, wanted)


def test_unmasking_lies_between_open_and_closing() -> None:
    assert TRANSITIONS[RoundPhase.OPEN] >= {RoundPhase.UNMASKING, RoundPhase.CLOSING}
    assert TRANSITIONS[RoundPhase.UNMASKING] == {RoundPhase.CLOSING, RoundPhase.FAILED}


def test_parse_position() -> None:
    assert parse_position("3:closing") == (3, RoundPhase.CLOSING)
    assert parse_position("3:unmasking") == (3, RoundPhase.UNMASKING)
    assert parse_position("0:none") == (0, RoundPhase.NONE)
    with pytest.raises(ValueError, match="not a round phase"):
        parse_position("3:summing")
    with pytest.raises(ValueError, match="NUMBER:PHASE"):
        parse_position("x:open")
