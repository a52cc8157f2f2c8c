"""Model quality several ways, on the same split, model, shards and seeds:

* ``federated`` — the real system: CKKS encryption, the embedded chain, the aggregator on
  loopback and one client daemon per shard over HTTP (``run_federation``);
* ``plaintext_fedavg`` — the same task code and round protocol with encryption and chain off;
* ``centralized`` — the same model trained on the union of the shards (as many passes over the
  data as the federation makes: rounds × local epochs);
* a standard centralized reference (:mod:`fedledger_app.bench._baselines`):
  ``sklearn_baseline`` for sentiment (TF-IDF 1–2-grams + LogisticRegression), ``svd_baseline``
  for recommendation (biased matrix factorization, alternating least squares).

    fedledger bench quality --task sentiment --json [--clients 8] [--rounds R]
        [--seeds 0,1,2] [--partition dirichlet|topic|iid] [--update-docs]

Prints one JSON object: the headline metric of each way (accuracy, RMSE, or top-50 overlap
with exactness for hashtags) as the mean over ``--seeds``, the per-seed figures under ``seeds``,
the gap from the federation to each baseline, rounds, clients and wall times. ``--partition``
(sentiment) chooses how the training pool is dealt to the participants; ``topic`` gives each
one a dominant topic, the hard non-IID case.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast, get_args

import torch

from fedledger_app.bench._baselines import biased_mf_als, sklearn_sentiment
from fedledger_app.bench._report import emit, machine, require_checkout, table, update_section
from fedledger_app.federation import FederationSpec, run_federation
from fedledger_app.simulation import run_centralized, run_plaintext_fedavg
from fedledger_clients.data.movielens import load_ratings, split_ratings
from fedledger_clients.tasks import SentimentTask, Task, get_task
from fedledger_clients.tasks.sentiment import Partition

__all__ = ["TARGETS", "WAYS", "document", "gaps", "main", "run", "run_seed", "summarize"]

TARGETS = {
    "sentiment": "federated ≥ 0.76 (seeds' mean), within 0.1 point of plaintext FedAvg",
    "sentiment-topic": "federated within 1.5 points of centralized",
    "recommendation": "federated test RMSE ≤ 0.915",
    "hashtags": "top-50 hashtags and counts equal a plaintext count exactly",
}
#: the ways every seed is trained
WAYS = ("federated", "plaintext_fedavg", "centralized")
PARTITIONS: tuple[str, ...] = get_args(Partition)


def _task(task_name: str, partition: str) -> Task:
    if task_name == "sentiment":
        return SentimentTask(partition=cast(Partition, partition))
    return get_task(task_name)


def run_seed(
    task_name: str, clients: int, rounds: int, seed: int, partition: str = "dirichlet"
) -> dict[str, Any]:
    """One seed's federated, plaintext FedAvg and centralized figures (and per-round metric)."""
    task = _task(task_name, partition)
    # The federation's daemons train with the run's seed (ClientConfig's task seed): so do the
    # plaintext and centralized runs, or seeds other than 0 would compare different training.
    config = replace(task.default_config(), seed=seed)
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
            _task(task_name, partition),
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
        _task(task_name, partition),
        shards,
        epochs=rounds * config.local_epochs,
        config=config,
        test_set=test_set,
    )
    central_s = time.perf_counter() - started
    return {
        "seed": seed,
        "federated": federation.rounds[-1].test_metrics[metric],
        "plaintext_fedavg": plain.final_test_metrics[metric],
        "centralized": central.test_metrics[metric],
        "wall_s": {"federated": federated_s, "plaintext_fedavg": plain_s, "centralized": central_s},
        "per_round": [r.test_metrics.get(metric) for r in federation.rounds],
        "exact_every_round": all(r.test_metrics.get("exact") == 1.0 for r in federation.rounds),
    }


def gaps(result: dict[str, Any], baselines: tuple[str, ...]) -> dict[str, float]:
    """How far the federation is behind each baseline, in the metric's own direction: points
    of accuracy (positive = behind) or RMSE units (positive = worse)."""
    scale = 100.0 if result["higher_is_better"] else 1.0
    sign = 1.0 if result["higher_is_better"] else -1.0
    return {b: sign * scale * (result[b] - result["federated"]) for b in baselines}


def summarize(
    task_name: str, metric: str, higher_is_better: bool, per_seed: list[dict[str, Any]]
) -> dict[str, Any]:
    """The seeds' mean of each way, and the per-seed figures under ``seeds``."""
    if not per_seed:
        raise ValueError("summarize needs at least one seed's figures")
    result: dict[str, Any] = {
        "benchmark": "quality",
        "task": task_name,
        "metric": metric,
        "higher_is_better": higher_is_better,
        **{way: statistics.fmean(s[way] for s in per_seed) for way in WAYS},
        "seeds": per_seed,
    }
    return result


