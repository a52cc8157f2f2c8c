"""Aggregator ingest throughput, upload latency and peak memory, measured on a separate
``fedledger serve --config aggregator.toml`` process (keystore, deployment file, SQLite on disk,
blob directory) against a Hardhat node, with the participants in this process.

    fedledger bench aggregator --json [--update-docs] [--runs 3] [--uploaders 50]
        [--params 100000] [--memory-uploads 200] [--memory-params 1000000]
        [--no-ingest | --no-memory] [--rpc-url URL]

Ingest: per run a fresh federation of ``uploaders`` admitted participants; round 1 opens, each
participant encrypts a distinct ``params``-parameter update and signs its commitment (EIP-712,
not timed), then all of them upload at once over loopback with it, one thread and one HTTP
connection each (the aggregator verifies each signature and relays the commitments).
An upload's latency is from the start of its request (signing included) to its receipt;
throughput is the accepted updates divided by the time from the common start to the last
receipt. Figures are medians over ``runs`` runs.

Memory: ``memory-uploads`` participants upload one distinct ``memory-params``-parameter update
each (sequentially: encrypt, commit, upload), after which the round closes with all of them. The
service's peak RSS (``VmHWM`` from ``/proc/PID/status``) at the end is compared with its RSS once
started and with round 1 open; the bound is 3x the size of one encrypted update.

Without ``--rpc-url`` a Hardhat node is started on a free loopback port (``make setup`` installs
it) and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import fedledger_crypto as fc
from fedledger_app.bench._report import (
    emit,
    machine,
    median,
    require_checkout,
    table,
    update_section,
)
from fedledger_app.bench.served import ServedFederation, flat_model, random_update_blob, served
from fedledger_platform.ledger.devnet import HardhatNode, free_port

MEMORY_BOUND_FACTOR = 3


@contextlib.contextmanager
def chain(rpc_url: str | None, workdir: Path) -> Iterator[str]:
    """``rpc_url``, or a Hardhat node of our own for the duration."""
    if rpc_url is not None:
        yield rpc_url
        return
    with (
        (workdir / "hardhat.log").open("wb") as log,
        HardhatNode(port=free_port(), log=log) as node,
    ):
        yield node.url


def _open_round(fed: ServedFederation) -> tuple[Any, Any]:
    """Start the service, publish the parameters (dealer), wait for round 1; returns the
    dealer participant and the round's update schema."""
    fed.start()
    participants = fed.participants()
    fed.set_up_keys(participants, seal=False)
    fed.wait_phase(1, ("open",))
    return participants, participants[0].base_model(1).schema()


def ingest_run(rpc_url: str, root: Path, uploaders: int, params: int) -> dict[str, Any]:
    """One run: ``uploaders`` concurrent uploads of a ``params``-parameter update."""
    with served(
        rpc_url,
        root,
        participants=uploaders,
        model=flat_model(params),
        rounds={"count": 1, "min_updates": uploaders},
    ) as fed:
        participants, schema = _open_round(fed)
        dealer = participants[0]
        blobs = [random_update_blob(dealer.encryptor, schema, seed=i) for i in range(uploaders)]
        # Each participant signs its commitment (EIP-712), as the daemons do: the aggregator
        # verifies the signature with the upload and relays it (no chain read per upload).
        signatures = [
            p.sign_commitment(1, fc.keccak256(blob))
            for p, blob in zip(participants, blobs, strict=True)
        ]
        for p in participants:  # connect first: the measurement starts with the uploads
            p.client.health()
        gate = threading.Barrier(uploaders + 1)
        times: list[tuple[float, float]] = [(0.0, 0.0)] * uploaders
        receipts: list[dict[str, Any]] = [{}] * uploaders

        def upload(i: int) -> None:
            gate.wait()
            start = time.perf_counter()
            receipts[i] = participants[i].client.upload_update(
                1, blobs[i], commitment_signature=signatures[i]
            )
            times[i] = (start, time.perf_counter())

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(uploaders)]
        for thread in threads:
            thread.start()
        gate.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = max(end for _, end in times) - began
        if not all(r.get("new") for r in receipts):
            raise RuntimeError(f"not every upload was accepted as new: {receipts}")
        info = fed.wait_phase(1, ("closed", "published"), timeout_s=300)
        if info["accepted"] != uploaders:
            raise RuntimeError(f"round 1 closed with {info['accepted']} of {uploaders} updates")
        latencies = np.array([end - start for start, end in times])
        return {
            "wall_s": wall,
            "accepted_per_s": uploaders / wall,
            "p50_s": float(np.percentile(latencies, 50)),
            "p99_s": float(np.percentile(latencies, 99)),
            "blob_bytes": len(blobs[0]),
        }


