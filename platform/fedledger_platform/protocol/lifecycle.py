"""The round lifecycle, defined once for the chain, the aggregator, the auditor and the daemons.

::

    none ──openRound──► open
    open ──(enough updates, and everyone submitted or the deadline passed)──► closing
    open ──(masking: enough updates, the deadline passed, members dropped)──► unmasking
    unmasking ──(every required reveal in)──► closing
    closing ──(aggregate stored, closeRound mined)──► closed
    closed ──(attestation quorum: ModelPublished)──► published
    open / unmasking / closing / closed ──(too few updates by the deadline, reveals missing
        at the reveal timeout, no quorum in time)──► failed

``unmasking`` and ``closing`` exist only at the aggregator (it is collecting the dropped
members' revealed mask seeds, or summing and closing the round; on chain the round is still
open). Every other phase is also a ``FederationLedger.RoundStatus`` value, and
:meth:`RoundPhase.from_chain` / :attr:`RoundPhase.chain_status` convert between the two.
"""

from __future__ import annotations

import enum

__all__ = [
    "TRANSITIONS",
    "InvalidTransitionError",
    "RoundPhase",
    "check_transition",
    "parse_position",
    "position",
]


class RoundPhase(enum.StrEnum):
    """Where a round stands. The string values are what the REST API and the database carry."""

    NONE = "none"  # not opened (before round 1, or a round number the chain never opened)
    OPEN = "open"
    UNMASKING = "unmasking"  # collecting reveals for dropped members; still open on chain
    CLOSING = "closing"  # the aggregator is summing and closing it; still open on chain
    CLOSED = "closed"
    PUBLISHED = "published"
    FAILED = "failed"

    @classmethod
    def from_chain(cls, status: int) -> RoundPhase:
        """The phase of ``FederationLedger.RoundStatus`` value ``status`` (0–4)."""
        try:
            return _FROM_CHAIN[int(status)]
        except KeyError:
            raise ValueError(f"{status} is not a FederationLedger.RoundStatus value") from None

    @property
    def chain_status(self) -> int:
        """The ``FederationLedger.RoundStatus`` value of this phase (``unmasking`` and
        ``closing`` are open)."""
        return _TO_CHAIN[self]

    @property
    def order(self) -> int:
        """Progress within a round: none 0, open 1, unmasking 2, closing 3, closed 4,
        published/failed 5."""
        return _ORDER[self]

    @property
    def final(self) -> bool:
        """Whether nothing more happens to the round (published or failed)."""
        return self in (RoundPhase.PUBLISHED, RoundPhase.FAILED)


_FROM_CHAIN = {
    0: RoundPhase.NONE,
    1: RoundPhase.OPEN,
    2: RoundPhase.CLOSED,
    3: RoundPhase.PUBLISHED,
    4: RoundPhase.FAILED,
}
_TO_CHAIN = {phase: status for status, phase in _FROM_CHAIN.items()} | {
    RoundPhase.UNMASKING: 1,
    RoundPhase.CLOSING: 1,
}
_ORDER = {
    RoundPhase.NONE: 0,
    RoundPhase.OPEN: 1,
    RoundPhase.UNMASKING: 2,
    RoundPhase.CLOSING: 3,
    RoundPhase.CLOSED: 4,
    RoundPhase.PUBLISHED: 5,
    RoundPhase.FAILED: 5,
}

#: The phases each phase may move to. The chain enforces its part (``FederationLedger``); the
#: aggregator's coordinator checks every change it makes against this table.
TRANSITIONS: dict[RoundPhase, frozenset[RoundPhase]] = {
    RoundPhase.NONE: frozenset({RoundPhase.OPEN}),
    RoundPhase.OPEN: frozenset({RoundPhase.UNMASKING, RoundPhase.CLOSING, RoundPhase.FAILED}),
    RoundPhase.UNMASKING: frozenset({RoundPhase.CLOSING, RoundPhase.FAILED}),
    RoundPhase.CLOSING: frozenset({RoundPhase.CLOSED, RoundPhase.FAILED}),
    RoundPhase.CLOSED: frozenset({RoundPhase.PUBLISHED, RoundPhase.FAILED}),
    RoundPhase.PUBLISHED: frozenset(),
    RoundPhase.FAILED: frozenset(),
}


class InvalidTransitionError(ValueError):
    """A round was asked to move to a phase its current phase cannot reach."""

    def __init__(self, number: int, current: RoundPhase, wanted: RoundPhase) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        super().__init__(
            f"round {number} cannot go from {current} to {wanted}; from {current} it may "
            f"go to {allowed}"
        )


def check_transition(number: int, current: RoundPhase, wanted: RoundPhase) -> None:
    """Raise :class:`InvalidTransitionError` unless ``current → wanted`` is in the lifecycle."""
    if wanted not in TRANSITIONS[current]:
        raise InvalidTransitionError(number, current, wanted)


def position(number: int, phase: RoundPhase) -> tuple[int, int]:
    """A federation's progress as a comparable pair: ``(round number, phase order)``.

    Round 0 with phase ``none`` is before the first round. Long-polls compare these to wait
    "past" a state.
    """
    return (number, phase.order)


def parse_position(text: str) -> tuple[int, RoundPhase]:
    """``NUMBER:PHASE`` (as in ``GET /v1/rounds/current?after=3:closing``)."""
    number, _, phase = text.partition(":")
    if not number.isdigit():
        raise ValueError(f"{text!r} is not NUMBER:PHASE")
    try:
        return int(number), RoundPhase(phase)
    except ValueError:
        raise ValueError(
            f"{phase!r} is not a round phase ({', '.join(p.value for p in RoundPhase)})"
        ) from None
