"""Training slots: capacity is respected, the largest waiting job goes first, across threads
and spawned processes."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
from harness import wait_for
from slot_helpers import hold_slot

from fedledger_clients.slots import TrainingSlots


def _waiting(slots: TrainingSlots) -> int:
    return sum(1 for v in slots._waiting if v >= 0)


def test_at_most_capacity_train_at_once() -> None:
    slots = TrainingSlots(2, 6)
    lock = threading.Lock()
    inside, peak = [0], [0]

    def train(i: int) -> None:
        with slots.slot(i, float(i)):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=train, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2 and inside[0] == 0
    assert slots._free.value == 2  # every slot returned


def test_the_largest_waiting_job_goes_first() -> None:
    slots = TrainingSlots(1, 4)
    order: list[int] = []
    release = threading.Event()

    def holder() -> None:
        with slots.slot(0, 0.0):
            release.wait(10)

    def train(i: int, size: float) -> None:
        with slots.slot(i, size):
            order.append(i)

    first = threading.Thread(target=holder)
    first.start()
    wait_for(lambda: slots._free.value == 0, timeout_s=5, what="the first slot")
    sizes = {1: 10.0, 2: 500.0, 3: 120.0}
    threads = [threading.Thread(target=train, args=(i, s)) for i, s in sizes.items()]
    for t in threads:
        t.start()
    wait_for(lambda: _waiting(slots) == 3, timeout_s=5, what="three waiters")
    release.set()
    for t in (first, *threads):
        t.join(10)
    assert order == [2, 3, 1]  # largest shard first, smallest last


def test_a_slot_is_released_when_training_fails() -> None:
    slots = TrainingSlots(1, 2)
    with pytest.raises(RuntimeError), slots.slot(0, 1.0):
        raise RuntimeError("training crashed")
    with slots.slot(1, 1.0):  # would block forever had the slot leaked
        assert slots._free.value == 0


def test_slots_are_shared_with_spawned_processes() -> None:
    context = multiprocessing.get_context("spawn")
    slots = TrainingSlots(1, 2, context=context)
    held, release = context.Event(), context.Event()
    child = context.Process(target=hold_slot, args=(slots, held, release))
    child.start()
    try:
        assert held.wait(60), "the child process never got the slot"
        got = threading.Event()
        waiter = threading.Thread(target=lambda: (slots.slot(0, 1.0).__enter__(), got.set()))
        waiter.start()
        assert not got.wait(0.5)  # the child holds the only slot
        release.set()
        assert got.wait(10)
        waiter.join(10)
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0


@pytest.mark.parametrize(
    ("capacity", "participants", "message"),
    [(0, 2, "capacity"), (1, 0, "participants")],
)
def test_bad_sizes_are_refused(capacity: int, participants: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingSlots(capacity, participants)


def test_bad_slot_requests_are_refused() -> None:
    slots = TrainingSlots(1, 2)
    with pytest.raises(ValueError, match="index 2"), slots.slot(2, 1.0):
        pass
    with pytest.raises(ValueError, match="negative"), slots.slot(0, -1.0):
        pass
    assert slots._free.value == 1
