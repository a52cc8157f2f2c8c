"""``fedledger bench``: run the reproducible benchmarks kept in the repository's ``bench/``.

The benchmark scripts measure the real code paths of an installed fedledger but are not part of
the wheel; they run from a source checkout (``make bench`` runs them all).
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import typer

BENCHMARKS = {
    "crypto": "CKKS codec against NVFlare's HE setting (bytes, encrypt, aggregate, decrypt)",
    "gas": "gas per ledger operation on the embedded chain",
    "aggregator": "ingest throughput and latency of the aggregator service",
    "quality": "federated vs. plaintext FedAvg vs. centralized, per task",
    "audit": "time to audit rounds × participants × model size",
    "round": "wall time per round against Flower's simulation",
}


#: What `fedledger bench all` (and `make bench`) runs: every benchmark with the arguments its
#: figures in docs/benchmarks.md are documented with.
ALL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crypto", ("--params", "1000000", "--repeats", "3")),
    ("gas", ()),
    ("aggregator", ()),
    ("quality", ("--task", "sentiment")),
    ("quality", ("--task", "recommendation")),
    ("quality", ("--task", "hashtags")),
    ("audit", ()),
    ("round", ()),
    ("round", ("--local-epochs", "5")),  # the same comparison with heavier local training
)


def bench_dir() -> Path:
    """The repository's ``bench/`` folder, next to the source roots."""
    here = Path(__file__).resolve().parents[2] / "bench"
    if not (here / "_report.py").is_file():
        raise typer.BadParameter(
            "benchmarks run from a source checkout of fedledger (bench/ was not found next to "
            f"{Path(__file__).resolve().parents[1]}); clone the repository and run `make bench`"
        )
    return here


def run_benchmark(name: str, args: list[str]) -> None:
    """Run ``bench/<name>.py`` with ``args`` as its command line."""
    if name not in BENCHMARKS:
        raise typer.BadParameter(
            f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}, all"
        )
    directory = bench_dir()
    script = directory / f"{name}.py"
    if not script.is_file():
        raise typer.BadParameter(f"benchmark script {script} is missing")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [f"fedledger bench {name}", *args]
    sys.path.insert(0, str(directory))
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
