"""Cost curve in the number of participants: ``fedledger simulate`` against Flower's simulation.

    fedledger bench scale --json [--participants 10,100] [--rounds 3] [--chain hardhat]
                                 [--partition iid|dirichlet|topic] [--dirichlet-alpha A]
                                 [--plot FILE] [--no-flower] [--update-docs]

For each N, in the same invocation:

* **fedledger**: :func:`fedledger_app.scale.simulate` — N ``sentiment`` participants (the
  ``--partition`` over N, seed 0, the task's local training) hosted by one Ray actor per
  CPU, a Hardhat node (``--chain``), the aggregator on a loopback port with SQLite; every
  update encrypted (CKKS), committed on chain, summed under encryption, decrypted and attested
  by every participant; then every round audited. A round is timed from its opening to its
  publication, as the aggregator's long-poll reports them.
* **Flower** (``flwr[simulation]``, plaintext, no chain): the ``run_simulation`` of ``fedledger
  bench round`` with the same N, task, seeds and local training, on Ray with one CPU per client.

The partition defaults to ``iid`` (equal random shares), not the task's own Dirichlet(0.5): that
one finds no split of the 30,515 training posts giving 1,000 participants 10 posts each (it is
refused before anything starts, naming the fix), and a Dirichlet alpha large enough for 1,000
is close to IID anyway. What is measured here, the cost of a round, depends on the shards'
sizes, not on their label mix; one rule for every N keeps the points of the curve comparable.
Both sides build the task with the same partition, so they train on the same shards.

Round 1 is warm-up on both sides: ``round_s_median`` is the median of rounds 2..R. The
aggregator serves from its own process (:mod:`fedledger_app.scale.aggregator`), so its memory
is its own. Per round: its resident size when the round opens, and its peak (``VmHWM``, reset
at that moment through ``/proc/<pid>/clear_refs``) until the next round opens, the last one
until its publication, before the audit. ``aggregator_peak_increase_over_update`` is the
largest increase of rounds 2..R divided by one encrypted update's size (the running sum keeps
it O(1) in N); round 1's, which includes the process's first connections, worker threads and
CKKS objects, is ``aggregator_round_1_peak_increase_over_update``. Nothing is downloaded: Ray's
usage reports and Flower's telemetry are off and Ray is bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
from pathlib import Path
from typing import Any

from fedledger_app.bench._report import (
    emit,
    machine,
    native_stdout_to_stderr,
    require_checkout,
    table,
    update_section,
)
from fedledger_app.scale.spec import PARTITIONS, SimulationSpec, check_partition
from fedledger_platform.errors import ConfigurationError

__all__ = ["main", "run_one"]

_MIB = 2**20
_ROUND_TIMEOUT_S = 4 * 3600


def run_one(
    participants: int, rounds: int, chain: str, work: Path, partition: dict[str, Any]
) -> dict[str, Any]:
    """One fedledger simulation of ``participants`` (the sentiment task built with
    ``partition``: its ``partition`` and ``dirichlet_alpha``); its figures for the cost curve."""
    from fedledger_app.scale import simulate

    spec = SimulationSpec(
        participants=participants,
        rounds=rounds,
        chain=chain,
        out=work / f"n{participants}",
        # Deadlines are in chain time, and a Hardhat node's clock runs ahead of the wall clock
        # under a thousand participants' transactions: a round is not cut short by it.
        round_timeout_s=_ROUND_TIMEOUT_S,
        **partition,
    )

    result = simulate(spec)
    memory = result.extra[
        "aggregator_memory"
    ]  # per round: size at its opening, peak until the next
    rows = result.rounds
    update = max(r["uploaded_bytes"] / max(1, r["participants"]) for r in rows)
    round_s = [float(r["round_s"]) for r in rows]
    steady = round_s[1:] if len(round_s) > 1 else round_s
    phases: dict[str, float] = {}
    for row in rows[1:] or rows:
        for name, seconds in row["phase_s"].items():
            phases[name] = phases.get(name, 0.0) + seconds / len(rows[1:] or rows)
    # Round 1 is warm-up here too (the first connections, threads and CKKS objects of the
    # process): the figure is the largest increase of rounds 2..R, round 1's is reported beside.
    increase = max(m["peak_increase_bytes"] for m in memory[1:] or memory)
    return {
        "participants": participants,
        "round_s": round_s,
        "round_s_median": statistics.median(steady),
        "collect_s": [r["collect_s"] for r in rows],
        "attest_s": [r["attest_s"] for r in rows],
        "phase_s_per_round": phases,
        "gas_per_round": statistics.median([r["gas"].get("total", 0) for r in rows]),
        "gas_per_round_by_operation": rows[-1]["gas"],
        "bytes_moved_per_round": statistics.median([r["bytes_moved"] for r in rows]),
        "update_bytes": update,
        "aggregate_bytes": rows[-1]["aggregate_bytes"],
        "aggregator_rss_at_round_opening_mib": [m["rss_at_opening_bytes"] / _MIB for m in memory],
        "aggregator_peak_increase_by_round_mib": [m["peak_increase_bytes"] / _MIB for m in memory],
        "aggregator_peak_increase_mib": increase / _MIB,
        "aggregator_peak_increase_over_update": increase / update,
        "aggregator_round_1_peak_increase_over_update": memory[0]["peak_increase_bytes"] / update,
        "setup_s": result.setup,
        "audit_s": result.extra.get("audit_s"),
        "audit_passed": result.audit_passed,
        "total_s": result.total_s,
    }


def _flower(participants: int, rounds: int, partition: dict[str, Any]) -> dict[str, Any]:
    from fedledger_app.bench.round.flower_side import run_flower

    options = {k: v for k, v in partition.items() if v is not None}
    return run_flower(rounds, participants, 1.0, task_options=options)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Round time (both systems) and the aggregator's peak memory increase against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["participants"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(n, [r["round_s_median"] for r in runs], "o-", label="fedledger (CKKS + chain)")
    if all(r.get("flower_round_s_median") for r in runs):
        left.plot(n, [r["flower_round_s_median"] for r in runs], "s--", label="Flower (plaintext)")
    left.set(xscale="log", yscale="log", xlabel="participants", ylabel="round time (s)")
    left.legend()
    right.plot(n, [r["aggregator_peak_increase_mib"] for r in runs], "o-", label="peak increase")
    right.plot(n, [r["update_bytes"] / _MIB for r in runs], ":", label="one encrypted update")
    right.set(xscale="log", xlabel="participants", ylabel="aggregator memory (MiB)")
    right.legend()
    fig.suptitle("fedledger simulate: cost against the number of participants")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def document(result: dict[str, Any], command: str) -> None:
    """The ``scale`` section of docs/benchmarks.md."""
    rows = []
    for r in result["runs"]:
        flower = r.get("flower_round_s_median")
        phases = r["phase_s_per_round"]
        rows.append(
            [
                r["participants"],
                f"{r['round_s_median']:.2f}",
                f"{flower:.2f}" if flower else "—",
                f"{r['ratio']:.2f}×" if r.get("ratio") else "—",
                f"{r['aggregator_peak_increase_mib']:.1f} MiB "
                f"({r['aggregator_peak_increase_over_update']:.2f}×; round 1: "
                f"{r['aggregator_round_1_peak_increase_over_update']:.2f}×)",
                f"{r['gas_per_round']:,.0f}",
                f"{r['bytes_moved_per_round'] / _MIB:,.0f} MiB",
                ", ".join(f"{k} {v:.1f}" for k, v in phases.items()),
                f"{r['setup_s']['total_s']:.0f}",
                f"{r['audit_s']:.1f}" if r["audit_s"] is not None else "—",
                f"{r['total_s']:.0f}",
            ]
        )
    header = [
        "N",
        "round (s)",
        "Flower round (s)",
        "ratio",
        "aggregator peak increase, rounds 2..R (× one update)",
        "gas per round",
        "bytes moved per round",
        "participant-seconds per round by phase (summed)",
        "set-up (s)",
        "audit (s)",
        "total (s)",
    ]
    text = (
        f"## Scale: sentiment, N participants on Ray, {result['rounds']} rounds\n\n"
        f"Command: `{command}` — fedledger: `fedledger simulate` (participants hosted by one Ray "
        f"actor per CPU, {result['chain']} chain, the aggregator in its own process, SQLite, "
        f"partition {result['partition']}); "
        "Flower: `run_simulation` of the same task, N, seeds and local training (plaintext, no "
        "chain), in the same run. Round times are medians of rounds 2..R. Memory: the "
        "aggregator's process, per round its peak resident size until the next round opens "
        "(the last: until its publication, before the audit) above its size at the round's "
        "opening; the largest of rounds 2..R, round 1's (warm-up) beside it. Set-up: "
        "deployment, funding and batched admission, Ray hosts, key dealing. Machine: "
        f"{result['machine']['cpus']} CPUs, Python {result['machine']['python']}.\n\n"
        + table(rows, header)
        + f"\n\nPlot: `{result['plot']}`.\n"
    )
    update_section("scale", text)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench scale", description=__doc__)
    parser.add_argument("--participants", default="10,100", help="comma-separated N")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chain", default="hardhat", help="embedded, hardhat or a devnet URL")
    parser.add_argument("--plot", type=Path, default=Path("bench-scale.png"))
    parser.add_argument(
        "--partition",
        default="iid",
        choices=PARTITIONS,
        help="the sentiment task's partition on both sides (default iid: see the module doc)",
    )
    parser.add_argument(
        "--dirichlet-alpha", type=float, default=None, help="concentration of --partition dirichlet"
    )
    parser.add_argument("--no-flower", action="store_true", help="skip Flower's side")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
    try:
        sizes = [int(n) for n in args.participants.split(",")]
    except ValueError:
        parser.error(f"--participants takes comma-separated integers, got {args.participants!r}")
    if min(sizes) < 2 or args.rounds < 2:
        parser.error("every N must be at least 2 and --rounds at least 2 (round 1 is warm-up)")
    partition = {"partition": args.partition, "dirichlet_alpha": args.dirichlet_alpha}
    if not args.no_flower and importlib.util.find_spec("flwr") is None:
        parser.error("Flower's simulation is not installed: `make bench` installs it")
    for n in sizes:  # every N's shards are drawn before the first run starts
        try:
            check_partition(SimulationSpec(participants=n, **partition))
        except ConfigurationError as exc:
            parser.error(str(exc))
    runs = []
    with native_stdout_to_stderr(), tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        for n in sizes:
            run = run_one(n, args.rounds, args.chain, Path(work), partition)
            if not args.no_flower:
                flower = _flower(n, args.rounds, partition)
                run["flower_round_s_median"] = flower["round_s_median"]
                run["flower_round_s"] = flower["round_s"]
                run["ratio"] = run["round_s_median"] / flower["round_s_median"]
            runs.append(run)
    plot(runs, args.plot)
    result = {
        "benchmark": "scale",
        "task": "sentiment",
        **partition,
        "rounds": args.rounds,
        "chain": args.chain,
        "runs": runs,
        "plot": str(args.plot),
        "machine": machine(),
    }
    emit(result, as_json=args.json)
    if args.update_docs:
        command = f"fedledger bench scale --participants {args.participants}"
        command += f" --rounds {args.rounds} --json"
        if args.partition != "iid" or args.dirichlet_alpha is not None:
            command += f" --partition {args.partition}"
        if args.dirichlet_alpha is not None:
            command += f" --dirichlet-alpha {args.dirichlet_alpha}"
        document(result, command)
