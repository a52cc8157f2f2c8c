"""Training slots: how co-located participants share a machine's cores.

When several participants run on one machine (``fedledger demo``, the round benchmark), all
of them start training the moment a round opens. Unbounded, eight trainings on two cores
time-slice each other: every one of them is slowed, the caches thrash, and the round waits
for the slowest. :class:`TrainingSlots` lets at most ``capacity`` of them train at once (one
per core, as Flower's simulation runs ``num_cpus`` clients at a time) and, when a slot frees,
hands it to the waiting participant with the largest job (longest-processing-time first: the
big shards do not end up alone at the tail of the round).

The slots live in shared memory, so one object serves daemons in threads of one process or in
separate processes (pass it to them at start). A participant that dies while training holds
its slot until its process ends; slots are for co-located simulations, not for deployments,
where every participant has its own machine and trains without one.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any

__all__ = ["TrainingSlots"]

_IDLE = -1.0


class TrainingSlots:
    """At most ``capacity`` of ``participants`` co-located participants train at once,
    largest job first."""

    def __init__(
        self, capacity: int, participants: int, *, context: BaseContext | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if participants < 1:
            raise ValueError(f"participants must be at least 1, got {participants}")
        ctx: Any = context or multiprocessing.get_context("spawn")
        self.capacity = capacity
        self.participants = participants
        self._cond = ctx.Condition()
        self._free = ctx.RawValue("i", capacity)
        # What each participant waits with (its job size), or _IDLE when it is not waiting.
        self._waiting = ctx.RawArray("d", [_IDLE] * participants)

    @contextmanager
    def slot(self, index: int, size: float) -> Iterator[None]:
        """Hold a slot for participant ``index`` (0-based) with a job of ``size`` (any unit
        common to all participants, e.g. training samples) for the ``with`` block."""
        if not 0 <= index < self.participants:
            raise ValueError(f"participant index {index} is not in 0..{self.participants - 1}")
        if size < 0:
            raise ValueError(f"job size must not be negative, got {size}")
        with self._cond:
            self._waiting[index] = float(size)
            self._cond.wait_for(lambda: self._free.value > 0 and self._first_in_line(index))
            self._waiting[index] = _IDLE
            self._free.value -= 1
            # Another slot may still be free: let the next in line check.
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._free.value += 1
                self._cond.notify_all()

    def _first_in_line(self, index: int) -> bool:
        """Whether ``index`` has the largest waiting job (ties: the lowest index)."""
        mine = self._waiting[index]
        for other in range(self.participants):
            theirs = self._waiting[other]
            if theirs > mine or (theirs == mine and other < index):
                return False
        return True