def ingest(
    rpc_url: str, workdir: Path, *, runs: int, uploaders: int, params: int
) -> dict[str, Any]:
    """``runs`` ingest runs and their medians."""
    samples = [ingest_run(rpc_url, workdir / f"ingest-{i}", uploaders, params) for i in range(runs)]
    return {
        "uploaders": uploaders,
        "params": params,
        "runs": runs,
        "blob_bytes": samples[0]["blob_bytes"],
        "accepted_per_s": median([s["accepted_per_s"] for s in samples]),
        "p50_latency_s": median([s["p50_s"] for s in samples]),
        "p99_latency_s": median([s["p99_s"] for s in samples]),
        "samples": samples,
    }


def memory(rpc_url: str, workdir: Path, *, uploads: int, params: int) -> dict[str, Any]:
    """Peak RSS of the service over ``uploads`` uploads of a ``params``-parameter update."""
    with served(
        rpc_url,
        workdir / "memory",
        participants=uploads,
        model=flat_model(params),
        rounds={"count": 1, "min_updates": uploads},
        max_upload_bytes=64 * params + (1 << 20),
    ) as fed:
        participants, schema = _open_round(fed)
        baseline = fed.memory_kib()
        dealer, blob_bytes = participants[0], 0
        trace: dict[int, int] = {}
        started = time.perf_counter()
        phases: dict[str, list[float]] = {"encrypt": [], "commit": [], "upload": []}
        for i, p in enumerate(participants):
            t0 = time.perf_counter()
            blob = random_update_blob(dealer.encryptor, schema, seed=i)
            t1 = time.perf_counter()
            fed.ledger.commit_update(p.account, 1, fc.keccak256(blob))
            t2 = time.perf_counter()
            if not p.client.upload_update(1, blob)["new"]:
                raise RuntimeError(f"upload {i} was not accepted as new")
            t3 = time.perf_counter()
            for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                phases[name].append(seconds)
            blob_bytes = len(blob)
            del blob
            if i + 1 in (1, 2, 5, 10, 20, 50, 100, 150, 200) or i + 1 == uploads:
                trace[i + 1] = fed.memory_kib()["VmRSS"]
        uploading_s = time.perf_counter() - started
        info = fed.wait_phase(1, ("closed", "published"), timeout_s=600)
        if info["accepted"] != uploads:
            raise RuntimeError(f"round 1 closed with {info['accepted']} of {uploads} updates")
        final = fed.memory_kib()
    increase = (final["VmHWM"] - baseline["VmRSS"]) * 1024
    bound = MEMORY_BOUND_FACTOR * blob_bytes
    return {
        "uploads": uploads,
        "params": params,
        "blob_bytes": blob_bytes,
        "baseline_rss_kib": baseline["VmRSS"],
        "baseline_peak_kib": baseline["VmHWM"],
        "rss_after_uploads_kib": trace,
        "final_rss_kib": final["VmRSS"],
        "final_peak_kib": final["VmHWM"],
        "peak_increase_bytes": increase,
        "peak_increase_over_blob": increase / blob_bytes,
        "bound_bytes": bound,
        "within_bound": increase <= bound,
        "seconds_per_upload": uploading_s / uploads,
        "median_s": {name: median(values) for name, values in phases.items()},
    }


