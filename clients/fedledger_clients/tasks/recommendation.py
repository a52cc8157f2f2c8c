"""``recommendation``: federated matrix factorization on MovieLens 100k.

Data: the 100,000 ratings carried by ``recbole`` (:mod:`fedledger_clients.data.movielens`). A
fixed 20 % of every user's ratings form the test split. Clients are real groups of users: the
943 users, in user-id order, are cut into ``num_clients`` contiguous groups (one client per user
is ``num_clients=943``). A client trains on its users' training ratings and keeps its users'
test ratings as its held-out split, so the round metrics are the federation's test RMSE.

Model: ``r̂(u, i) = μ + b_u + b_i + p_u · q_i``, trained by minibatch SGD on the squared error
with L2 regularisation. Only the **item side** (``q``, ``b_i``, ``μ``: :data:`ITEM_SIDE_KEYS`) is
shared and averaged; the user side (``p_u``, ``b_u``) never leaves the client: it lives in
``private_dir`` (a safetensors file) between rounds, or in this task object's memory when no
folder is given.
The next item side is computed by the server optimizer recorded in the state (default
FedAvgM, see :mod:`.server_optimizer`).

:meth:`RecommendationTask.evaluate` needs no user factors: it *folds in* each test user, i.e.
fits ``p_u, b_u`` by ridge regression on the user's own training ratings with the published item
side fixed, exactly what a model consumer does on their device, then predicts the held-out
ratings.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file, save_file

from fedledger_clients.data.movielens import (
    NUM_ITEMS,
    NUM_USERS,
    Ratings,
    load_ratings,
    split_ratings,
)
from fedledger_clients.tasks import _training
from fedledger_clients.tasks.base import (
    AggregateResult,
    Aggregation,
    ClientData,
    LocalResult,
    State,
    Task,
    TrainConfig,
)
from fedledger_clients.tasks.server_optimizer import ServerOptimizer, apply_server_rule

__all__ = [
    "ITEM_SIDE_KEYS",
    "USER_SIDE_KEYS",
    "ClientRatings",
    "RecommendationTask",
    "RecommendationTestSet",
    "is_item_side_key",
]

#: the shared (aggregated) tensors
ITEM_SIDE_KEYS: tuple[str, ...] = ("item_embedding", "item_bias", "global_bias")
#: the private tensors, which never leave a client
USER_SIDE_KEYS: tuple[str, ...] = ("user_embedding", "user_bias")
_PRIVATE_FILE = "recommendation-users.safetensors"


def is_item_side_key(key: str) -> bool:
    """Whether a state/update key is an item-side (shareable) parameter."""
    return key in ITEM_SIDE_KEYS


@dataclass(frozen=True)
class ClientRatings:
    """A client's users (global 0-based ids, ascending) and their ratings."""

    users: npt.NDArray[np.int64]
    ratings: Ratings

    def local_users(self) -> torch.Tensor:
        """Each rating's user as an index into ``users``."""
        return torch.from_numpy(np.searchsorted(self.users, self.ratings.user))


@dataclass(frozen=True)
class RecommendationTestSet:
    """The fixed test ratings, and the training ratings used to fold test users in."""

    train: Ratings
    test: Ratings


@dataclass
class _UserFactors:
    users: npt.NDArray[np.int64]
    embedding: torch.Tensor
    bias: torch.Tensor


#: the measured default next-model rule (see docs/tasks.md): momentum speeds up the item side
DEFAULT_SERVER_OPTIMIZER = ServerOptimizer("fedavgm", learning_rate=1.0, beta1=0.5)


