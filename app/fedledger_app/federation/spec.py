"""What :func:`~fedledger_app.federation.run_federation` runs and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from fedledger_clients.config import check_proximal_mu
from fedledger_clients.tasks import get_task
from fedledger_clients.tasks.base import Aggregation, State
from fedledger_clients.tasks.server_optimizer import ServerOptimizer
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import EMBEDDED, Deployment, Ledger, is_rpc_url

__all__ = ["FederationRun", "FederationSpec", "Progress", "RoundSummary", "check_spec"]

#: Receives the run's events: ``(kind, data)``, e.g. ``("round", {"round": 2, "phase": "open"})``.
Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class FederationSpec:
    """What to run."""

    task: str = "sentiment"
    clients: int = 8
    rounds: int = 5
    chain: str = "embedded"  # "embedded", "hardhat" (a node started here) or a devnet URL
    out: Path = Path("demo-out")
    seed: int = 0
    min_updates: int | None = None  # default: every participant
    round_timeout_s: int = 600
    clip_norm: float = 0.0
    local_epochs: int | None = None
    #: The next-model rule the round-0 model fixes for the federation (None: the task's default).
    server_optimizer: ServerOptimizer | None = None
    #: FedProx's ``mu`` in every participant's local training (0: plain local SGD).
    proximal_mu: float = 0.0
    evaluate: bool = True  # evaluate each published model on the task's test split
    #: Run each client daemon in its own process (not on the embedded chain, which lives in
    #: this process): no shared interpreter lock, as separate machines would be.
    client_processes: bool = False
    #: The caller owns this process (the demo and benchmark commands, not a test run): the
    #: aggregator exempts the long-lived heap — data, libraries — from the cyclic GC
    #: (:mod:`fedledger_platform.heap`), as `fedledger serve` does.
    freeze_heap: bool = False
    #: Pairwise masking of the updates (the ledger's ``masking()`` rule; on by default).
    masking: bool = True


@dataclass
class RoundSummary:
    """One round, as the chain and the participants saw it."""

    number: int
    participants: int
    round_metrics: dict[str, float]
    test_metrics: dict[str, float]
    aggregate_hash: str
    model_hash: str
    gas: dict[str, int]
    seconds: float


@dataclass
class FederationRun:
    """The outcome of :func:`run_federation`."""

    spec: FederationSpec
    deployment: Deployment
    rounds: list[RoundSummary]
    balances: dict[str, float]
    final_state: State
    setup_s: float
    wall_s: float
    chain_target: str
    aggregator_url: str
    auditor: LocalAccount
    ledger: Ledger
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def round_seconds(self) -> list[float]:
        """Wall time of each round, from opening to publication."""
        return [r.seconds for r in self.rounds]


def check_spec(spec: FederationSpec) -> None:
    """Refuse a spec that cannot run, before anything is started or written.

    Raises :class:`ConfigurationError` naming the offending field.
    """
    if spec.clients < 2:
        raise ConfigurationError(f"clients must be at least 2, got {spec.clients}")
    if spec.rounds < 1:
        raise ConfigurationError(f"rounds must be at least 1, got {spec.rounds}")
    if spec.min_updates is not None and not 1 <= spec.min_updates <= spec.clients:
        raise ConfigurationError(
            f"min_updates must be between 1 and clients ({spec.clients}), got {spec.min_updates}"
        )
    if spec.chain not in (EMBEDDED, "hardhat") and not is_rpc_url(spec.chain):
        raise ConfigurationError(
            f"chain {spec.chain!r} is neither 'embedded', 'hardhat' nor an http(s) JSON-RPC URL"
        )
    if spec.client_processes and spec.chain == EMBEDDED:
        raise ConfigurationError(
            "client processes need a chain outside this process: use chain='hardhat' or a URL"
        )
    if spec.out.exists() and not spec.out.is_dir():
        raise ConfigurationError(f"output folder {spec.out} exists and is not a folder")
    task = get_task(spec.task)  # an unknown task is named with the valid ones
    if spec.server_optimizer is not None and task.aggregation is not Aggregation.MEAN:
        raise ConfigurationError(
            f"the {spec.task} task sums statistics and has no model to optimize: leave "
            "server_optimizer unset"
        )
    check_proximal_mu(spec.task, spec.proximal_mu, where="proximal_mu")
