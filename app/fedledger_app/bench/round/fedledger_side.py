"""The fedledger side of ``fedledger bench round``: the real federation, timed per round."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from fedledger_app.bench.round.measure import SEED, TASK, CpuMeter, cycles, steady

__all__ = ["MODES", "MODE_TEXT", "run_fedledger"]


#: How fedledger runs: ``processes`` — the deployment shape: a Hardhat node, the aggregator,
#: and one process per client daemon; ``embedded`` — everything in this one process.
MODES: dict[str, dict[str, Any]] = {
    "processes": {"chain": "hardhat", "client_processes": True},
    "embedded": {"chain": "embedded", "client_processes": False},
}


MODE_TEXT = {
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
    *,
    masking: bool = True,
) -> dict[str, Any]:
    """One federation of ``rounds`` rounds (updates pairwise masked or not); per-round wall
    time."""
    from fedledger_app.federation import FederationSpec, run_federation

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
                masking=masking,
                **MODES[mode],
            ),
            progress=progress,
            clients_data=clients_data,
        )
    round_s = [float(s) for s in run.round_seconds]
    first_open = opened.get(1)
    return {
        "round_s_median": steady(round_s),
        "round_s": round_s,
        # set-up (contracts, accounts, aggregator, daemons) and key dealing, up to round 1's opening
        "startup_s": (first_open - started) if first_open else run.setup_s,
        "cycle_s_median": steady(cycles(opened)),
        "setup_s": run.setup_s,
        # CPU-seconds per steady-state round (round 2's opening → the last publication)
        "cpu_s_per_round": meter.between("steady", "end", rounds - 1),
        "mode": mode,
        "masking": masking,
        "accuracy": float(run.rounds[-1].test_metrics["accuracy"]),
        "participants": [r.participants for r in run.rounds],
        "gas_per_round": run.rounds[-1].gas.get("total"),
    }