def run(
    task_name: str,
    clients: int,
    rounds: int | None,
    seeds: list[int],
    partition: str = "dirichlet",
) -> dict[str, Any]:
    """Train every way for every seed, add the task's reference baseline, and judge the target."""
    if task_name != "sentiment" and partition != "dirichlet":
        raise ValueError(f"--partition applies to the sentiment task only, not {task_name!r}")
    torch.set_num_threads(1)
    task = _task(task_name, partition)
    rounds = rounds or task.default_rounds()
    per_seed = [run_seed(task_name, clients, rounds, seed, partition) for seed in seeds]
    result = summarize(task_name, task.headline_metric, task.higher_is_better, per_seed)
    result.update(rounds=rounds, clients=clients, partition=partition)
    baselines: tuple[str, ...] = ("plaintext_fedavg", "centralized")
    started = time.perf_counter()
    if task_name == "sentiment":
        result["sklearn_baseline"] = sklearn_sentiment()
        baselines += ("sklearn_baseline",)
    elif task_name == "recommendation":
        result["svd_baseline"] = biased_mf_als(*split_ratings(load_ratings()))
        baselines += ("svd_baseline",)
    result["baseline_wall_s"] = time.perf_counter() - started
    result["gap"] = gaps(result, baselines)
    key = "sentiment-topic" if task_name == "sentiment" and partition == "topic" else task_name
    result["target"] = TARGETS[key]
    if key == "sentiment":
        result["target_met"] = (
            result["federated"] >= 0.76 and abs(result["gap"]["plaintext_fedavg"]) <= 0.1
        )
    elif key == "sentiment-topic":
        result["target_met"] = result["gap"]["centralized"] <= 1.5
    elif key == "recommendation":
        result["target_met"] = result["federated"] <= 0.915
    else:
        exact = all(s["exact_every_round"] for s in per_seed)
        result["target_met"] = exact and result["federated"] == 1.0
    result["machine"] = machine()
    return result


def document(result: dict[str, Any], command: str) -> None:
    """Write (or replace) this task's (and partition's) quality section of docs/benchmarks.md."""
    metric, seeds, higher = result["metric"], result["seeds"], result["higher_is_better"]
    ways = [w for w in (*WAYS, "sklearn_baseline", "svd_baseline") if w in result]
    header = ["training", f"test {metric} (mean)", *(f"seed {s['seed']}" for s in seeds)]
    header += ["gap of federated", "wall time (s, all seeds)"]
    rows = []
    for way in ways:
        per = [f"{s[way]:.4f}" if way in s else "" for s in seeds]
        gap = result["gap"].get(way)
        wall = sum(s["wall_s"][way] for s in seeds) if way in WAYS else result["baseline_wall_s"]
        shown = "" if gap is None else f"{gap:+.2f}" if higher else f"{gap:+.4f}"
        rows.append([way, f"{result[way]:.4f}", *per, shown, f"{wall:.1f}"])
    unit = "points" if higher else metric
    note = "met" if result.get("target_met") else "NOT met"
    suffix = "" if result["partition"] == "dirichlet" else f"-{result['partition']}"
    partition = f", {result['partition']} partition" if result["task"] == "sentiment" else ""
    update_section(
        f"quality-{result['task']}{suffix}",
        f"## Quality: `{result['task']}` ({metric}, {result['clients']} clients, "
        f"{result['rounds']} rounds{partition})\n\n"
        f"Command: `{command}`\n\n"
        + table(rows, header)
        + f"\n\nGap of federated: how far it is behind each baseline ({unit}). "
        f"Target ({result['target']}): **{note}**. Federated {metric} per round, seed "
        f"{seeds[0]['seed']}: "
        + ", ".join(f"{v:.4f}" for v in seeds[0]["per_round"] if v is not None)
        + ".",
    )


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes comma-separated integers such as 0,1,2, not {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"--seeds needs distinct integers such as 0,1,2, not {text!r}"
        )
    return seeds


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench quality", description=__doc__)
    parser.add_argument(
        "--task", default="sentiment", choices=("sentiment", "recommendation", "hashtags")
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seeds", type=_seeds, default=[0], help="e.g. 0,1,2 (default 0)")
    parser.add_argument("--partition", default="dirichlet", choices=sorted(PARTITIONS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.task != "sentiment" and args.partition != "dirichlet":
        parser.error(f"--partition applies to the sentiment task only; drop it for {args.task}")
    if args.update_docs:
        require_checkout(parser)
    result = run(args.task, args.clients, args.rounds, args.seeds, args.partition)
    emit(result, as_json=args.json)
    if args.update_docs:
        extra = f" --rounds {args.rounds}" if args.rounds else ""
        extra += f" --seeds {','.join(map(str, args.seeds))}" if args.seeds != [0] else ""
        extra += f" --partition {args.partition}" if args.partition != "dirichlet" else ""
        document(
            result,
            f"fedledger bench quality --task {args.task} --clients {args.clients}{extra} --json",
        )
