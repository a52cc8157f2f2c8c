"""What the dashboard shows: one immutable :class:`Snapshot` of a federation, read from the
chain (the source of truth for every state, hash, transaction and token) and the aggregator's
public REST API (sizes in bytes, the CKKS parameter set, the plan), with the auditor's
verdicts and the published models' test metrics.

Pages render a snapshot and never read the chain or the aggregator themselves: a page view
costs no chain or network request, however many people look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fedledger_platform.audit import CheckResult, RoundAudit
from fedledger_platform.protocol import RoundPhase

__all__ = [
    "AuditState",
    "Contribution",
    "Evaluation",
    "FederationFacts",
    "ModelMetrics",
    "RoundRow",
    "RoundVerdict",
    "Snapshot",
]


@dataclass(frozen=True)
class FederationFacts:
    """Where the federation lives and its parameters."""

    chain_id: int
    ledger: str
    token: str
    aggregator: str  # the base URL this dashboard reads
    rpc_url: str | None  # the chain's JSON-RPC URL, when it is reachable outside this process
    from_block: int  # the deployment block: where the event history starts
    block: int  # the block this snapshot was read at
    key_dealer: str | None
    parameters_hash: str | None  # committed on chain by the key dealer
    reward_per_update: int  # token base units
    quorum_bps: int
    params_id: str | None = None  # from the aggregator
    rounds_planned: int | None = None  # from the aggregator (0: no limit)
    min_updates: int | None = None  # from the aggregator


@dataclass(frozen=True)
class Contribution:
    """One participant's part in one round, from its ``UpdateCommitted`` event on."""

    participant: str
    commitment: str
    commit_tx: str
    commit_gas: int | None
    included: bool | None  # None while the round is not closed
    size: int | None  # bytes of the accepted upload, from the aggregator's list
    attested: str | None = None  # the model hash it attested
    attest_tx: str | None = None


@dataclass(frozen=True)
class RoundRow:
    """One round as the chain records it, with gas and bytes."""

    number: int
    state: RoundPhase
    deadline: int
    min_updates: int
    quorum: int
    base_model_hash: str
    aggregate_hash: str | None
    published_model_hash: str | None
    contributions: tuple[Contribution, ...]
    included: tuple[str, ...]
    transactions: Mapping[str, str]  # open, close, publish, fail: those that happened
    gas: Mapping[str, int]  # open, commits, close, attestations and total
    reward_per_update: int | None  # from RoundClosed
    failure_reason: str | None
    model_size: int | None = None  # bytes of the published model, from the aggregator
    # RoundClosed.dropped: the members of a masked round whose update was missing at the close
    # (their mask neighbours revealed the seeds they shared with them)
    dropped: tuple[str, ...] = ()

    @property
    def committed(self) -> tuple[str, ...]:
        """Participants that committed an update, in address order."""
        return tuple(c.participant for c in self.contributions)

    @property
    def left_out(self) -> tuple[str, ...]:
        """Participants that committed but were left out of the closed round's aggregate."""
        return tuple(c.participant for c in self.contributions if c.included is False)

    @property
    def update_bytes(self) -> int | None:
        """Bytes of the accepted uploads (None when the aggregator listed none)."""
        sizes = [c.size for c in self.contributions if c.size is not None]
        return sum(sizes) if sizes else None

    @property
    def attesters(self) -> tuple[str, ...]:
        """Participants that attested a model hash for the round."""
        return tuple(c.participant for c in self.contributions if c.attested is not None)


@dataclass(frozen=True)
class RoundVerdict:
    """The auditor's result for one round, when and at which chain state it was reached."""

    audit: RoundAudit
    checked_at: float  # Unix seconds
    block: int


@dataclass(frozen=True)
class AuditState:
    """The cached verdicts, or why there are none."""

    auditor: str | None  # the account audits sign with; None: audits are off
    reaudit_s: float
    rounds: Mapping[int, RoundVerdict] = field(default_factory=dict)
    federation_checks: tuple[CheckResult, ...] = ()
    notice: str | None = None  # why audits cannot run, or the last audit's error

    def verdict(self, number: int) -> RoundVerdict | None:
        """Round ``number``'s cached verdict, if any."""
        return self.rounds.get(number)


@dataclass(frozen=True)
class Evaluation:
    """A model's test metrics, as an evaluator computed them.

    ``values`` lists the curve-worthy metrics, ``headline`` first; ``test_set`` says what they
    were measured on.
    """

    task: str
    values: Mapping[str, float]
    headline: str
    higher_is_better: bool
    test_set: str


@dataclass(frozen=True)
class ModelMetrics:
    """A published model's evaluation, or why there is none."""

    model_hash: str
    evaluation: Evaluation | None
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything the pages show, read at one moment; ``version`` grows with every change."""

    version: int
    taken_at: float
    federation: FederationFacts | None  # None until the first read succeeded
    rounds: tuple[RoundRow, ...] = ()
    participants: tuple[str, ...] = ()  # admitted now
    balances: Mapping[str, int] = field(default_factory=dict)  # from the token's Transfer log
    supply: int = 0
    audits: AuditState = field(default_factory=lambda: AuditState(None, 0.0))
    metrics: Mapping[str, ModelMetrics] = field(default_factory=dict)  # by model hash
    metrics_notice: str | None = None
    problems: tuple[str, ...] = ()  # what could not be read this time (chain, aggregator)

    def round(self, number: int) -> RoundRow | None:
        """Round ``number``, if the chain has opened it."""
        for row in self.rounds:
            if row.number == number:
                return row
        return None
