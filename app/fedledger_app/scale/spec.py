"""What :func:`~fedledger_app.scale.simulate` runs, and the checks it passes first."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedledger_clients.tasks import SentimentTask, Task, get_task
from fedledger_clients.tasks.server_optimizer import ServerOptimizer
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import EMBEDDED, is_rpc_url

__all__ = [
    "PARTITIONS",
    "RoundHook",
    "SimulationSpec",
    "build_task",
    "check_partition",
    "check_simulation",
]

#: The partitions of the sentiment task's training posts a simulation can ask for.
PARTITIONS = ("iid", "dirichlet", "topic")

#: Called by the driver when it first sees a round open, before the hosts act on it, with the
#: round number and the live Ray actor handles of the hosts (fault injection, progress).
RoundHook = Callable[[int, list[Any]], None]


@dataclass(frozen=True)
class SimulationSpec:
    """A Ray-backed federation: ``participants`` simulated participants on ``hosts`` actors."""

    participants: int = 10
    rounds: int = 3
    task: str = "sentiment"
    #: Ray actors hosting the participants (default: one per CPU Ray is given).
    hosts: int | None = None
    #: CPUs for a Ray instance started here (default: this machine's); ignored with an address.
    num_cpus: int | None = None
    ray_address: str | None = None  # join an existing cluster instead of starting Ray
    chain: str = EMBEDDED  # "embedded", "hardhat" (a node started here) or a devnet URL
    database_url: str | None = None  # default: SQLite in ``out``
    out: Path = Path("simulate-out")
    seed: int = 0
    min_updates: int | None = None  # default: every participant
    round_timeout_s: int = 600
    local_epochs: int | None = None
    clip_norm: float = 0.0
    #: The sentiment task's partition (default: the task's, Dirichlet over the labels).
    partition: str | None = None
    #: Dirichlet concentration of ``partition="dirichlet"`` (default: the task's, 0.5).
    dirichlet_alpha: float | None = None
    #: The next-model rule the round-0 model records (default: the task's).
    server_optimizer: ServerOptimizer | None = None
    #: Audit every round once the last one is published (the aggregator still serving).
    audit: bool = True


def check_simulation(spec: SimulationSpec) -> None:
    """Refuse a spec that cannot run, before anything is started; the message names the field."""
    if spec.participants < 2:
        raise ConfigurationError(f"participants must be at least 2, got {spec.participants}")
    if spec.rounds < 1:
        raise ConfigurationError(f"rounds must be at least 1, got {spec.rounds}")
    if spec.hosts is not None and not 1 <= spec.hosts <= spec.participants:
        raise ConfigurationError(
            f"hosts must be between 1 and participants ({spec.participants}), got {spec.hosts}"
        )
    if spec.num_cpus is not None and spec.num_cpus < 1:
        raise ConfigurationError(f"num_cpus must be at least 1, got {spec.num_cpus}")
    if spec.min_updates is not None and not 1 <= spec.min_updates <= spec.participants:
        raise ConfigurationError(
            f"min_updates must be between 1 and participants ({spec.participants}), "
            f"got {spec.min_updates}"
        )
    if spec.chain not in (EMBEDDED, "hardhat") and not is_rpc_url(spec.chain):
        raise ConfigurationError(
            f"chain {spec.chain!r} is neither 'embedded', 'hardhat' nor an http(s) JSON-RPC URL"
        )
    if spec.database_url is not None and not spec.database_url.startswith(
        ("sqlite:", "postgresql")
    ):
        raise ConfigurationError(
            f"database URL {spec.database_url!r} is neither sqlite:///FILE nor "
            "postgresql+psycopg://USER@HOST/DB"
        )
    if spec.out.exists() and not spec.out.is_dir():
        raise ConfigurationError(f"output folder {spec.out} exists and is not a folder")
    get_task(spec.task)  # an unknown task is named with the valid ones
    if (spec.partition is not None or spec.dirichlet_alpha is not None) and (
        spec.task != SentimentTask.name
    ):
        raise ConfigurationError(
            f"--partition and --dirichlet-alpha choose the sentiment task's partition; the "
            f"{spec.task} task has its own (drop them)"
        )
    if spec.partition is not None and spec.partition not in PARTITIONS:
        raise ConfigurationError(
            f"partition must be one of {', '.join(PARTITIONS)}, got {spec.partition!r}"
        )
    if spec.dirichlet_alpha is not None:
        if spec.partition not in (None, "dirichlet"):
            raise ConfigurationError(
                f"--dirichlet-alpha applies to the dirichlet partition, not {spec.partition}"
            )
        if not spec.dirichlet_alpha > 0:
            raise ConfigurationError(f"dirichlet_alpha must be > 0, got {spec.dirichlet_alpha}")
    if importlib.util.find_spec("ray") is None:
        raise ConfigurationError(
            "fedledger simulate runs its participants on Ray, which is not installed: "
            "pip install 'fedledger[scale]' (or `make setup` in a checkout)"
        )


def build_task(
    name: str, partition: str | None = None, dirichlet_alpha: float | None = None
) -> Task:
    """The task ``name`` with the simulation's partition (the task's defaults where None); the
    driver, every host and Flower's clients build it alike, so they cut the same shards."""
    if partition is None and dirichlet_alpha is None:
        return get_task(name)
    options: dict[str, Any] = {}
    if partition is not None:
        options["partition"] = partition
    if dirichlet_alpha is not None:
        options["dirichlet_alpha"] = dirichlet_alpha
    return SentimentTask(**options)


def check_partition(spec: SimulationSpec) -> None:
    """Draw the participants' shards once, in this process, before anything is started: a
    partition that cannot give every participant enough data is refused with the fix."""
    task = build_task(spec.task, spec.partition, spec.dirichlet_alpha)
    try:
        task.load_clients(num_clients=spec.participants, seed=spec.seed)
    except ValueError as exc:
        if spec.task != SentimentTask.name:
            raise ConfigurationError(f"{exc}: use fewer --participants") from exc
        partition = getattr(task, "partition", "default")
        raise ConfigurationError(
            f"the {spec.task} task's {partition} partition cannot be drawn for "
            f"{spec.participants} participants ({exc}): pass --partition iid (equal shares) "
            "or a larger --dirichlet-alpha, or use fewer --participants"
        ) from exc
