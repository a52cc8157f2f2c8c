"""The round policy: given what is known now, what the aggregator does next.

A pure function of its inputs (:func:`next_action`), so every rule of when a round opens,
closes, fails or is published is in one place and unit-tested transition by transition. The
coordinator (:mod:`fedledger_platform.aggregator.coordinator`) gathers the facts — from the
database, the chain and the clock, each only when the rule at hand reads it — and carries out
the action. The participant's side of the same lifecycle is :func:`participant_wait_past`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fedledger_platform.protocol.lifecycle import RoundPhase

__all__ = [
    "Action",
    "AdoptRound",
    "CloseRound",
    "FailRound",
    "LatestRound",
    "MarkPublished",
    "OpenRound",
    "RoundFacts",
    "RoundRules",
    "StartUnmasking",
    "Wait",
    "next_action",
    "participant_wait_past",
]


@dataclass(frozen=True)
class RoundRules:
    """The federation's round settings (``[rounds]`` in the aggregator's configuration)."""

    count: int  # rounds to open; 0: keep going
    min_updates: int
    timeout_s: int
    attestation_timeout_s: int
    reveal_timeout_s: int = 120  # an unmasking round whose reveals are not all in by then fails


@dataclass(frozen=True)
class LatestRound:
    """The aggregator's record of its latest round (what the policy reads of it)."""

    number: int
    phase: RoundPhase
    base_model_hash: str
    published_model_hash: str | None
    deadline: int
    min_updates: int
    closed_at: int | None
    unmasking_since: int | None = None  # when it entered ``unmasking`` (Unix s)


class RoundFacts(Protocol):
    """What the policy may read. Implementations compute each fact on first access, so a
    rule that does not need a fact costs no chain or database read."""

    @property
    def latest(self) -> LatestRound | None:
        """The aggregator's latest round (``None`` before the first)."""

    @property
    def chain_round(self) -> int:
        """The latest round opened on chain (``currentRound()``)."""

    @property
    def chain_phase(self) -> RoundPhase:
        """The latest round's phase on chain."""

    @property
    def accepted(self) -> int:
        """Updates accepted in the latest round."""

    @property
    def admitted(self) -> int:
        """Participants admitted on chain."""

    @property
    def masking(self) -> bool:
        """Whether the federation masks updates (the chain's ``masking()`` rule)."""

    @property
    def members(self) -> int:
        """The latest round's members: the participants admitted at its opening block (under
        masking, only they may submit)."""

    @property
    def reveals_missing(self) -> int:
        """Reveals the latest (unmasking) round still needs: one per surviving neighbour of
        each dropped member, less those received."""

    @property
    def deadline_passed(self) -> bool:
        """Whether the latest round's deadline has passed (by the wall or the chain clock)."""

    @property
    def now(self) -> int:
        """Wall-clock time, Unix seconds."""

    @property
    def open_time(self) -> int:
        """The time a round opened now starts from: the later of the wall and chain clocks."""

    @property
    def initial_model_hash(self) -> str | None:
        """The stored round-0 model's hash, if any."""

    @property
    def params_problem(self) -> str | None:
        """Why rounds cannot open yet for the CKKS parameters (``None``: committed, matching)."""


@dataclass(frozen=True)
class Wait:
    """Nothing to do until something changes; ``reason`` is shown in ``/v1/health``."""

    reason: str


@dataclass(frozen=True)
class AdoptRound:
    """The chain has a round the aggregator has not recorded (a crash after ``openRound``, or
    another replica): record it as the chain has it."""

    number: int


@dataclass(frozen=True)
class OpenRound:
    """Open round ``number`` on ``base_model_hash`` until ``deadline``."""

    number: int
    base_model_hash: str
    deadline: int
    min_updates: int


@dataclass(frozen=True)
class StartUnmasking:
    """Stop accepting updates (``unmasking``), record the members whose updates are missing as
    dropped, and collect their surviving neighbours' reveals."""

    number: int


@dataclass(frozen=True)
class CloseRound:
    """Stop accepting updates (``closing``), store the aggregate and close the round on chain."""

    number: int


@dataclass(frozen=True)
class MarkPublished:
    """The chain published the round's model: record it."""

    number: int


@dataclass(frozen=True)
class FailRound:
    """Give the round up; ``abandon``: also mark it failed on chain (not yet failed there)."""

    number: int
    reason: str
    abandon: bool = True


Action = Wait | AdoptRound | OpenRound | StartUnmasking | CloseRound | MarkPublished | FailRound


