"""What both sides of ``fedledger bench round`` share: the task and seed, round statistics, the
CPU meter and the local training settings."""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from pathlib import Path
from typing import Any

from fedledger_app.bench._report import busy_cpu_s, median

__all__ = [
    "SEED",
    "TASK",
    "CpuMeter",
    "cycles",
    "steady",
    "train_config",
    "training_cpu_s",
]

TASK = "sentiment"
SEED = 0


def cycles(opened: dict[int, float]) -> list[float]:
    """Time from one round's start to the next one's (includes the gap between rounds)."""
    numbers = sorted(opened)
    return [opened[b] - opened[a] for a, b in itertools.pairwise(numbers)]


def steady(rounds: list[float]) -> float:
    """Median over rounds 2..R (round 1 is warm-up); round 1 alone when R = 1."""
    return median(rounds[1:] if len(rounds) > 1 else rounds)


class CpuMeter:
    """CPU-seconds between two marks: the whole machine, and this process's tree by role.

    Roles (Linux ``/proc``): ``this process`` (with client processes: the aggregator and the
    round watcher; embedded: everything), ``client daemons`` (multiprocessing children),
    ``chain node`` (the Hardhat node), ``other`` descendants.
    """

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float | None, dict[str, float]]] = {}

    def mark(self, name: str) -> None:
        """Record the counters now under ``name`` (the first call per name counts)."""
        if name not in self.marks:  # read the counters only once per name
            self.marks[name] = (time.perf_counter(), busy_cpu_s(), _tree_cpu_by_role())

    def between(self, first: str, last: str, per: int) -> dict[str, Any] | None:
        """CPU-seconds (and wall seconds) from ``first`` to ``last`` divided by ``per``; None
        when unmeasured."""
        if first not in self.marks or last not in self.marks:
            return None
        (wall0, busy0, roles0), (wall1, busy1, roles1) = self.marks[first], self.marks[last]
        machine_s = (busy1 - busy0) / per if busy0 is not None and busy1 is not None else None
        roles = {
            role: round((roles1[role] - roles0.get(role, 0.0)) / per, 3)
            for role in roles1
            if roles1[role] - roles0.get(role, 0.0) > 0
        }
        return {"machine": machine_s, "by_role": roles, "wall_s": (wall1 - wall0) / per}


def _tree_cpu_by_role() -> dict[str, float]:
    """CPU-seconds used so far by this process and its live descendants, summed by role."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parent[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    me = os.getpid()
    roles: dict[str, float] = {}
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (me, 0, 1) and ancestor in parent:
            ancestor = parent[ancestor]
        if ancestor != me:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if pid == me:
            role = "this process"
        elif b"hardhat" in cmdline:
            role = "chain node"
        elif b"multiprocessing" in cmdline:
            role = "client daemons"
        else:
            role = "other"
        roles[role] = roles.get(role, 0.0) + seconds
    return roles


def train_config(local_epochs: int | None) -> Any:
    """The task's default training settings, with ``local_epochs`` if given (both sides)."""
    from fedledger_clients.tasks import get_task

    config = get_task(TASK).default_config()
    if local_epochs is None:
        return config
    return dataclasses.replace(config, local_epochs=local_epochs)


def training_cpu_s(
    clients_data: list[Any], local_epochs: int | None = None, repeats: int = 3
) -> float:
    """CPU-seconds of one round of local training on every client, run alone on one thread
    (median of ``repeats``): the work both systems must do each round whatever else they do."""
    import torch

    from fedledger_clients.tasks import get_task

    task = get_task(TASK)
    state = task.initial_state(seed=SEED)
    config = train_config(local_epochs)
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task.local_update(state, clients_data[0], round_number=1, config=config)
        samples = []
        for _ in range(repeats):
            started = time.process_time()
            for data in clients_data:
                task.local_update(state, data, round_number=2, config=config)
            samples.append(time.process_time() - started)
    finally:
        torch.set_num_threads(saved)
    return median(samples)
