"""Wall time per federated round: fedledger (CKKS + chain + HTTP) against Flower's simulation.

    fedledger bench round --json [--rounds 6] [--clients 8] [--local-epochs E]
                                 [--flower-client-cpus 1] [--update-docs]

Both systems run, one after the other in the same invocation, the same task code: the
``sentiment`` task, its Dirichlet partition over ``clients`` clients (seed 0), its initial model
(seed 0), its default local training settings (``--local-epochs`` changes the number of local
epochs on both sides), ``task.local_update`` on every client every round,
FedAvg weighted by each client's sample count, and ``task.evaluate`` of the final model on the
task's fixed test split.

* **fedledger**: :func:`fedledger_clients.federation.run_federation`, the real system: a Hardhat
  node, the aggregator on a loopback port, one client daemon process per participant over HTTP
  (``--fedledger-mode embedded``: the in-process chain and daemon threads instead), every update
  encrypted (CKKS), committed on chain, aggregated under encryption, decrypted and attested by
  the participants. A round is timed from its opening to its publication.
* **Flower** (``flwr[simulation]``, plaintext, no chain): ``flwr.simulation.run_simulation``
  with a ``ServerApp`` running the stock ``FedAvg`` strategy and a ``ClientApp`` whose
  ``NumPyClient.fit`` calls ``task.local_update``, on the Ray backend with ``client_resources
  = {"num_cpus": c}`` (default ``c = 1``: two clients train at a time on this 2-core machine;
  ``c`` = 0.5 and 0.25 measured the same steady-state rounds, within Flower's 0.1 s polling step,
  with a longer start-up). A round is timed on the server side, from ``configure_fit`` to the end of
  ``aggregate_fit``, so Ray's start-up is not in it.

One-time start-up (Flower: Ray and its actors; fedledger: contracts, accounts, aggregator, key
dealing) is reported as ``startup_s`` and round 1 (warm-up: data loading inside Ray's actors,
first-use costs) is reported but not counted: ``round_s_median`` is the median of rounds
2..R. Torch uses one thread per client on both sides. CPU-seconds per steady-state round are
read from the machine's counters (and, for fedledger, per process: this one, the daemons, the
chain node), next to the CPU-seconds of the local training alone. Nothing is downloaded: Ray's
usage stats and Flower's telemetry are switched off and Ray is bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import logging
import os
import sys
import tempfile
import time
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from _report import (
    busy_cpu_s,
    emit,
    machine,
    median,
    native_stdout_to_stderr,
    table,
    update_section,
)

TASK = "sentiment"
SEED = 0
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


def _cycles(opened: dict[int, float]) -> list[float]:
    """Time from one round's start to the next one's (includes the gap between rounds)."""
    numbers = sorted(opened)
    return [opened[b] - opened[a] for a, b in itertools.pairwise(numbers)]


def _steady(rounds: list[float]) -> float:
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


# ------------------------------------------------------------------------------------ fedledger


#: How fedledger runs: ``processes`` — the deployment shape: a Hardhat node, the aggregator,
#: and one process per client daemon; ``embedded`` — everything in this one process.
MODES = {
    "processes": {"chain": "hardhat", "client_processes": True},
    "embedded": {"chain": "embedded", "client_processes": False},
}


_MODE_TEXT = {
    "processes": (
        "a Hardhat node, the aggregator on loopback, one process per client daemon (at nice 10,"
        " one training per core at a time, largest shard first)"
    ),
    "embedded": "the embedded chain, the aggregator and the daemons all in one process",
}


def run_fedledger(
    rounds: int,
    clients: int,
    clients_data: list[Any],
    mode: str = "processes",
    local_epochs: int | None = None,
) -> dict[str, Any]:
    """One federation of ``rounds`` rounds; per-round wall time."""
    from fedledger_clients.federation import FederationSpec, run_federation

    opened: dict[int, float] = {}
    meter = CpuMeter()

    def progress(kind: str, data: dict[str, Any]) -> None:
        if kind != "round":
            return
        number = int(data["round"])
        if data.get("phase") == "open":
            opened.setdefault(number, time.perf_counter())
            if number == 2:
                meter.mark("steady")
        elif data.get("phase") == "published" and number == rounds:
            meter.mark("end")

    with tempfile.TemporaryDirectory(prefix="fedledger-bench-round-") as out:
        started = time.perf_counter()
        run = run_federation(
            FederationSpec(
                task=TASK,
                clients=clients,
                rounds=rounds,
                out=Path(out),
                seed=SEED,
                local_epochs=local_epochs,
                freeze_heap=True,  # as `fedledger serve` does; this process runs nothing else
                **MODES[mode],
            ),
            progress=progress,
            clients_data=clients_data,
        )
    round_s = [float(s) for s in run.round_seconds]
    first_open = opened.get(1)
    return {
        "round_s_median": _steady(round_s),
        "round_s": round_s,
        # set-up (contracts, accounts, aggregator, daemons) and key dealing, up to round 1's opening
        "startup_s": (first_open - started) if first_open else run.setup_s,
        "cycle_s_median": _steady(_cycles(opened)),
        "setup_s": run.setup_s,
        # CPU-seconds per steady-state round (round 2's opening → the last publication)
        "cpu_s_per_round": meter.between("steady", "end", rounds - 1),
        "mode": mode,
        "accuracy": float(run.rounds[-1].test_metrics["accuracy"]),
        "participants": [r.participants for r in run.rounds],
        "gas_per_round": run.rounds[-1].gas.get("total"),
    }


# --------------------------------------------------------------------------------------- Flower


def _actor_cache() -> dict[str, Any]:
    """A dict that lives as long as the Ray worker process it is called in.

    The ClientApp's functions reach the actors pickled by value, so a module global of this
    script would start empty on every call; a module registered in ``sys.modules`` persists.
    """
    module = sys.modules.get(_ACTOR_CACHE)
    if module is None:
        module = types.ModuleType(_ACTOR_CACHE)
        module.cache = {}  # type: ignore[attr-defined]
        sys.modules[_ACTOR_CACHE] = module
    return module.cache  # type: ignore[attr-defined, no-any-return]


def _client_fn(context: Any) -> Any:
    """Flower ``client_fn``: the sentiment client for this virtual node's partition."""
    import torch
    from flwr.client import NumPyClient

    from fedledger_clients.tasks import get_task
    from fedledger_clients.tasks._training import add_state

    called_at = time.time()  # wall clock: comparable with the driver's across processes
    torch.set_num_threads(1)
    partition = int(context.node_config["partition-id"])
    clients = int(context.node_config["num-partitions"])
    cache = _actor_cache()
    key = (TASK, clients, SEED)
    if key not in cache:  # once per actor: every round after the first reuses it
        task = get_task(TASK)
        cache[key] = (task, task.load_clients(num_clients=clients, seed=SEED))
    task, shards = cache[key]
    data = shards[partition]
    keys = list(task.initial_state(seed=SEED))

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
    rounds: int, clients: int, client_cpus: float, local_epochs: int | None = None
) -> dict[str, Any]:
    """Flower's simulation (Ray backend) of the same task; server-side per-round wall time."""
    os.environ.update(OFFLINE_ENV)  # before flwr and ray are imported: they read it then
    import torch
    from flwr.client import ClientApp
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
    from flwr.server.strategy import FedAvg
    from flwr.simulation import run_simulation

    from fedledger_clients.tasks import get_task

    task = get_task(TASK)
    initial = task.initial_state(seed=SEED)
    keys = list(initial)
    epochs = train_config(local_epochs).local_epochs

    class TimedFedAvg(FedAvg):  # type: ignore[misc]
        """Stock FedAvg (weights = num_examples) that records when each round starts and ends."""

        def __init__(self) -> None:
            super().__init__(
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
        client_app=ClientApp(client_fn=_client_fn),
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
        "round_s_median": _steady(round_s),
        "round_s": round_s,
        # run_simulation() → the first ClientApp call: Ray, its actors, the ServerApp
        "startup_s": strategy.opened[1] - started,
        "cycle_s_median": _steady(_cycles(strategy.opened)),
        "shutdown_s": ended - strategy.closed[rounds],
        "cpu_s_per_round": strategy.meter.between("steady", "end", rounds - 1),
        "accuracy": float(accuracy),
        "participants": [strategy.results[n] for n in numbers],
        "config": {
            "api": "flwr.simulation.run_simulation(ServerApp(server_fn→FedAvg), ClientApp)",
            "backend": "ray",
            "client_resources": backend_config["client_resources"],
            "concurrent_clients": int((os.cpu_count() or 1) // client_cpus),
            "flwr": metadata.version("flwr"),
            "ray": metadata.version("ray"),
        },
    }


# ------------------------------------------------------------------------------------------ run


def run(
    rounds: int,
    clients: int,
    client_cpus: float,
    mode: str = "processes",
    local_epochs: int | None = None,
) -> dict[str, Any]:
    """Both systems, fedledger first, then Flower (so no Ray process runs beside fedledger)."""
    import torch

    from fedledger_clients.tasks import get_task

    task = get_task(TASK)
    clients_data = task.load_clients(num_clients=clients, seed=SEED)
    saved_threads = torch.get_num_threads()
    # stdout stays one JSON object: Ray's processes inherit fd 1 and write to it.
    with native_stdout_to_stderr():
        try:
            fedledger = run_fedledger(rounds, clients, clients_data, mode, local_epochs)
        finally:
            torch.set_num_threads(saved_threads)  # the daemons set 1 thread process-wide
        flower = run_flower(rounds, clients, client_cpus, local_epochs)
    training_s = training_cpu_s(clients_data, local_epochs)
    return {
        "benchmark": "round",
        "task": TASK,
        "rounds": rounds,
        "clients": clients,
        "local_epochs": train_config(local_epochs).local_epochs,
        "default_local_epochs": task.default_config().local_epochs,
        "training_cpu_s_per_round": training_s,
        "flower": flower,
        "fedledger": fedledger,
        "ratio": fedledger["round_s_median"] / flower["round_s_median"],
        "accuracy_gap_points": 100.0 * (fedledger["accuracy"] - flower["accuracy"]),
        "machine": {**machine(), "torch": metadata.version("torch")},
    }


def document(result: dict[str, Any], command: str) -> None:
    """Write the figures to docs/benchmarks.md (a section of their own for non-default epochs)."""
    fl, ours = result["flower"], result["fedledger"]
    cfg = fl["config"]

    def rounds(side: dict[str, Any]) -> str:
        return ", ".join(f"{s:.2f}" for s in side["round_s"])

    rows = [
        [
            "steady-state round, median of rounds 2..R (s)",
            f"{fl['round_s_median']:.3f}",
            f"{ours['round_s_median']:.3f}",
        ],
        [
            "round cycle, opening to next opening, median (s)",
            f"{fl['cycle_s_median']:.3f}",
            f"{ours['cycle_s_median']:.3f}",
        ],
        ["every round (s)", rounds(fl), rounds(ours)],
        ["one-time start-up (s)", f"{fl['startup_s']:.1f}", f"{ours['startup_s']:.1f}"],
        ["final test accuracy", f"{fl['accuracy']:.4f}", f"{ours['accuracy']:.4f}"],
    ]
    epochs = result["local_epochs"]
    default = epochs == result["default_local_epochs"]
    update_section(
        "round" if default else f"round-epochs-{epochs}",
        f"## Round overhead against Flower ({result['task']}, {result['clients']} clients, "
        f"{result['rounds']} rounds{'' if default else f', {epochs} local epochs'})\n\n"
        f"Command: `{command}` — one run, both systems in the same invocation, the same task code "
        f"(Dirichlet partition, seed 0, {result['local_epochs']} local epochs, FedAvg weighted by "
        "sample count). Flower: plaintext, no chain, "
        f"`flwr` {cfg['flwr']} `run_simulation` on Ray {cfg['ray']} with "
        f"`client_resources={{'num_cpus': {cfg['client_resources']['num_cpus']:g}}}` "
        f"({cfg['concurrent_clients']} clients at a time; 0.5 and 0.25 CPUs per client measured "
        "the same here, rounds move in Flower's 0.1 s polling steps), "
        "rounds timed on the server from `configure_fit` to the end of `aggregate_fit`. "
        f"fedledger: `run_federation` ({_MODE_TEXT[ours['mode']]}), {result['clients']} client "
        "daemons over HTTP, CKKS, rounds timed from opening to publication. Round 1 (warm-up) and "
        "start-up are not "
        f"counted. Machine: {result['machine']['cpus']} CPUs, Python "
        f"{result['machine']['python']}, torch {result['machine']['torch']}.\n\n"
        + table(rows, ["", "Flower (plaintext)", "fedledger (CKKS + chain)"])
        + f"\n\nfedledger ÷ Flower per steady-state round: **{result['ratio']:.2f}×** (target "
        f"≤ 1.5; NVFlare reports about 2.7× for its HE mode); per cycle "
        f"{ours['cycle_s_median'] / fl['cycle_s_median']:.2f}×. Accuracy gap (fedledger − Flower): "
        f"{result['accuracy_gap_points']:+.2f} points (target within ±0.5)." + _cpu_text(result),
    )


def _cpu_text(result: dict[str, Any]) -> str:
    """Where the CPU went per steady-state round, both sides, from the same machine counters."""
    fl, ours = result["flower"]["cpu_s_per_round"], result["fedledger"]["cpu_s_per_round"]
    if not fl or not ours or fl["machine"] is None or ours["machine"] is None:
        return ""
    roles = ", ".join(f"{role} {seconds:.2f}" for role, seconds in ours["by_role"].items())
    cpus = result["machine"]["cpus"] or 1
    # Over the same window as the CPU figures (round 2's opening to the last publication).
    busy = ours["machine"] / (cpus * ours["wall_s"])
    return (
        "\n\nCPU-seconds per steady-state round, whole machine: Flower "
        f"{fl['machine']:.2f}, fedledger {ours['machine']:.2f} ({roles}). Local training alone "
        f"(every client once, one thread, run by itself) takes "
        f"{result['training_cpu_s_per_round']:.2f}: both systems do it, and on "
        f"{cpus} cores it bounds a round from below at "
        f"{result['training_cpu_s_per_round'] / cpus:.2f} s. fedledger kept the cores "
        f"{busy:.0%} busy: beyond training, every round each daemon encrypts, hashes, commits, "
        "uploads an encrypted update of the whole model and downloads, verifies and "
        "decrypts the encrypted sum, and the aggregator receives, validates and sums the "
        "updates."
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench round", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--flower-client-cpus",
        type=float,
        default=1.0,
        help="Flower's client_resources num_cpus (1 → 2 concurrent clients on 2 cores)",
    )
    parser.add_argument(
        "--fedledger-mode",
        choices=sorted(MODES),
        default="processes",
        help="processes: Hardhat node + aggregator + one process per client (the deployment "
        "shape); embedded: everything in one process on the in-process chain",
    )
    parser.add_argument(
        "--local-epochs",
        type=int,
        default=None,
        help="local epochs per round on both sides (default: the task's, 2)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.local_epochs is not None and args.local_epochs < 1:
        parser.error("--local-epochs must be at least 1")
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (round 1 is warm-up)")
    if importlib.util.find_spec("flwr") is None or importlib.util.find_spec("ray") is None:
        parser.error(
            "Flower's simulation is not installed: `make bench` installs it "
            "(or `pip install -e '.[bench]'`: flwr[simulation])"
        )
    result = run(
        args.rounds, args.clients, args.flower_client_cpus, args.fedledger_mode, args.local_epochs
    )
    emit(result, as_json=args.json)
    if args.update_docs:
        command = f"fedledger bench round --rounds {args.rounds} --clients {args.clients}"
        if args.local_epochs is not None:
            command += f" --local-epochs {args.local_epochs}"
        if args.flower_client_cpus != 1.0:
            command += f" --flower-client-cpus {args.flower_client_cpus:g}"
        if args.fedledger_mode != "processes":
            command += f" --fedledger-mode {args.fedledger_mode}"
        document(result, command + " --json")


if __name__ == "__main__":
    main()