def next_action(facts: RoundFacts, rules: RoundRules) -> Action:
    """The one thing to do next for the federation's latest round."""
    latest = facts.latest
    if latest is None or latest.phase.final:
        # Before opening a round, adopt any the chain has and we do not.
        if facts.chain_round > (latest.number if latest else 0):
            return AdoptRound(facts.chain_round)
        return _open_next(facts, rules, latest)
    if latest.phase is RoundPhase.OPEN:
        return _close_or_fail(facts, latest)
    if latest.phase is RoundPhase.UNMASKING:
        return _unmasked(facts, rules, latest)
    if latest.phase is RoundPhase.CLOSING:
        return CloseRound(latest.number)  # resume a close a crash interrupted
    if latest.phase is RoundPhase.CLOSED:
        return _publication(facts, rules, latest)
    raise ValueError(f"round {latest.number} has phase {latest.phase}, which no round records")


def _open_next(facts: RoundFacts, rules: RoundRules, previous: LatestRound | None) -> Action:
    number = previous.number + 1 if previous else 1
    if rules.count and number > rules.count:
        return Wait(f"finished: {rules.count} rounds run")
    if previous is None:
        base = facts.initial_model_hash
        if base is None:
            return Wait("waiting for the initial model")
    elif previous.phase is RoundPhase.PUBLISHED and previous.published_model_hash:
        # The round after a published one trains on its model. It opens without waiting for
        # the bytes: every attester built them, and the publishing attester uploads them.
        base = previous.published_model_hash
    else:  # after a failed round, train again on the same base
        base = previous.base_model_hash
    problem = facts.params_problem
    if problem is not None:
        return Wait(problem)
    return OpenRound(
        number,
        base_model_hash=base,
        deadline=facts.open_time + rules.timeout_s,
        min_updates=rules.min_updates,
    )


def _close_or_fail(facts: RoundFacts, latest: LatestRound) -> Action:
    accepted = facts.accepted
    masking = facts.masking
    everyone = accepted >= (facts.members if masking else facts.admitted)
    expired = not everyone and facts.deadline_passed
    if accepted >= latest.min_updates and (everyone or expired):
        if masking and not everyone:
            # Members dropped out: their neighbours' masks are in the sum until revealed.
            return StartUnmasking(latest.number)
        return CloseRound(latest.number)
    if expired:
        return FailRound(
            latest.number,
            f"deadline passed with {accepted} of the {latest.min_updates} required updates",
        )
    return Wait(f"round {latest.number} open")


def _unmasked(facts: RoundFacts, rules: RoundRules, latest: LatestRound) -> Action:
    missing = facts.reveals_missing
    if missing == 0:
        return CloseRound(latest.number)
    since = latest.unmasking_since or 0
    if facts.now > since + rules.reveal_timeout_s:
        return FailRound(
            latest.number, f"{missing} mask reveals still missing at the reveal timeout"
        )
    return Wait(f"round {latest.number} unmasking: {missing} reveals missing")


def _publication(facts: RoundFacts, rules: RoundRules, latest: LatestRound) -> Action:
    on_chain = facts.chain_phase
    if on_chain is RoundPhase.PUBLISHED:
        return MarkPublished(latest.number)
    if on_chain is RoundPhase.FAILED:
        return FailRound(latest.number, "failed on chain", abandon=False)
    if latest.closed_at and facts.now > latest.closed_at + rules.attestation_timeout_s:
        return FailRound(latest.number, "no attestation quorum before the attestation timeout")
    return Wait(f"round {latest.number} awaiting attestations")


def participant_wait_past(
    number: int,
    phase: RoundPhase,
    *,
    uploaded: bool,
    finished: bool,
    last_round: int | None,
    masking: bool = False,
    revealed: bool = False,
) -> tuple[int, RoundPhase]:
    """The round state a participant waits past before it has something to do again.

    It last saw round ``number`` in ``phase``; ``uploaded``/``finished``/``revealed`` say what
    it did in that round, ``last_round`` is the federation's planned last round (``None``:
    unknown or open ended), ``masking`` whether the federation masks. Uploaded to an open
    round: closing it (the aggregator summing) needs nothing from the participant, so it waits
    until the round is closed or failed — under masking until the round moves on at all, as
    ``unmasking`` may ask it for reveals. In ``unmasking``, once it revealed (or if it has no
    update in the round: dropped, or not a member) it waits until the round is closed. Done
    with a round before the last: its publication needs nothing either, so it waits for the
    next round. Otherwise it wakes at any change.
    """
    if phase is RoundPhase.OPEN and uploaded and not finished:
        return (number, RoundPhase.OPEN if masking else RoundPhase.CLOSING)
    if phase is RoundPhase.UNMASKING and (revealed or not uploaded):
        return (number, RoundPhase.CLOSING)
    if phase is RoundPhase.CLOSED and finished and not (last_round and number >= last_round):
        return (number, RoundPhase.PUBLISHED)
    return (number, phase)
