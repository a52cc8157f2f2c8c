"""Plaintext federation and centralized baseline: the reference runs the real federation must match.

:func:`run_plaintext_fedavg` drives a task through exactly the round protocol of the daemon
(``local_update`` on every client, aggregate, ``next_state``) with encryption, the chain and HTTP
switched off: :func:`plaintext_aggregate` computes in float64 what the aggregator computes under
CKKS. :func:`run_centralized` trains the same model on the union of the clients' training data.
Both evaluate on the task's fixed test split, so their headline metrics compare directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fedledger_clients.tasks.base import (
    AggregateResult,
    Aggregation,
    ClientData,
    LocalResult,
    State,
    Task,
    TrainConfig,
)

__all__ = [
    "CentralizedResult",
    "FedAvgHistory",
    "PlaintextRound",
    "plaintext_aggregate",
    "run_centralized",
    "run_plaintext_fedavg",
]


def plaintext_aggregate(task: Task, results: Sequence[LocalResult]) -> AggregateResult:
    """Combine client results as the encrypted pipeline does, in float64.

    ``MEAN``: ``sum(w_k * u_k) / sum(w_k)`` per tensor; ``SUM``: ``sum(u_k)``. Metric sums are
    added (missing metrics count as 0). Each tensor is cast back to the dtype of the clients'
    updates. Raises ``ValueError`` on no results, mismatched keys, shapes or dtypes, or a
    non-positive total weight for a ``MEAN`` task.
    """
    if not results:
        raise ValueError("cannot aggregate zero client results")
    first = results[0].update
    for k, result in enumerate(results[1:], start=1):
        if set(result.update) != set(first):
            raise ValueError(
                f"result {k} has update keys {sorted(result.update)}, expected {sorted(first)}"
            )
        for key, tensor in result.update.items():
            if tensor.shape != first[key].shape or tensor.dtype != first[key].dtype:
                raise ValueError(
                    f"result {k}: {key!r} is {tuple(tensor.shape)} {tensor.dtype}, "
                    f"expected {tuple(first[key].shape)} {first[key].dtype}"
                )
    total_weight = float(sum(r.weight for r in results))
    mean = task.aggregation is Aggregation.MEAN
    if mean and total_weight <= 0:
        raise ValueError(f"MEAN aggregation needs a positive total weight, got {total_weight}")
    update: State = {}
    for key, reference in first.items():
        acc = torch.zeros(reference.shape, dtype=torch.float64)
        for result in results:
            tensor = result.update[key].detach().to(torch.float64)
            acc += tensor * float(result.weight) if mean else tensor
        if mean:
            acc /= total_weight
        update[key] = acc.to(reference.dtype)
    metrics = {
        name: float(sum(float(r.metrics.get(name, 0.0)) for r in results))
        for name in task.metric_names
    }
    return AggregateResult(
        update=update, total_weight=total_weight, metrics=metrics, contributors=len(results)
    )


@dataclass(frozen=True)
class PlaintextRound:
    """One round of the plaintext federation: its metrics and timings.

    ``round_metrics`` come from the clients' held-out splits and describe the global state the
    round *started* from; ``test_metrics`` evaluate the state the round produced on the test set.
    """

    round_number: int
    round_metrics: dict[str, float]
    test_metrics: dict[str, float]
    client_seconds: tuple[float, ...]
    seconds: float


@dataclass
class FedAvgHistory:
    rounds: list[PlaintextRound] = field(default_factory=list)
    final_state: State = field(default_factory=dict)

    @property
    def final_test_metrics(self) -> dict[str, float]:
        return self.rounds[-1].test_metrics if self.rounds else {}


def run_plaintext_fedavg(
    task: Task,
    clients: Sequence[ClientData],
    *,
    rounds: int,
    config: TrainConfig | None = None,
    seed: int = 0,
    test_set: object | None = None,
    private_root: Path | None = None,
    initial_state: State | None = None,
    transform_result: Callable[[LocalResult], LocalResult] | None = None,
    on_round: Callable[[PlaintextRound], None] | None = None,
) -> FedAvgHistory:
    """Run ``rounds`` rounds of the federation in plaintext, every client in every round.

    ``config`` defaults to ``task.default_config()``; ``seed`` seeds the initial state.
    ``private_root`` gives each client a private folder ``private_root/<client_id>`` (else
    private state stays in memory). ``transform_result`` is applied to each client's result
    before aggregation (e.g. the daemon's clipping). Rounds are numbered from 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    config = config or task.default_config()
    state = initial_state if initial_state is not None else task.initial_state(seed=seed)
    history = FedAvgHistory()
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        results: list[LocalResult] = []
        timings: list[float] = []
        for client in clients:
            private_dir = None
            if private_root is not None:
                private_dir = private_root / client.client_id
                private_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            result = task.local_update(
                state, client, round_number=round_number, config=config, private_dir=private_dir
            )
            timings.append(time.perf_counter() - t0)
            results.append(transform_result(result) if transform_result else result)
        aggregate = plaintext_aggregate(task, results)
        state = task.next_state(state, aggregate)
        record = PlaintextRound(
            round_number=round_number,
            round_metrics=task.round_metrics(aggregate),
            test_metrics=task.evaluate(state, test_set) if test_set is not None else {},
            client_seconds=tuple(timings),
            seconds=time.perf_counter() - started,
        )
        history.rounds.append(record)
        if on_round is not None:
            on_round(record)
    history.final_state = state
    return history


@dataclass(frozen=True)
class CentralizedResult:
    state: State
    test_metrics: dict[str, float]
    seconds: float


def run_centralized(
    task: Task,
    clients: Sequence[ClientData],
    *,
    epochs: int,
    config: TrainConfig | None = None,
    test_set: object | None = None,
) -> CentralizedResult:
    """The centralized baseline: ``task.train_centralized`` on the union of the clients' data."""
    config = config or task.default_config()
    started = time.perf_counter()
    state = task.train_centralized(list(clients), config=config, epochs=epochs)
    seconds = time.perf_counter() - started
    metrics = task.evaluate(state, test_set) if test_set is not None else {}
    return CentralizedResult(state=state, test_metrics=metrics, seconds=seconds)
