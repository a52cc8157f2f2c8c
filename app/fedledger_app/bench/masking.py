"""Masked rounds at scale, in one process: a k-regular round of many members and a round with
dropouts, the cryptography of every step timed (no chain, no HTTP).

    fedledger bench masking --json [--members 64] [--params 100000] [--dropped 2]
                                   [--update-docs]

Every member (an Ethereum account) derives its pair seeds with its neighbours in the graph drawn
over the members (above 32 members: k-regular, ``k = 2·⌈log2 n⌉``), masks and encrypts an
update of ``params`` values; the aggregator sums them. Full round: all members' updates summed,
decrypted and checked against the true sum. Dropout round: ``dropped`` members' updates are
missing; each surviving neighbour of a dropped member makes its Chaum–Pedersen-proved reveal,
the aggregator verifies them all into the correction and applies it to the survivors' sum,
which is decrypted and checked against the survivors' true sum. Times are wall and process CPU
seconds; per-member figures are medians.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from functools import partial
from statistics import median
from typing import Any, TypeVar

import numpy as np
from eth_account import Account

import fedledger_crypto as fc
from fedledger_app.bench._report import emit, machine, require_checkout, table, update_section
from fedledger_crypto import masking as mk

__all__ = ["main", "run"]

T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def run(members: int, params: int, dropped: int) -> dict[str, Any]:
    """One masked round of ``members`` and the same round with ``dropped`` of them missing."""
    rng = np.random.default_rng(0)
    fp = fc.DEFAULT_PARAMS
    secret = fc.create_secret_context(fp)
    public = fc.load_parameters_context(fc.parameters_bytes(secret), fp)
    encryptor = fc.UpdateEncryptor(secret)
    schema = fc.UpdateSchema(fc.TensorLayout.vector(params))
    headroom = fc.HeadroomPolicy(fp, max_clients=members)
    accounts = [Account.from_key((i + 1).to_bytes(32, "big")) for i in range(members)]
    keys = {a.address: fc.public_key_of(a) for a in accounts}
    context = mk.RoundContext(31337, "0x" + "11" * 20, 1)
    randomness = hashlib.sha256(b"opening block").digest()
    graph_wall, _, graph = _timed(lambda: mk.neighbour_graph(list(keys), randomness))
    values = [rng.uniform(-1, 1, params) for _ in accounts]
    mask_s, encrypt_s, blobs = [], [], []
    for account, x in zip(accounts, values, strict=True):
        wall, _, mask = _timed(
            partial(mk.participant_mask, bytes(account.key), account.address, graph, keys, context)
        )
        mask_s.append(wall)
        encrypt = partial(encryptor.encrypt, schema, x, weight=1.0, headroom=headroom, mask=mask)
        wall, _, blob = _timed(encrypt)
        encrypt_s.append(wall)
        blobs.append(blob)
    sum_wall, sum_cpu, total = _timed(lambda: fc.aggregate_blobs(public, blobs))
    full_error = float(np.max(np.abs(encryptor.decrypt(total, schema).values - np.sum(values, 0))))
    # Dropouts: the first `dropped` members in address order never upload.
    gone = sorted(keys, key=lambda a: int(a, 16))[:dropped]
    kept = [i for i, a in enumerate(accounts) if a.address not in gone]
    survivors = [accounts[i] for i in kept]
    survivors_sum = fc.aggregate_blobs(public, [blobs[i] for i in kept])
    by_address = {a.address.lower(): a for a in accounts}
    pairs = [(j, d) for d in gone for j in graph.of(d) if j not in {g.lower() for g in gone}]
    reveal_wall, _, reveals = _timed(
        lambda: [mk.make_reveal(bytes(by_address[j].key), keys[d], context) for j, d in pairs]
    )
    corr_wall, corr_cpu, correction = _timed(
        lambda: mk.correction(
            reveals,
            graph,
            [a.address for a in survivors],
            gone,
            public_keys=keys,
            context=context,
        )
    )
    apply_wall, _, fixed = _timed(lambda: fc.apply_correction(public, survivors_sum, correction))
    truth = np.sum([values[i] for i in kept], axis=0)
    drop_error = float(np.max(np.abs(encryptor.decrypt(fixed, schema).values - truth)))
    encryptor.close()
    bound = 8 * np.sqrt(members) * fp.noise_std()
    if full_error > bound or drop_error > bound:
        raise RuntimeError(
            f"the masked sums do not decrypt to the true sums ({full_error:.3g}, {drop_error:.3g})"
        )
    return {
        "benchmark": "masking",
        "members": members,
        "degree": len(graph.of(accounts[0].address)),
        "params": params,
        "dropped": dropped,
        "graph_s": graph_wall,
        "mask_s_per_member": median(mask_s),
        "encrypt_s_per_member": median(encrypt_s),
        "bytes_per_param": len(blobs[0]) / params,
        "aggregate_s": sum_wall,
        "aggregate_cpu_s": sum_cpu,
        "full_max_abs_error": full_error,
        "reveals": len(reveals),
        "reveal_s_per_reveal": reveal_wall / max(1, len(reveals)),
        "correction_s": corr_wall,
        "correction_cpu_s": corr_cpu,
        "apply_correction_s": apply_wall,
        "dropout_max_abs_error": drop_error,
        "machine": machine(),
    }


def document(r: dict[str, Any], command: str) -> None:
    """Write the figures to docs/benchmarks.md."""
    rows = [
        ["neighbour graph (all members)", f"{r['graph_s']:.4f}"],
        ["pair seeds (ECDH, HKDF), per member", f"{r['mask_s_per_member']:.4f}"],
        ["masked encryption (PRG inside), per member", f"{r['encrypt_s_per_member']:.4f}"],
        [
            f"sum of {r['members']} updates (aggregator; CPU {r['aggregate_cpu_s']:.3f})",
            f"{r['aggregate_s']:.3f}",
        ],
        [f"{r['reveals']} reveals, per reveal (survivors)", f"{r['reveal_s_per_reveal']:.4f}"],
        [
            f"verify the reveals into the correction (CPU {r['correction_cpu_s']:.3f})",
            f"{r['correction_s']:.3f}",
        ],
        ["apply the correction to the sum", f"{r['apply_correction_s']:.3f}"],
    ]
    update_section(
        "masking",
        f"## Masked rounds: {r['members']} members, {r['dropped']} dropped\n\n"
        f"Command: `{command}` — the cryptography of a round in one process (no chain, no "
        f"HTTP): {r['members']} members on a {r['degree']}-regular neighbour graph, "
        f"{r['params']:,} values per update ({r['bytes_per_param']:.3f} bytes per parameter: "
        "the last chunk is partly empty at this size), "
        "then the same round with the first "
        f"{r['dropped']} members' updates missing. Wall seconds on {r['machine']['cpus']} CPUs "
        "(shared); per-member figures are medians.\n\n"
        + table(rows, ["step", "seconds"])
        + f"\n\nBoth sums decrypt to the true sums (max error {r['full_max_abs_error']:.2g} "
        f"full, {r['dropout_max_abs_error']:.2g} with dropouts).",
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench masking", description=__doc__)
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--dropped", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
    if args.members < 3 or not 1 <= args.dropped <= args.members - 2:
        parser.error("need at least 3 members and 1 ≤ dropped ≤ members − 2")
    if args.params < 1:
        parser.error("--params must be at least 1")
    result = run(args.members, args.params, args.dropped)
    emit(result, as_json=args.json)
    if args.update_docs:
        command = (
            f"fedledger bench masking --members {args.members} --params {args.params} "
            f"--dropped {args.dropped} --json"
        )
        document(result, command)
