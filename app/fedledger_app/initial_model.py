"""A task's round-0 model: what the aggregator serves as the base of round 1.

The round-0 model fixes the federation's next-model rule: every participant applies the server
optimizer whose ``server/`` tensors the base model carries (see
:mod:`fedledger_clients.tasks.server_optimizer`). :func:`server_optimizer_choice` turns an
operator's options (``--server-optimizer`` and its hyper-parameters) into that rule, refusing
bad values with the option to fix.
"""

from __future__ import annotations

import math

from fedledger_clients.tasks import get_task
from fedledger_clients.tasks.base import Aggregation, Task
from fedledger_clients.tasks.server_optimizer import KINDS, ServerOptimizer, model_tensors
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.modelfile import encode_model

__all__ = ["initial_model_bytes", "server_optimizer_choice"]


def initial_model_bytes(
    task_name: str, seed: int, server_optimizer: ServerOptimizer | None = None
) -> bytes:
    """The round-0 model of a task as canonical model bytes: its initial shared state with
    ``server_optimizer``'s state (the task's default rule when None)."""
    task = get_task(task_name)
    state = task.initial_state(seed=seed)
    if server_optimizer is not None:
        _check_mean_task(task)
        state = server_optimizer.initial_state(model_tensors(state))
    return encode_model(state, task=task.name, metric_names=task.metric_names, round_number=0)


def server_optimizer_choice(
    task_name: str,
    kind: str | None,
    *,
    learning_rate: float | None = None,
    beta1: float | None = None,
    beta2: float | None = None,
    tau: float | None = None,
) -> ServerOptimizer | None:
    """The rule an operator chose with ``--server-optimizer KIND`` and ``--server-lr``,
    ``--server-beta1``, ``--server-beta2``, ``--server-tau``; None (the task's default) when
    ``kind`` is None.

    Unset hyper-parameters take η = 1 (FedAvgM), β₁ = 0.9, β₂ = 0.99, τ = 10⁻³; FedAdam has no
    default step, since its step is η per coordinate, not a multiple of the mean update.
    Raises :class:`ConfigurationError` naming the option and the fix.
    """
    given = {
        "--server-lr": learning_rate,
        "--server-beta1": beta1,
        "--server-beta2": beta2,
        "--server-tau": tau,
    }
    named = [option for option, value in given.items() if value is not None]
    if kind is None:
        if named:
            raise ConfigurationError(
                f"{', '.join(named)} needs --server-optimizer fedavgm or fedadam (without it the "
                f"task's default rule applies)"
            )
        return None
    chosen = next((k for k in KINDS if k == kind), None)
    if chosen is None:
        raise ConfigurationError(
            f"--server-optimizer must be one of {', '.join(KINDS)}, not {kind!r}"
        )
    _check_mean_task(get_task(task_name))
    if kind == "fedavg" and named:
        raise ConfigurationError(
            f"fedavg has no hyper-parameters: drop {', '.join(named)}, or choose "
            "--server-optimizer fedavgm or fedadam"
        )
    adam_only = [o for o in ("--server-beta2", "--server-tau") if given[o] is not None]
    if kind == "fedavgm" and adam_only:
        raise ConfigurationError(
            f"{', '.join(adam_only)} belong to FedAdam: drop them, or choose "
            "--server-optimizer fedadam"
        )
    if kind == "fedadam" and learning_rate is None:
        raise ConfigurationError(
            "--server-optimizer fedadam needs --server-lr: FedAdam moves every parameter by up "
            "to η per round, so η depends on the model's scale (docs/tasks.md, Server optimizers)"
        )
    for option, value in given.items():
        if value is not None and not math.isfinite(value):
            raise ConfigurationError(f"{option} must be a finite number, got {value}")
    for option in ("--server-lr", "--server-tau"):
        value = given[option]
        if value is not None and value <= 0:
            raise ConfigurationError(f"{option} must be > 0, got {value}")
    for option in ("--server-beta1", "--server-beta2"):
        value = given[option]
        if value is not None and not 0 <= value < 1:
            raise ConfigurationError(f"{option} must be in [0, 1), got {value}")
    return ServerOptimizer(
        chosen,
        learning_rate=1.0 if learning_rate is None else learning_rate,
        beta1=0.9 if beta1 is None else beta1,
        beta2=0.99 if beta2 is None else beta2,
        tau=1e-3 if tau is None else tau,
    )


def _check_mean_task(task: Task) -> None:
    if task.aggregation is not Aggregation.MEAN:
        raise ConfigurationError(
            f"the {task.name} task sums statistics and has no model to optimize: drop "
            "--server-optimizer (server optimizers apply to sentiment and recommendation)"
        )
