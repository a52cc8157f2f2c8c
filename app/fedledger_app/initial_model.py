"""A task's round-0 model: what the aggregator serves as the base of round 1."""

from __future__ import annotations

from fedledger_clients.tasks import get_task
from fedledger_platform.modelfile import encode_model

__all__ = ["initial_model_bytes"]


def initial_model_bytes(task_name: str, seed: int) -> bytes:
    """The round-0 model of a task: its initial shared state as canonical model bytes."""
    task = get_task(task_name)
    return encode_model(
        task.initial_state(seed=seed),
        task=task.name,
        metric_names=task.metric_names,
        round_number=0,
    )
