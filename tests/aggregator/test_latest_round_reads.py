"""GET /v1/rounds/current: clients that ask at the same moment share one database read."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

from fedledger_platform.aggregator.routers.round_views import LatestRoundCache


class _Reads:
    """Stands in for the database read (the rest of the cache is the code under test)."""

    def __init__(self, generation: list[int], fail_first: bool = False) -> None:
        self.count = 0
        self.generation = generation
        self.fail_first = fail_first
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self.count += 1
            count = self.count
        time.sleep(0.05)  # a read in a worker thread, long enough for the others to arrive
        if self.fail_first and count == 1:
            raise RuntimeError("database is locked")
        return f"round at generation {self.generation[0]}"


def _cache(generation: list[int], reads: _Reads) -> LatestRoundCache:
    db: Any = SimpleNamespace(generation=lambda *_tables: generation[0])
    return LatestRoundCache(db, read=reads)  # type: ignore[arg-type]


async def _ask(cache: LatestRoundCache, clients: int) -> list[Any]:
    calls = [cache.get() for _ in range(clients)]
    return await asyncio.gather(*calls, return_exceptions=True)


def test_concurrent_askers_share_one_read() -> None:
    generation = [7]
    reads = _Reads(generation)
    cache = _cache(generation, reads)
    answers = asyncio.run(_ask(cache, 10))
    assert answers == ["round at generation 7"] * 10 and reads.count == 1
    generation[0] = 8  # a write landed: the next askers read again, once
    answers = asyncio.run(_ask(cache, 5))
    assert answers == ["round at generation 8"] * 5 and reads.count == 2


def test_a_failed_read_is_not_kept() -> None:
    generation = [3]
    reads = _Reads(generation, fail_first=True)
    cache = _cache(generation, reads)
    answers = asyncio.run(_ask(cache, 4))
    assert all(isinstance(a, RuntimeError) for a in answers) and reads.count == 1
    # Same generation, but the failure is not the answer: the next asker reads again.
    assert asyncio.run(_ask(cache, 2)) == ["round at generation 3"] * 2 and reads.count == 2
