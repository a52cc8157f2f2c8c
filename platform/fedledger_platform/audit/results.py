"""What an audit establishes, and its JSON: the status of each check, the verdict of each round,
the report of a whole audit, plus the small pure rules they are stated with (the quorum rule,
token amounts, round ranges)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fedledger_platform.protocol import RoundPhase

__all__ = [
    "CHECKS",
    "AuditReport",
    "CheckResult",
    "CheckStatus",
    "RoundAudit",
    "Verdict",
    "by_address",
    "parse_rounds",
    "quorum_for",
    "short",
    "tokens",
]

_BPS = 10_000
_AUDIT_FORMAT = 1

#: Every check the auditor runs, by id, with what passing means.
CHECKS: dict[str, str] = {
    "round": "the round's state on chain",
    "base_model": "the served base model hashes to the on-chain base model hash",
    "parameters": "the served CKKS parameters hash to the on-chain encryptionParamsHash",
    "update": "the stored update hashes to its on-chain commitment",
    "left_out": "every participant that committed an update was included, or dropped from a "
    "masked round with all its reveals",
    "dropped": "the round's dropped members are its members (admitted at its opening block) "
    "less the included ones",
    "reveals": "every reveal's DLEQ proof verifies against both on-chain keys, exactly the "
    "required pairs are revealed, and they hash to the on-chain correctionsHash",
    "aggregate": "the recomputed homomorphic sum (with the dropouts' correction) hashes to the "
    "on-chain aggregate hash",
    "served_aggregate": "the served aggregate hashes to the on-chain aggregate hash",
    "rewards": "the close transaction minted the reward to each included participant only",
    "quorum": "the published model reached the attestation quorum",
    "model": "the served model bytes hash to the published model hash",
    "served_round": "the round the aggregator serves (phase, hashes, participants, "
    "transactions) is the round on chain",
    "latest_model": "the latest model the aggregator serves is the chain's latest publication",
    "token_supply": "the token supply equals the rewards of every closed round",
    "balances": "every token balance follows from its mints and transfers",
}


class CheckStatus(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # suspicious but within the protocol (e.g. a dissenting attestation)
    SKIP = "skip"  # not applicable yet (round open, awaiting attestations, failed round)


class Verdict(enum.StrEnum):
    """What the audit concludes about one round."""

    PASS = "pass"  # published, and every check passed
    FAIL = "fail"  # at least one check failed
    PENDING = "pending"  # open, or closed and awaiting attestations; nothing failed so far
    ROUND_FAILED = "round-failed"  # abandoned on chain (RoundFailed); nothing failed


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome with its evidence (JSON-friendly values: str, int, bool, lists)."""

    check: str
    status: CheckStatus
    message: str
    round_number: int | None = None
    participant: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """What the check verifies."""
        return CHECKS.get(self.check, self.check)

    def line(self) -> str:
        """One line naming the round and participant, e.g. for logs and the terminal."""
        where = f"round {self.round_number}" if self.round_number is not None else "federation"
        who = f" participant {self.participant}" if self.participant else ""
        return f"{self.status.upper()} {where} {self.check}{who}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The check as a JSON object."""
        return {
            "check": self.check,
            "status": str(self.status),
            "round": self.round_number,
            "participant": self.participant,
            "message": self.message,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class RoundAudit:
    """Everything the audit established about one round."""

    number: int
    state: RoundPhase
    checks: tuple[CheckResult, ...]
    base_model_hash: str
    deadline: int
    min_updates: int
    aggregate_hash: str | None = None
    published_model_hash: str | None = None
    committed: tuple[str, ...] = ()
    included: tuple[str, ...] = ()
    quorum: int = 0
    reward_per_update: int | None = None
    transactions: Mapping[str, str] = field(default_factory=dict)
    failure_reason: str | None = None

    @property
    def failures(self) -> list[CheckResult]:
        """Checks that failed."""
        return [c for c in self.checks if c.status is CheckStatus.FAIL]

    @property
    def verdict(self) -> Verdict:
        """Fail if any check failed; else by state."""
        if self.failures:
            return Verdict.FAIL
        if self.state is RoundPhase.FAILED:
            return Verdict.ROUND_FAILED
        if self.state is RoundPhase.PUBLISHED:
            return Verdict.PASS
        return Verdict.PENDING

    def to_json(self) -> dict[str, Any]:
        """The round as a JSON object, with every check."""
        return {
            "round": self.number,
            "state": str(self.state),
            "verdict": str(self.verdict),
            "base_model_hash": self.base_model_hash,
            "aggregate_hash": self.aggregate_hash,
            "published_model_hash": self.published_model_hash,
            "deadline": self.deadline,
            "min_updates": self.min_updates,
            "committed": list(self.committed),
            "included": list(self.included),
            "quorum": self.quorum,
            "reward_per_update": (
                str(self.reward_per_update) if self.reward_per_update is not None else None
            ),
            "transactions": dict(self.transactions),
            "failure_reason": self.failure_reason,
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class AuditReport:
    """The result of one audit: per-round results plus federation-wide checks."""

    chain_id: int
    ledger: str
    token: str
    aggregator: str
    auditor: str
    block_number: int
    from_block: int
    current_round: int
    first_round: int
    last_round: int
    quorum_bps: int
    params_id: str | None
    parameters_hash: str | None
    rounds: tuple[RoundAudit, ...]
    federation_checks: tuple[CheckResult, ...]
    started_at: float
    duration_s: float
    #: Seconds per phase: ``setup``, ``events`` (reading the log), ``rounds``, ``federation``.
    timings_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[CheckResult]:
        """Every failed check, federation-wide ones first."""
        found = [c for c in self.federation_checks if c.status is CheckStatus.FAIL]
        for r in self.rounds:
            found.extend(r.failures)
        return found

    @property
    def ok(self) -> bool:
        """Whether no check failed."""
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0 when everything passed, 1 when any check failed."""
        return 0 if self.ok else 1

    def counts(self) -> dict[str, dict[str, int]]:
        """How many rounds got each verdict and how many checks got each status."""
        verdicts = {str(v): 0 for v in Verdict}
        statuses = {str(s): 0 for s in CheckStatus}
        for r in self.rounds:
            verdicts[str(r.verdict)] += 1
            for c in r.checks:
                statuses[str(c.status)] += 1
        for c in self.federation_checks:
            statuses[str(c.status)] += 1
        return {"rounds": verdicts, "checks": statuses}

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object: a summary, federation checks, one object per round."""
        return {
            "fedledger_audit": _AUDIT_FORMAT,
            "ok": self.ok,
            "chain_id": self.chain_id,
            "ledger": self.ledger,
            "token": self.token,
            "aggregator": self.aggregator,
            "auditor": self.auditor,
            "block_number": self.block_number,
            "from_block": self.from_block,
            "current_round": self.current_round,
            "rounds_audited": [self.first_round, self.last_round] if self.rounds else [],
            "quorum_bps": self.quorum_bps,
            "params_id": self.params_id,
            "parameters_hash": self.parameters_hash,
            "started_at": round(self.started_at, 3),
            "duration_s": round(self.duration_s, 3),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "summary": self.counts(),
            "failures": [c.to_json() for c in self.failures],
            "federation": {"checks": [c.to_json() for c in self.federation_checks]},
            "rounds": [r.to_json() for r in self.rounds],
        }


def parse_rounds(text: str) -> tuple[int, int | None]:
    """``"N"``, ``"A..B"``, ``"A.."`` or ``"..B"`` as ``(first, last)`` (``last`` may be open).

    Raises ``ValueError`` naming the problem.
    """
    value = text.strip()
    if not value:
        raise ValueError("--rounds is empty: expected N, A..B, A.. or ..B")
    if ".." in value:
        left, _, right = value.partition("..")
    else:
        left = right = value
    try:
        first = int(left) if left.strip() else 1
        last = int(right) if right.strip() else None
    except ValueError:
        raise ValueError(f"--rounds {text!r}: expected N, A..B, A.. or ..B") from None
    if first < 1 or (last is not None and last < first):
        raise ValueError(f"--rounds {text!r}: rounds start at 1 and A must not exceed B")
    return first, last


def quorum_for(included: int, quorum_bps: int) -> int:
    """The contract's quorum rule: ``max(1, ceil(included × quorumBps / 10000))``."""
    return max(1, (included * quorum_bps + _BPS - 1) // _BPS)


def tokens(amount: int) -> str:
    """A token amount in base units (10⁻¹⁸) as whole tokens, e.g. ``1.5 FLC``."""
    whole, frac = divmod(amount, 10**18)
    text = f"{whole}.{frac:018d}".rstrip("0").rstrip(".") if frac else str(whole)
    return f"{text} FLC"


def short(text: str) -> str:
    """A hash shortened for a message, e.g. ``0x0bdd9216…``; the evidence keeps it whole."""
    return text[:10] + "…" if len(text) > 12 else text


def by_address(addresses: Iterable[str]) -> list[str]:
    """Addresses in numeric order, the order every per-participant list of a report uses."""
    return sorted(addresses, key=lambda a: int(a, 16))
