"""The Flower side of ``fedledger bench round``: ``flwr.simulation.run_simulation`` of the same
task on the Ray backend, timed per round on the server. Flower (the ``bench`` extra) is imported
only when it runs."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import types
from importlib import metadata
from typing import Any

import numpy as np

from fedledger_app.bench.round.measure import SEED, TASK, CpuMeter, cycles, steady, train_config

__all__ = ["OFFLINE_ENV", "run_flower"]

# Environment for Ray and Flower: no usage reports or telemetry, nothing fetched at run time.
OFFLINE_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    "FLWR_TELEMETRY_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_DEDUP_LOGS": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}
_ACTOR_CACHE = "_fedledger_bench_round_actor_cache"


def _actor_cache() -> dict[tuple[Any, ...], Any]:
    """A dict that lives as long as the Ray worker process it is called in.

    Functions that reach the actors pickled by value see a fresh copy of their module globals on
    every call; a module registered in ``sys.modules`` persists in the worker however the
    ClientApp's functions were pickled.
    """
    module = sys.modules.get(_ACTOR_CACHE)
    if module is None:
        module = types.ModuleType(_ACTOR_CACHE)
        module.__dict__["cache"] = {}
        sys.modules[_ACTOR_CACHE] = module
    cache: dict[tuple[Any, ...], Any] = module.__dict__["cache"]
    return cache


class _ClientFn:
    """Flower ``client_fn`` of a sentiment task built with ``options`` (its partition); a
    callable object, not a partial, since Flower reads the signature: ``(context)``."""

    def __init__(self, options: tuple[tuple[str, Any], ...] = ()) -> None:
        self.options = options

    def __call__(self, context: Any) -> Any:
        return _client_fn(context, self.options)


def _client_shard(context: Any, options: tuple[tuple[str, Any], ...] = ()) -> tuple[Any, Any]:
    """The sentiment task built with ``options`` and this virtual node's shard of it, drawn
    once per actor (every round after the first reuses them)."""
    from fedledger_clients.tasks import SentimentTask

    partition = int(context.node_config["partition-id"])
    clients = int(context.node_config["num-partitions"])
    cache = _actor_cache()
    key = (TASK, clients, SEED, options)
    if key not in cache:
        task = SentimentTask(**dict(options))
        cache[key] = (task, task.load_clients(num_clients=clients, seed=SEED))
    task, shards = cache[key]
    return task, shards[partition]


def _client_fn(context: Any, options: tuple[tuple[str, Any], ...] = ()) -> Any:
    """Flower ``client_fn``: the sentiment client for this virtual node's partition."""
    import torch
    from flwr.client import NumPyClient

    from fedledger_clients.tasks._training import add_state
    from fedledger_clients.tasks.server_optimizer import model_tensors

    called_at = time.time()  # wall clock: comparable with the driver's across processes
    torch.set_num_threads(1)
    task, data = _client_shard(context, options)
    keys = list(model_tensors(task.initial_state(seed=SEED)))  # Flower keeps the server's state

    class SentimentClient(NumPyClient):  # type: ignore[misc]
        def fit(
            self, parameters: list[np.ndarray[Any, Any]], config: dict[str, Any]
        ) -> tuple[list[np.ndarray[Any, Any]], int, dict[str, float]]:
            state = {
                k: torch.from_numpy(np.asarray(p)) for k, p in zip(keys, parameters, strict=True)
            }
            epochs = int(config["local_epochs"])
            result = task.local_update(
                state,
                data,
                round_number=int(config["round"]),
                config=dataclasses.replace(task.default_config(), local_epochs=epochs),
            )
            local = add_state(state, result.update)
            metrics = {**result.metrics, "client_fn_at": called_at}
            return [local[k].numpy() for k in keys], int(result.weight), metrics

    return SentimentClient().to_client()


