"""``fedledger bench``: the reproducible benchmarks, one module of this package each.

Every benchmark module has a ``main(argv)`` taking its command line; :func:`run_benchmark`
imports the module only when it runs, so the heavy or optional imports of a benchmark (torch,
TenSEAL, Flower for ``round``) cost nothing to the rest of the ``fedledger`` command.
``--update-docs`` rewrites docs/benchmarks.md of the source checkout this package lives in.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["ALL", "BENCHMARKS", "run_benchmark"]

BENCHMARKS = {
    "crypto": "CKKS codec against NVFlare's HE setting (bytes, encrypt, aggregate, decrypt)",
    "gas": "gas per ledger operation on the embedded chain",
    "aggregator": "ingest throughput and latency of the aggregator service",
    "quality": "federated vs. plaintext FedAvg vs. centralized vs. a standard baseline, per task",
    "audit": "time to audit rounds × participants × model size",
    "round": "wall time per round against Flower's simulation",
    "masking": "a masked round of many members (k-regular graph) and a dropout round",
    "scale": "round time, memory, gas and bytes against N participants on Ray, beside Flower",
}


#: What `fedledger bench all` (and `make bench`) runs: every benchmark with the arguments its
#: figures in docs/benchmarks.md are documented with.
ALL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crypto", ("--params", "1000000", "--repeats", "3")),
    ("gas", ()),
    ("aggregator", ()),
    ("quality", ("--task", "sentiment", "--seeds", "0,1,2")),
    ("quality", ("--task", "sentiment", "--partition", "topic")),
    ("quality", ("--task", "recommendation")),
    ("quality", ("--task", "hashtags")),
    ("audit", ()),
    ("round", ()),
    ("round", ("--local-epochs", "5")),  # the same comparison with heavier local training
    ("masking", ()),
    ("scale", ("--participants", "10,100", "--plot", "docs/images/bench-scale.png")),
)


def run_benchmark(name: str, args: list[str]) -> None:
    """Run the benchmark ``name`` (a key of :data:`BENCHMARKS`) with ``args`` as its command
    line."""
    if name not in BENCHMARKS:
        raise typer.BadParameter(
            f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}, all"
        )
    module = importlib.import_module(f"{__name__}.{name}")
    module.main(args)
