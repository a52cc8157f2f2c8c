"""The built-in federated tasks and their registry.

``get_task("sentiment")`` returns a fresh task with its default settings; ``TASKS`` maps each
name to its factory. See ``docs/tasks.md`` for the data, partitions, models and defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from fedledger_clients.tasks.base import (
    AggregateResult,
    Aggregation,
    ClientData,
    LocalResult,
    State,
    Task,
    TrainConfig,
)
from fedledger_clients.tasks.hashtags import HashtagTask
from fedledger_clients.tasks.recommendation import RecommendationTask
from fedledger_clients.tasks.sentiment import SentimentTask

__all__ = [
    "TASKS",
    "AggregateResult",
    "Aggregation",
    "ClientData",
    "HashtagTask",
    "LocalResult",
    "RecommendationTask",
    "SentimentTask",
    "State",
    "Task",
    "TrainConfig",
    "UnknownTaskError",
    "get_task",
]

#: task name -> factory of a task with default settings
TASKS: Mapping[str, Callable[[], Task]] = MappingProxyType(
    {
        SentimentTask.name: SentimentTask,
        RecommendationTask.name: RecommendationTask,
        HashtagTask.name: HashtagTask,
    }
)


class UnknownTaskError(KeyError):
    """No built-in task has the requested name."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def get_task(name: str) -> Task:
    """A new instance of the built-in task ``name`` with its default settings."""
    try:
        factory = TASKS[name]
    except KeyError:
        valid = ", ".join(sorted(TASKS))
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {valid}") from None
    return factory()
