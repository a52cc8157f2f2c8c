"""Model quality three ways, on the same split, model, shards and seeds:

* ``federated`` — the real system: CKKS encryption, the embedded chain, the aggregator on
  loopback and one client daemon per shard over HTTP (``run_federation``);
* ``plaintext_fedavg`` — the same task code and round protocol with encryption and chain off;
* ``centralized`` — the same model trained on the union of the shards (as many passes over the
  data as the federation makes: rounds × local epochs).

    fedledger bench quality --task sentiment --json [--clients 8] [--rounds R] [--update-docs]

Prints one JSON object with the test metric of each (the task's headline metric: accuracy,
RMSE, or top-50 overlap with exactness for hashtags), rounds, clients and wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from fedledger_app.bench._report import emit, machine, require_checkout, table, update_section
from fedledger_app.federation import FederationSpec, run_federation
from fedledger_app.simulation import run_centralized, run_plaintext_fedavg
from fedledger_clients.tasks import get_task

TARGETS = {
    "sentiment": "federated within 2 points of centralized and 0.5 of plaintext FedAvg",
    "recommendation": "federated test RMSE ≤ 0.95",
    "hashtags": "top-50 hashtags and counts equal a plaintext count exactly",
}


def run(task_name: str, clients: int, rounds: int | None, seed: int) -> dict[str, Any]:
    """Train the three ways and collect the headline metric of each."""
    torch.set_num_threads(1)
    task = get_task(task_name)
    rounds = rounds or task.default_rounds()
    config = task.default_config()
    shards = task.load_clients(num_clients=clients, seed=seed)
    test_set = task.load_test_set(seed=seed)
    metric = task.headline_metric
    with tempfile.TemporaryDirectory(prefix="fedledger-quality-") as tmp:
        started = time.perf_counter()
        federation = run_federation(
            FederationSpec(
                task=task_name, clients=clients, rounds=rounds, out=Path(tmp) / "fed", seed=seed
            ),
            clients_data=shards,
        )
        federated_s = time.perf_counter() - started
        started = time.perf_counter()
        plain = run_plaintext_fedavg(
            get_task(task_name),
            shards,
            rounds=rounds,
            config=config,
            seed=seed,
            test_set=test_set,
            private_root=Path(tmp) / "plain",
        )
        plain_s = time.perf_counter() - started
    started = time.perf_counter()
    central = run_centralized(
        get_task(task_name),
        shards,
        epochs=rounds * config.local_epochs,
        config=config,
        test_set=test_set,
    )
    central_s = time.perf_counter() - started
    federated_metrics = federation.rounds[-1].test_metrics
    plain_metrics = plain.final_test_metrics
    result: dict[str, Any] = {
        "benchmark": "quality",
        "task": task_name,
        "metric": metric,
        "higher_is_better": task.higher_is_better,
        "federated": federated_metrics[metric],
        "plaintext_fedavg": plain_metrics[metric],
        "centralized": central.test_metrics[metric],
        "rounds": rounds,
        "clients": clients,
        "seed": seed,
        "wall_s": {"federated": federated_s, "plaintext_fedavg": plain_s, "centralized": central_s},
        "per_round": [r.test_metrics.get(metric) for r in federation.rounds],
        "target": TARGETS[task_name],
        "machine": machine(),
    }
    if task_name == "sentiment":
        result["gap_to_centralized_points"] = 100 * (result["centralized"] - result["federated"])
        result["gap_to_plaintext_points"] = 100 * abs(
            result["plaintext_fedavg"] - result["federated"]
        )
        result["target_met"] = (
            result["gap_to_centralized_points"] <= 2 and result["gap_to_plaintext_points"] <= 0.5
        )
    elif task_name == "recommendation":
        result["target_met"] = result["federated"] <= 0.95
    else:
        exact = [r.test_metrics.get("exact") == 1.0 for r in federation.rounds]
        result["exact_every_round"] = all(exact)
        result["target_met"] = all(exact) and result["federated"] == 1.0
    return result


def document(result: dict[str, Any], command: str) -> None:
    """Write (or replace) this task's quality section of docs/benchmarks.md."""
    metric = result["metric"]
    rows = [
        [way, f"{result[way]:.4f}", f"{result['wall_s'][way]:.1f}"]
        for way in ("federated", "plaintext_fedavg", "centralized")
    ]
    note = "met" if result.get("target_met") else "NOT met"
    update_section(
        f"quality-{result['task']}",
        f"## Quality: `{result['task']}` ({metric}, {result['clients']} clients, "
        f"{result['rounds']} rounds)\n\n"
        f"Command: `{command}`\n\n"
        + table(rows, ["training", f"test {metric}", "wall time (s)"])
        + f"\n\nTarget ({result['target']}): **{note}**. Federated {metric} per round: "
        + ", ".join(f"{v:.4f}" for v in result["per_round"] if v is not None)
        + ".",
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench quality", description=__doc__)
    parser.add_argument("--task", default="sentiment", choices=sorted(TARGETS))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
    result = run(args.task, args.clients, args.rounds, args.seed)
    emit(result, as_json=args.json)
    if args.update_docs:
        extra = f" --rounds {args.rounds}" if args.rounds else ""
        document(
            result,
            f"fedledger bench quality --task {args.task} --clients {args.clients}{extra} --json",
        )
