"""Wall time per federated round: fedledger (CKKS + chain + HTTP) against Flower's simulation.

    fedledger bench round --json [--rounds 6] [--clients 8] [--local-epochs E]
                                 [--flower-client-cpus 1] [--masking on|off] [--update-docs]

Both systems run, one after the other in the same invocation, the same task code: the
``sentiment`` task, its Dirichlet partition over ``clients`` clients (seed 0), its initial model
(seed 0), its default local training settings (``--local-epochs`` changes the number of local
epochs on both sides), ``task.local_update`` on every client every round,
FedAvg weighted by each client's sample count, and ``task.evaluate`` of the final model on the
task's fixed test split.

* **fedledger**: :func:`fedledger_app.federation.run_federation`, the real system: a Hardhat
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
import importlib.util

from fedledger_app.bench._report import emit, require_checkout
from fedledger_app.bench.round.compare import document, run
from fedledger_app.bench.round.fedledger_side import MODES
from fedledger_app.bench.round.measure import CpuMeter, train_config

__all__ = ["CpuMeter", "main", "train_config"]


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
    parser.add_argument(
        "--masking",
        choices=("on", "off"),
        default="on",
        help="pairwise masking of fedledger's updates (on by default, as in a deployment)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
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
        args.rounds,
        args.clients,
        args.flower_client_cpus,
        args.fedledger_mode,
        args.local_epochs,
        masking=args.masking == "on",
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
        if args.masking != "on":
            command += " --masking off"
        document(result, command + " --json")
