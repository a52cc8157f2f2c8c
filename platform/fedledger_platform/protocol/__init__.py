"""The round protocol: the one lifecycle of a round, the policy that drives it, and the typed
rejections every role speaks (``docs/architecture.md`` shows where each rule lives)."""

from fedledger_platform.protocol.lifecycle import (
    TRANSITIONS,
    InvalidTransitionError,
    RoundPhase,
    check_transition,
    parse_position,
    position,
)
from fedledger_platform.protocol.policy import (
    Action,
    AdoptRound,
    CloseRound,
    FailRound,
    LatestRound,
    MarkPublished,
    OpenRound,
    RoundFacts,
    RoundRules,
    Wait,
    next_action,
    participant_wait_past,
)

__all__ = [
    "TRANSITIONS",
    "Action",
    "AdoptRound",
    "CloseRound",
    "FailRound",
    "InvalidTransitionError",
    "LatestRound",
    "MarkPublished",
    "OpenRound",
    "RoundFacts",
    "RoundPhase",
    "RoundRules",
    "Wait",
    "check_transition",
    "next_action",
    "parse_position",
    "participant_wait_past",
    "position",
]
