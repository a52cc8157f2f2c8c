"""Both sides of ``fedledger bench round`` in one run, and their section of docs/benchmarks.md."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from fedledger_app.bench._report import machine, native_stdout_to_stderr, table, update_section
from fedledger_app.bench.round.fedledger_side import MODE_TEXT, run_fedledger
from fedledger_app.bench.round.flower_side import run_flower
from fedledger_app.bench.round.measure import SEED, TASK, train_config, training_cpu_s

__all__ = ["document", "run"]


def run(
    rounds: int,
    clients: int,
    client_cpus: float,
    mode: str = "processes",
    local_epochs: int | None = None,
    *,
    masking: bool = True,
) -> dict[str, Any]:
    """Both systems, fedledger first (masked updates unless ``masking`` is false), then
    Flower (so no Ray process runs beside fedledger)."""
    import torch

    from fedledger_clients.tasks import get_task

    task = get_task(TASK)
    clients_data = task.load_clients(num_clients=clients, seed=SEED)
    saved_threads = torch.get_num_threads()
    # stdout stays one JSON object: Ray's processes inherit fd 1 and write to it.
    with native_stdout_to_stderr():
        try:
            fedledger = run_fedledger(
                rounds, clients, clients_data, mode, local_epochs, masking=masking
            )
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
        "masking": masking,
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
        f"fedledger: `run_federation` ({MODE_TEXT[ours['mode']]}), {result['clients']} client "
        "daemons over HTTP, CKKS, "
        f"{'updates pairwise masked' if result['masking'] else 'masking off'}, "
        "rounds timed from opening to publication. Round 1 (warm-up) and "
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