def run_flower(
    rounds: int,
    clients: int,
    client_cpus: float,
    local_epochs: int | None = None,
    task_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Flower's simulation (Ray backend) of the same task; server-side per-round wall time.
    ``task_options`` are the sentiment task's constructor arguments (its partition)."""
    os.environ.update(OFFLINE_ENV)  # before flwr and ray are imported: they read it then
    import torch
    from flwr.client import ClientApp
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
    from flwr.server.strategy import FedAvg, FedAvgM
    from flwr.simulation import run_simulation

    from fedledger_clients.tasks import get_task
    from fedledger_clients.tasks.server_optimizer import model_tensors

    task = get_task(TASK)
    initial = model_tensors(task.initial_state(seed=SEED))
    keys = list(initial)
    epochs = train_config(local_epochs).local_epochs
    # The task's next-model rule, as Flower's stock strategy: FedAvgM (server momentum) or FedAvg.
    rule = getattr(task, "server_optimizer", None)
    momentum = rule is not None and rule.kind == "fedavgm"
    base = FedAvgM if momentum else FedAvg
    server_rule: dict[str, Any] = (
        {"server_learning_rate": rule.learning_rate, "server_momentum": rule.beta1}
        if momentum and rule is not None
        else {}
    )

    class TimedFedAvg(base):  # type: ignore[misc,valid-type]
        """Stock FedAvg(M) (weights = num_examples) that records when each round starts and
        ends."""

        def __init__(self) -> None:
            super().__init__(
                **server_rule,
                fraction_fit=1.0,
                fraction_evaluate=0.0,
                min_fit_clients=clients,
                min_evaluate_clients=0,
                min_available_clients=clients,
                on_fit_config_fn=lambda server_round: {
                    "round": server_round,
                    "local_epochs": epochs,
                },
                initial_parameters=ndarrays_to_parameters([initial[k].numpy() for k in keys]),
                accept_failures=False,
            )
            self.opened: dict[int, float] = {}
            self.closed: dict[int, float] = {}
            self.results: dict[int, int] = {}
            self.first_client_at: float | None = None  # wall clock, round 1's earliest client_fn
            self.final: Any = None
            self.meter = CpuMeter()

        def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> Any:
            self.opened[server_round] = time.perf_counter()
            if server_round == 2:
                self.meter.mark("steady")
            return super().configure_fit(server_round, parameters, client_manager)

        def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
            if failures:
                raise RuntimeError(f"Flower round {server_round}: {len(failures)} clients failed")
            parameters, metrics = super().aggregate_fit(server_round, results, failures)
            self.closed[server_round] = time.perf_counter()
            if server_round == rounds:
                self.meter.mark("end")
            if server_round == 1:
                self.first_client_at = min(float(r.metrics["client_fn_at"]) for _, r in results)
            self.results[server_round] = len(results)
            self.final = parameters
            return parameters, metrics

    strategy = TimedFedAvg()
    server_app = ServerApp(
        server_fn=lambda _context: ServerAppComponents(
            strategy=strategy, config=ServerConfig(num_rounds=rounds)
        )
    )
    backend_config: dict[str, Any] = {
        "client_resources": {"num_cpus": client_cpus, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": os.cpu_count() or 1,
            "_node_ip_address": "127.0.0.1",
            "logging_level": "error",
            "log_to_driver": True,
        },
    }
    logging.getLogger("flwr").setLevel(logging.WARNING)
    started, started_wall = time.perf_counter(), time.time()
    run_simulation(
        server_app=server_app,
        client_app=ClientApp(client_fn=_ClientFn(tuple(sorted((task_options or {}).items())))),
        num_supernodes=clients,
        backend_config=backend_config,
    )
    ended = time.perf_counter()
    numbers = sorted(strategy.closed)
    if numbers != list(range(1, rounds + 1)) or strategy.final is None:
        raise RuntimeError(f"Flower finished rounds {numbers}, expected 1..{rounds}")
    # The ServerApp asks for round 1 before Ray and its actors are up: round 1 is counted from
    # the moment the first ClientApp ran (the simulation engine was ready), the rest is start-up.
    assert strategy.first_client_at is not None
    engine_ready = started + (strategy.first_client_at - started_wall)
    strategy.opened[1] = max(strategy.opened[1], engine_ready)
    round_s = [strategy.closed[n] - strategy.opened[n] for n in numbers]
    final = {
        k: torch.from_numpy(np.asarray(a))
        for k, a in zip(keys, parameters_to_ndarrays(strategy.final), strict=True)
    }
    accuracy = task.evaluate(final, task.load_test_set(seed=SEED))["accuracy"]
    return {
        "round_s_median": steady(round_s),
        "round_s": round_s,
        # run_simulation() → the first ClientApp call: Ray, its actors, the ServerApp
        "startup_s": strategy.opened[1] - started,
        "cycle_s_median": steady(cycles(strategy.opened)),
        "shutdown_s": ended - strategy.closed[rounds],
        "cpu_s_per_round": strategy.meter.between("steady", "end", rounds - 1),
        "accuracy": float(accuracy),
        "participants": [strategy.results[n] for n in numbers],
        "config": {
            "api": "flwr.simulation.run_simulation("
            f"ServerApp(server_fn→{base.__name__}), ClientApp)",
            "backend": "ray",
            "client_resources": backend_config["client_resources"],
            "concurrent_clients": int((os.cpu_count() or 1) // client_cpus),
            "flwr": metadata.version("flwr"),
            "ray": metadata.version("ray"),
        },
    }
