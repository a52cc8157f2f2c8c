"""GET /v1/rounds/current: clients that ask at the same moment share one database read."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from fedledger_platform.aggregator.routers import rounds


class _Reads:
    """Stands in for the database read (the rest of `_latest_round` is the code under test)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.count = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()

    def __call__(self, service: Any, version: int) -> str:
        with self._lock:
            self.count += 1
            count = self.count
        time.sleep(0.05)  # a read in a worker thread, long enough for the others to arrive
        if self.fail_first and count == 1:
            raise RuntimeError("database is locked")
        return f"round at generation {version}"


def _service(generation: list[int]) -> Any:
    return SimpleNamespace(
        db=SimpleNamespace(generation=lambda *_tables: generation[0]),
        latest_round_view=None,
        latest_round_read=None,
    )


async def _ask(service: Any, clients: int) -> list[Any]:
    calls = [rounds._latest_round(service) for _ in range(clients)]
    return await asyncio.gather(*calls, return_exceptions=True)


def test_concurrent_askers_share_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _Reads()
    monkeypatch.setattr(rounds, "_read_latest_round", reads)
    generation = [7]
    service = _service(generation)
    answers = asyncio.run(_ask(service, 10))
    assert answers == ["round at generation 7"] * 10 and reads.count == 1
    generation[0] = 8  # a write landed: the next askers read again, once
    answers = asyncio.run(_ask(service, 5))
    assert answers == ["round at generation 8"] * 5 and reads.count == 2


def test_a_failed_read_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _Reads(fail_first=True)
    monkeypatch.setattr(rounds, "_read_latest_round", reads)
    service = _service([3])
    answers = asyncio.run(_ask(service, 4))
    assert all(isinstance(a, RuntimeError) for a in answers) and reads.count == 1
    # Same generation, but the failure is not the answer: the next asker reads again.
    assert asyncio.run(_ask(service, 2)) == ["round at generation 3"] * 2 and reads.count == 2
