"""The task contract: what a federated application provides to the round protocol.

A task bundles a model (or analytics state), a loader for one participant's private data,
local training, and the rule that turns the decrypted aggregate into the next global state.
The transport (encryption, chain, REST) never appears here: the daemon, the plaintext FedAvg
simulation and the centralized baseline all drive the same task code, so the three differ only
in how the per-client results are combined.

Round protocol, as seen by a task:

1. every client gets the round's global state (``dict[str, Tensor]``, the *shared* tensors);
2. ``local_update`` trains (or counts) on the client's private data and returns a
   :class:`LocalResult`: the tensors to aggregate, the client's weight and metric sums;
3. the platform sums ``weight * update`` (``Aggregation.MEAN``) or ``update``
   (``Aggregation.SUM``) across clients under encryption, together with the weights and the
   metric sums, and decrypts only the totals;
4. ``next_state`` builds the new global state from the old one and the decrypted
   :class:`AggregateResult`.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

State = dict[str, torch.Tensor]


class Aggregation(enum.Enum):
    """How the platform combines the clients' update tensors."""

    MEAN = "mean"  # FedAvg: sum(weight_k * update_k) / sum(weight_k)
    SUM = "sum"  # federated analytics: sum(update_k), weights are only counted


@dataclass(frozen=True)
class LocalResult:
    """What one client contributes to one round.

    ``update`` holds exactly the keys and shapes of the task's shared state (for ``MEAN`` tasks
    the change ``local - global``; for ``SUM`` tasks the local statistic itself). ``weight`` is
    the client's sample count. ``metrics`` are *sums* over the client's held-out split
    (for example ``correct``, ``total``, ``loss_sum``) with the keys in ``Task.metric_names``;
    they are aggregated like the update, so only federation-wide totals are ever revealed.
    """

    update: State
    weight: int
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AggregateResult:
    """The decrypted totals of one round.

    For ``MEAN`` tasks ``update`` is the weighted mean of the clients' updates; for ``SUM`` tasks
    it is their plain sum. ``total_weight`` is the sum of the weights, ``metrics`` the summed
    metric sums and ``contributors`` the number of included clients.
    """

    update: State
    total_weight: float
    metrics: Mapping[str, float]
    contributors: int


@dataclass(frozen=True)
class ClientData:
    """One participant's private data: a training split and a held-out evaluation split.

    ``train`` and ``heldout`` are task-specific objects (tensors, lists of posts, ...);
    ``num_train`` is the sample count used as the FedAvg weight.
    """

    client_id: str
    train: object
    heldout: object
    num_train: int


@dataclass(frozen=True)
class TrainConfig:
    """Local training settings shared by every client of a federation.

    ``proximal_mu`` > 0 turns local training into FedProx (Li et al., 2020): the local objective
    gains ``mu/2 · |w − w_global|²``, which keeps a client with skewed data near the global model.
    """

    local_epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.1
    seed: int = 0
    proximal_mu: float = 0.0

    def __post_init__(self) -> None:
        if self.local_epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"local_epochs and batch_size must be >= 1, got {self.local_epochs}, "
                f"{self.batch_size}"
            )
        if not (self.learning_rate >= 0 and self.proximal_mu >= 0):  # NaN fails too
            raise ValueError(
                f"learning_rate and proximal_mu must be >= 0, got {self.learning_rate}, "
                f"{self.proximal_mu}"
            )


class Task(ABC):
    """A federated application: model factory, data loader, train/evaluate, aggregation rule."""

    #: short name used on the command line (``--task sentiment``)
    name: str
    #: how updates are combined
    aggregation: Aggregation
    #: names of the metric sums each client reports (order is the encoding order)
    metric_names: tuple[str, ...]
    #: the metric shown per round (e.g. ``accuracy``, ``rmse``, ``top50_overlap``)
    headline_metric: str
    #: whether a larger headline metric is better
    higher_is_better: bool
    #: whether local training honours ``TrainConfig.proximal_mu`` (FedProx); for a task that
    #: does not, the client configuration and the federation spec refuse ``proximal_mu > 0``
    supports_proximal_term: bool = False

    def default_config(self) -> TrainConfig:
        """The task's recommended local training settings (the measured defaults)."""
        return TrainConfig()

    def default_rounds(self) -> int:
        """The number of rounds the task's defaults are tuned for."""
        return 5

    @abstractmethod
    def initial_state(self, *, seed: int) -> State:
        """The global state before round 1, identical for every caller with the same seed."""

    @abstractmethod
    def load_clients(
        self, *, num_clients: int, seed: int, cache_dir: Path | None = None
    ) -> list[ClientData]:
        """Partition the task's public data set into ``num_clients`` private client shards.

        Deterministic for a given ``(num_clients, seed)``. Raises
        ``fedledger_clients.data.DatasetUnavailableError`` when the data cannot be fetched.
        """

    @abstractmethod
    def load_test_set(self, *, seed: int, cache_dir: Path | None = None) -> object:
        """The fixed held-out test split used to compare federated and centralized training."""

    @abstractmethod
    def local_update(
        self,
        global_state: State,
        data: ClientData,
        *,
        round_number: int,
        config: TrainConfig,
        private_dir: Path | None = None,
    ) -> LocalResult:
        """Train (or count) on one client's data, starting from ``global_state``.

        ``private_dir`` is a per-client folder for state that never leaves the client (the user
        embeddings of the recommendation task); ``None`` keeps such state in memory only.
        Deterministic for a given ``(global_state, data, round_number, config.seed)``.
        """

    @abstractmethod
    def next_state(self, global_state: State, aggregate: AggregateResult) -> State:
        """The next global state, from the current one and the decrypted aggregate."""

    @abstractmethod
    def evaluate(self, state: State, test_set: object) -> dict[str, float]:
        """Evaluate a global state on a test split; returns at least ``headline_metric``."""

    @abstractmethod
    def round_metrics(self, aggregate: AggregateResult) -> dict[str, float]:
        """Federation-wide metrics of a round from the summed metric sums (e.g. accuracy)."""

    @abstractmethod
    def train_centralized(
        self, clients: list[ClientData], *, config: TrainConfig, epochs: int
    ) -> State:
        """Centralized baseline: the same model trained on the union of the clients' train data."""