def document(result: dict[str, Any], command: str) -> None:
    """Write the ingest and memory sections of docs/benchmarks.md."""
    mib = 1024 * 1024
    if "ingest" in result:
        r = result["ingest"]
        rows = [
            [
                i + 1,
                f"{s['accepted_per_s']:.1f}",
                f"{s['p50_s']:.3f}",
                f"{s['p99_s']:.3f}",
                f"{s['wall_s']:.2f}",
            ]
            for i, s in enumerate(r["samples"])
        ]
        rows.append(
            [
                "**median**",
                f"**{r['accepted_per_s']:.1f}**",
                f"**{r['p50_latency_s']:.3f}**",
                f"**{r['p99_latency_s']:.3f}**",
                "",
            ]
        )
        update_section(
            "aggregator",
            "## Aggregator ingest\n\n"
            f"Command: `{command}` — {r['uploaders']} concurrent uploaders of a "
            f"{r['params']:,}-parameter update ({r['blob_bytes'] / mib:.2f} MiB encrypted) over "
            "loopback to a separate `fedledger serve` process (SQLite, blob store on disk, "
            "Hardhat node); each upload is verified (signature, admission and commitment on "
            "chain, full CKKS validation), stored durably and added into the running sum before "
            f"it is acknowledged. {r['runs']} runs on {result['machine']['cpus']} CPUs; "
            "latency includes client-side signing.\n\n"
            + table(
                rows,
                ["run", "accepted updates/s", "p50 latency (s)", "p99 latency (s)", "wall (s)"],
            ),
        )
    if "memory" in result:
        m = result["memory"]
        points = sorted((int(n), kib) for n, kib in m["rss_after_uploads_kib"].items())
        trace = ", ".join(f"{n}: {kib / 1024:.0f}" for n, kib in points)
        rows = [
            ["RSS after start-up, round 1 open", f"{m['baseline_rss_kib'] / 1024:.1f} MiB"],
            ["peak RSS at the end (VmHWM)", f"{m['final_peak_kib'] / 1024:.1f} MiB"],
            [
                "peak increase",
                f"{m['peak_increase_bytes'] / mib:.1f} MiB "
                f"({m['peak_increase_over_blob']:.2f}× one update)",
            ],
            ["bound (3× one encrypted update)", f"{m['bound_bytes'] / mib:.1f} MiB"],
            ["within bound", "yes" if m["within_bound"] else "**no**"],
            ["seconds per upload (encrypt + commit + upload)", f"{m['seconds_per_upload']:.2f}"],
        ]
        update_section(
            "aggregator-memory",
            "## Aggregator memory\n\n"
            f"Command: `{command}` — {m['uploads']} uploads of a distinct "
            f"{m['params']:,}-parameter update ({m['blob_bytes'] / mib:.1f} MiB encrypted) to a "
            "separate `fedledger serve` process, after which the round closes with all of them "
            "(aggregate written, `closeRound` mined). Peak RSS is `VmHWM` of "
            "`/proc/PID/status`; the increase is measured from the RSS once the service "
            "started and opened round 1.\n\n"
            + table(rows, ["", "value"])
            + f"\n\nRSS (MiB) after n uploads — {trace}. The first upload starts the round's "
            "running sum: the update's ciphertexts with their mask polynomials expanded from "
            "their seeds, twice the update's bytes. Later uploads are streamed to disk and "
            "validated and added one chunk at a time.",
        )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench aggregator", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uploaders", type=int, default=50)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--memory-uploads", type=int, default=200)
    parser.add_argument("--memory-params", type=int, default=1_000_000)
    parser.add_argument("--no-ingest", action="store_true", help="only the memory measurement")
    parser.add_argument("--no-memory", action="store_true", help="only the ingest measurement")
    parser.add_argument("--rpc-url", default=None, help="a running devnet (default: start one)")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
    result: dict[str, Any] = {"benchmark": "aggregator"}
    with tempfile.TemporaryDirectory(prefix="fedledger-bench-aggregator-") as tmp:
        workdir = Path(tmp)
        with chain(args.rpc_url, workdir) as rpc_url:
            if not args.no_ingest:
                result["ingest"] = ingest(
                    rpc_url, workdir, runs=args.runs, uploaders=args.uploaders, params=args.params
                )
            if not args.no_memory:
                result["memory"] = memory(
                    rpc_url, workdir, uploads=args.memory_uploads, params=args.memory_params
                )
    result["machine"] = machine()
    emit(result, as_json=args.json)
    if args.update_docs:
        command = "fedledger bench aggregator --json"
        defaults = {
            "--runs": (args.runs, 3),
            "--uploaders": (args.uploaders, 50),
            "--params": (args.params, 100_000),
            "--memory-uploads": (args.memory_uploads, 200),
            "--memory-params": (args.memory_params, 1_000_000),
        }
        for flag, (value, default) in defaults.items():
            if value != default:
                command += f" {flag} {value}"
        if args.no_ingest:
            command += " --no-ingest"
        if args.no_memory:
            command += " --no-memory"
        document(result, command)