class RecommendationTask(Task):
    """Biased matrix factorization with user factors kept on the clients."""

    name = "recommendation"
    aggregation = Aggregation.MEAN
    metric_names = ("squared_error_sum", "absolute_error_sum", "count")
    headline_metric = "rmse"
    higher_is_better = False

    def __init__(
        self,
        *,
        factors: int = 32,
        regularization: float = 0.12,
        init_std: float = 0.1,
        fold_in_regularization: float = 5.0,
        server_optimizer: ServerOptimizer | None = None,
    ) -> None:
        self.factors = factors
        self.server_optimizer = server_optimizer or DEFAULT_SERVER_OPTIMIZER
        self.regularization = regularization
        self.init_std = init_std
        self.fold_in_regularization = fold_in_regularization
        self._memory: dict[str, _UserFactors] = {}
        self._memory_lock = threading.Lock()

    def default_config(self) -> TrainConfig:
        return TrainConfig(local_epochs=5, batch_size=64, learning_rate=0.01, seed=0)

    def default_rounds(self) -> int:
        return 20

    # -- model ------------------------------------------------------------------------------------

    def initial_state(self, *, seed: int) -> State:
        gen = _training.generator("recommendation/init", seed)
        item = {
            "item_embedding": torch.randn(NUM_ITEMS, self.factors, generator=gen) * self.init_std,
            "item_bias": torch.zeros(NUM_ITEMS),
            "global_bias": torch.full((1,), 3.0),  # the middle of the 1-5 star scale
        }
        return self.server_optimizer.initial_state(item)

    # -- data -------------------------------------------------------------------------------------

    def load_clients(
        self, *, num_clients: int, seed: int, cache_dir: Path | None = None
    ) -> list[ClientData]:
        """Contiguous user-id groups; the partition does not depend on ``seed``."""
        if not 1 <= num_clients <= NUM_USERS:
            raise ValueError(f"num_clients must be between 1 and {NUM_USERS}, got {num_clients}")
        train, test = split_ratings(load_ratings(cache_dir))
        clients = []
        for k, users in enumerate(np.array_split(np.arange(NUM_USERS), num_clients)):
            lo, hi = int(users[0]), int(users[-1])
            mine_train = np.flatnonzero((train.user >= lo) & (train.user <= hi))
            mine_test = np.flatnonzero((test.user >= lo) & (test.user <= hi))
            clients.append(
                ClientData(
                    client_id=f"client-{k:03d}",
                    train=ClientRatings(users, train.subset(mine_train)),
                    heldout=ClientRatings(users, test.subset(mine_test)),
                    num_train=len(mine_train),
                )
            )
        return clients

    def load_test_set(self, *, seed: int, cache_dir: Path | None = None) -> RecommendationTestSet:
        """The fixed per-user 20 % test split (independent of ``seed``)."""
        train, test = split_ratings(load_ratings(cache_dir))
        return RecommendationTestSet(train=train, test=test)

    # -- private user factors ---------------------------------------------------------------------

    def _load_users(
        self, data: ClientData, config: TrainConfig, private_dir: Path | None
    ) -> _UserFactors:
        users = _as_client_ratings(data.train).users
        stored: _UserFactors | None = None
        if private_dir is None:
            with self._memory_lock:
                stored = self._memory.get(data.client_id)
        elif (private_dir / _PRIVATE_FILE).is_file():
            tensors = load_file(private_dir / _PRIVATE_FILE)
            stored = _UserFactors(
                tensors["user_ids"].numpy(), tensors["user_embedding"], tensors["user_bias"]
            )
        if (
            stored is not None
            and np.array_equal(stored.users, users)
            and stored.embedding.shape == (len(users), self.factors)
        ):
            return stored
        gen = _training.generator("recommendation/users", config.seed, data.client_id)
        embedding = torch.randn(len(users), self.factors, generator=gen) * self.init_std
        return _UserFactors(users, embedding, torch.zeros(len(users)))

    def _store_users(self, client_id: str, factors: _UserFactors, private_dir: Path | None) -> None:
        if private_dir is None:
            with self._memory_lock:
                self._memory[client_id] = factors
            return
        private_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".users-", suffix=".tmp", dir=private_dir)
        os.close(fd)
        try:
            save_file(
                {
                    "user_ids": torch.from_numpy(np.ascontiguousarray(factors.users)),
                    "user_embedding": factors.embedding.contiguous(),
                    "user_bias": factors.bias.contiguous(),
                },
                tmp,
            )
            Path(tmp).replace(private_dir / _PRIVATE_FILE)
        finally:
            Path(tmp).unlink(missing_ok=True)

    # -- training ---------------------------------------------------------------------------------

    def _sgd(
        self,
        item: State,
        user_embedding: torch.Tensor,
        user_bias: torch.Tensor,
        users: torch.Tensor,
        ratings: Ratings,
        *,
        epochs: int,
        config: TrainConfig,
        gen: torch.Generator,
    ) -> None:
        """In-place minibatch SGD on ``(r - r̂)² + reg·(|p_u|² + |q_i|² + b_u² + b_i²)``.

        Gradients are summed over a minibatch (not averaged), so ``learning_rate`` is the
        per-rating step size of classic MF SGD (Funk / Surprise ``SVD``).
        """
        q, bi, mu = item["item_embedding"], item["item_bias"], item["global_bias"]
        p, bu = user_embedding, user_bias
        items = torch.from_numpy(ratings.item)
        target = torch.from_numpy(ratings.rating)
        lr, reg = config.learning_rate, self.regularization
        for _ in range(epochs):
            for rows in _training.minibatches(len(target), config.batch_size, gen):
                u, i = users[rows], items[rows]

                pu, qi = p[u], q[i]
                err = target[rows] - (mu + bu[u] + bi[i] + (pu * qi).sum(dim=1))
                e = err.unsqueeze(1)
                p.index_add_(0, u, lr * (e * qi - reg * pu))
                q.index_add_(0, i, lr * (e * pu - reg * qi))
                bu.index_add_(0, u, lr * (err - reg * bu[u]))
                bi.index_add_(0, i, lr * (err - reg * bi[i]))
                mu += lr * err.mean()

    @staticmethod
    def _error_sums(
        item: State,
        user_embedding: torch.Tensor,
        user_bias: torch.Tensor,
        users: torch.Tensor,
        ratings: Ratings,
    ) -> dict[str, float]:
        items = torch.from_numpy(ratings.item)
        pred = (
            item["global_bias"]
            + user_bias[users]
            + item["item_bias"][items]
            + (user_embedding[users] * item["item_embedding"][items]).sum(dim=1)
        )
        err = torch.from_numpy(ratings.rating) - pred.clamp(1.0, 5.0)
        return {
            "squared_error_sum": float((err.double() ** 2).sum()),
            "absolute_error_sum": float(err.double().abs().sum()),
            "count": float(len(ratings)),
        }

    def local_update(
        self,
        global_state: State,
        data: ClientData,
        *,
        round_number: int,
        config: TrainConfig,
        private_dir: Path | None = None,
    ) -> LocalResult:
        """Test error of the received item side with the client's user factors, then local SGD.

        The returned update holds the item-side keys only; the user factors are saved privately.
        """
        if config.proximal_mu:
            raise ValueError(
                "the recommendation task has no FedProx term; set proximal_mu to 0 (its user "
                "factors are private, so only the item side could be anchored)"
            )
        train, heldout = _as_client_ratings(data.train), _as_client_ratings(data.heldout)
        factors = self._load_users(data, config, private_dir)
        item = {key: global_state[key].detach().clone() for key in ITEM_SIDE_KEYS}
        metrics = self._error_sums(
            item, factors.embedding, factors.bias, heldout.local_users(), heldout.ratings
        )
        embedding, bias = factors.embedding.clone(), factors.bias.clone()
        gen = _training.generator("recommendation/train", config.seed, round_number, data.client_id)
        self._sgd(
            item,
            embedding,
            bias,
            train.local_users(),
            train.ratings,
            epochs=config.local_epochs,
            config=config,
            gen=gen,
        )
        self._store_users(data.client_id, _UserFactors(factors.users, embedding, bias), private_dir)
        update = _training.subtract_state(item, {k: global_state[k] for k in ITEM_SIDE_KEYS})
        return LocalResult(update=update, weight=data.num_train, metrics=metrics)

    def client_error_sums(
        self,
        state: State,
        data: ClientData,
        *,
        config: TrainConfig,
        private_dir: Path | None = None,
    ) -> dict[str, float]:
        """A client's held-out error sums for ``state`` with its current private user factors."""
        heldout = _as_client_ratings(data.heldout)
        factors = self._load_users(data, config, private_dir)
        return self._error_sums(
            state, factors.embedding, factors.bias, heldout.local_users(), heldout.ratings
        )

    def next_state(self, global_state: State, aggregate: AggregateResult) -> State:
        """The server rule recorded in the state (FedAvg, FedAvgM or FedAdam), in float32."""
        return apply_server_rule(global_state, aggregate.update)

    def fold_in(self, state: State, ratings: Ratings) -> tuple[torch.Tensor, torch.Tensor]:
        """User factors ``(p, b_u)`` for all users, fitted by ridge regression on ``ratings``.

        Solves ``min Σ (r - μ - b_i - b_u - p_u·q_i)² + λ (|p_u|² + b_u²)`` per user in closed form
        with the item side fixed (λ = ``fold_in_regularization``).
        """
        q, bi, mu = (
            state["item_embedding"].double(),
            state["item_bias"].double(),
            state["global_bias"].double(),
        )
        items = torch.from_numpy(ratings.item)
        users = torch.from_numpy(ratings.user)
        x = torch.cat([q[items], torch.ones(len(items), 1, dtype=torch.float64)], dim=1)
        y = torch.from_numpy(ratings.rating).double() - mu - bi[items]
        dim = self.factors + 1
        gram = torch.zeros(NUM_USERS, dim, dim, dtype=torch.float64)
        for start in range(0, len(items), 8192):
            xc = x[start : start + 8192]
            gram.index_add_(0, users[start : start + 8192], xc.unsqueeze(2) * xc.unsqueeze(1))
        rhs = torch.zeros(NUM_USERS, dim, dtype=torch.float64).index_add_(
            0, users, x * y.unsqueeze(1)
        )
        gram += self.fold_in_regularization * torch.eye(dim, dtype=torch.float64)
        solution = torch.linalg.solve(gram, rhs)
        return solution[:, :-1].float(), solution[:, -1].float()

    def evaluate(self, state: State, test_set: object) -> dict[str, float]:
        """Test ``rmse``/``mae`` with folded-in users (and with the state's own, if any)."""
        if not isinstance(test_set, RecommendationTestSet):
            raise TypeError(f"expected a RecommendationTestSet, got {type(test_set).__name__}")
        item = {key: state[key] for key in ITEM_SIDE_KEYS}
        users = torch.from_numpy(test_set.test.user)
        embedding, bias = self.fold_in(item, test_set.train)
        sums = self._error_sums(item, embedding, bias, users, test_set.test)
        metrics = {
            "rmse": math.sqrt(sums["squared_error_sum"] / sums["count"]),
            "mae": sums["absolute_error_sum"] / sums["count"],
        }
        if all(key in state for key in USER_SIDE_KEYS):
            trained = self._error_sums(
                item, state["user_embedding"], state["user_bias"], users, test_set.test
            )
            metrics["rmse_trained_users"] = math.sqrt(
                trained["squared_error_sum"] / trained["count"]
            )
        return metrics

    def round_metrics(self, aggregate: AggregateResult) -> dict[str, float]:
        count = aggregate.metrics.get("count", 0.0)
        if count <= 0:
            return {"rmse": math.nan, "mae": math.nan, "loss": math.nan, "count": 0.0}
        mse = aggregate.metrics["squared_error_sum"] / count
        return {
            "rmse": math.sqrt(mse),
            "mae": aggregate.metrics["absolute_error_sum"] / count,
            # The squared-error term of the training objective, on the held-out ratings.
            "loss": mse,
            "count": count,
        }

    def train_centralized(
        self, clients: list[ClientData], *, config: TrainConfig, epochs: int
    ) -> State:
        """The same MF trained on all clients' ratings: the item side plus every user's factors."""
        parts = [_as_client_ratings(c.train).ratings for c in clients]
        pooled = Ratings(
            np.concatenate([p.user for p in parts]),
            np.concatenate([p.item for p in parts]),
            np.concatenate([p.rating for p in parts]),
        )
        state = {
            k: v for k, v in self.initial_state(seed=config.seed).items() if k in ITEM_SIDE_KEYS
        }
        gen = _training.generator("recommendation/users", config.seed, "centralized")
        embedding = torch.randn(NUM_USERS, self.factors, generator=gen) * self.init_std
        bias = torch.zeros(NUM_USERS)
        gen = _training.generator("recommendation/centralized", config.seed)
        self._sgd(
            state,
            embedding,
            bias,
            torch.from_numpy(pooled.user),
            pooled,
            epochs=epochs,
            config=config,
            gen=gen,
        )
        return {**state, "user_embedding": embedding, "user_bias": bias}


def _as_client_ratings(value: object) -> ClientRatings:
    if not isinstance(value, ClientRatings):
        raise TypeError(
            f"the recommendation task expects ClientRatings, got {type(value).__name__}"
        )
    return value
