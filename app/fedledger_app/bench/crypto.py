"""CKKS codec benchmark: ours (the default and the compact set, through fedledger_crypto) against
raw TenSEAL with NVFlare's HE setting (N=8192, [60, 40, 40], scale 2**40, symmetric), side by
side in one run.

    fedledger bench crypto --params 1000000 --json [--repeats 3] [--clients 3] [--update-docs]

Per run: ``clients`` updates of ``params`` values in [-1, 1] are encrypted and serialized, then
deserialized and added into a running sum with the parameters-only context, then the sum is
decrypted and compared with the float64 mean. ``encrypt_s`` is the time from the values to the
bytes to send (encryption and serialization); ``bytes_per_param`` is the size of one update,
``aggregate_bytes_per_param`` the size of the serialized sum. Figures are medians over
``repeats`` runs.

Masking (``masking``, default set): one update encrypted without a mask and with the pairwise
mask of 7, 20 and 40 neighbours, alternating in the same run. ``encrypt_masked_s_kK`` includes
deriving the ``K`` pair seeds (ECDH + HKDF) and expanding them; ``overhead_kK`` is its excess over
the unmasked encryption, as a fraction of it.

    fedledger bench crypto --flooding-task sentiment --json

runs the task's federation (8 clients, seed 0, the task's default rounds) twice in process on
real masked, encrypted updates — once publishing the plain decryption, once the flooded one
(``decrypt(..., flood=)``) — and reports the test metric after every round of each.
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

import numpy as np
import tenseal as ts
from eth_account import Account

import fedledger_crypto as fc
from fedledger_app.bench._report import (
    emit,
    machine,
    median,
    native_stdout_to_stderr,
    require_checkout,
    table,
    timed,
    update_section,
)
from fedledger_crypto import masking as mk


def _ours(values: list[np.ndarray[Any, Any]], params: fc.CKKSParams) -> dict[str, float]:
    secret = fc.create_secret_context(params)
    encryptor = fc.UpdateEncryptor(secret)
    public = fc.load_parameters_context(fc.parameters_bytes(secret), params)
    schema = fc.UpdateSchema(fc.TensorLayout.vector(len(values[0])))
    headroom = fc.HeadroomPolicy(params, max_clients=len(values))
    enc_times, blobs = [], []
    for x in values:
        t, blob = timed(encryptor.encrypt, schema, x, weight=1.0, headroom=headroom)
        enc_times.append(t)
        blobs.append(blob)
    header = fc.parse_header(blobs[0], params)
    aggregator = fc.StreamingAggregator(public, schema_digest=schema.digest())
    add_times = [timed(aggregator.add, b)[0] for b in blobs]
    aggregate = aggregator.result()
    dec_t, out = timed(lambda: encryptor.decrypt(aggregate, schema))
    expected = np.mean(values, axis=0)
    return {
        "bytes_per_param": len(blobs[0]) / len(values[0]),
        "aggregate_bytes_per_param": len(aggregate) / len(values[0]),
        "encrypt_s": median(enc_times),
        "aggregate_s_per_client": median(add_times),
        "decrypt_s": dec_t,
        "max_abs_error": float(np.max(np.abs(out.mean() - expected))),
        "chunks": header.chunk_count,
    }


MASK_NEIGHBOURS = (7, 20, 40)


def _masking(x: np.ndarray[Any, Any], repeats: int) -> dict[str, float]:
    """Encryption of one update without and with masks of each neighbour count, alternating."""
    params = fc.DEFAULT_PARAMS
    encryptor = fc.UpdateEncryptor(fc.create_secret_context(params))
    schema = fc.UpdateSchema(fc.TensorLayout.vector(len(x)))
    headroom = fc.HeadroomPolicy(params, max_clients=max(MASK_NEIGHBOURS) + 1)
    accounts = [
        Account.from_key((i + 1).to_bytes(32, "big")) for i in range(max(MASK_NEIGHBOURS) + 1)
    ]
    keys = {a.address: fc.public_key_of(a) for a in accounts}
    context = mk.RoundContext(31337, "0x" + "11" * 20, 1)
    me = accounts[0]

    def masked(k: int) -> bytes:
        members = [a.address for a in accounts[: k + 1]]
        # complete over k + 1 members: exactly k neighbours, whatever complete_up_to's default
        graph = mk.neighbour_graph(members, bytes(32), complete_up_to=k + 1)
        mask = mk.participant_mask(bytes(me.key), me.address, graph, keys, context)
        return encryptor.encrypt(schema, x, weight=1.0, headroom=headroom, mask=mask)

    plain_times: list[float] = []
    masked_times: dict[int, list[float]] = {k: [] for k in MASK_NEIGHBOURS}
    size = 0
    for _ in range(repeats):
        plain_times.append(timed(encryptor.encrypt, schema, x, weight=1.0, headroom=headroom)[0])
        for k in MASK_NEIGHBOURS:
            t, blob = timed(masked, k)
            masked_times[k].append(t)
            size = len(blob)
    encryptor.close()
    out = {"encrypt_s": median(plain_times), "bytes_per_param_masked": size / len(x)}
    for k, times in masked_times.items():
        out[f"encrypt_masked_s_k{k}"] = median(times)
        out[f"overhead_k{k}"] = median(times) / out["encrypt_s"] - 1
    return out


def flooding_accuracy(task_name: str, clients: int = 8) -> dict[str, Any]:
    """The task's headline test metric per round without and with flooding of the decryption."""
    from fedledger_clients.tasks import AggregateResult, Aggregation, get_task

    task = get_task(task_name)
    shards = task.load_clients(num_clients=clients, seed=0)
    test_set = task.load_test_set(seed=0)
    config = task.default_config()
    accounts = [Account.from_key((i + 1).to_bytes(32, "big")) for i in range(clients)]
    keys = {a.address: fc.public_key_of(a) for a in accounts}
    secret = fc.create_secret_context(fc.DEFAULT_PARAMS)
    encryptor = fc.UpdateEncryptor(secret)
    public = fc.load_parameters_context(fc.parameters_bytes(secret), fc.DEFAULT_PARAMS)
    headroom = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=256)
    weighted = task.aggregation is Aggregation.MEAN
    result: dict[str, Any] = {"benchmark": "crypto-flooding", "task": task_name}
    for flood in (False, True):
        state = task.initial_state(seed=0)
        metrics = []
        for r in range(1, task.default_rounds() + 1):
            context = mk.RoundContext(31337, "0x" + "11" * 20, r)
            graph = mk.neighbour_graph(keys, r.to_bytes(32, "big"))
            blobs = []
            for account, shard in zip(accounts, shards, strict=True):
                local = task.local_update(state, shard, round_number=r, config=config)
                layout = fc.TensorLayout.from_state(local.update)
                schema = fc.UpdateSchema(layout, task.metric_names)
                mask = mk.participant_mask(
                    bytes(account.key), account.address, graph, keys, context
                )
                blobs.append(
                    encryptor.encrypt(
                        schema,
                        layout.flatten(local.update),
                        weight=float(local.weight),
                        metrics=local.metrics,
                        headroom=headroom,
                        weighted=weighted,
                        mask=mask,
                    )
                )
            out = encryptor.decrypt(
                fc.aggregate_blobs(public, blobs), schema, flood=context if flood else None
            )
            update = layout.unflatten(out.mean() if weighted else out.values)
            state = task.next_state(
                state, AggregateResult(update, out.weight, out.metrics, out.contributors)
            )
            metrics.append(float(task.evaluate(state, test_set)[task.headline_metric]))
        result["flooded" if flood else "plain"] = metrics
    result["metric"] = task.headline_metric
    return result


def _tenseal_vector(ctx: Any, x: np.ndarray[Any, Any]) -> Any:
    """TenSEAL's CKKS vector of ``x``, converted from NumPy as NVFlare converts it."""
    return ts.ckks_vector(ctx, x.tolist())


def _nvflare(values: list[np.ndarray[Any, Any]]) -> dict[str, float]:
    # NVFlare's TenSEALContextBuilder defaults, encrypting each flat vector with TenSEAL's own
    # splitting, as its HE model encryptor does.
    ctx = ts.context(
        ts.SCHEME_TYPE.CKKS,
        8192,
        coeff_mod_bit_sizes=[60, 40, 40],
        encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
    )
    ctx.global_scale = 2**40
    public = ts.context_from(
        ctx.serialize(
            save_public_key=False,
            save_secret_key=False,
            save_galois_keys=False,
            save_relin_keys=False,
        )
    )
    enc_times, blobs = [], []
    for x in values:
        with native_stdout_to_stderr():  # TenSEAL warns on stdout about splitting long vectors
            t, vec = timed(_tenseal_vector, ctx, x)
        s, blob = timed(vec.serialize)
        enc_times.append(t + s)
        blobs.append(blob)
    acc: Any = None
    add_times = []
    for blob in blobs:

        def step(blob: bytes = blob) -> None:
            nonlocal acc
            vec = ts.ckks_vector_from(public, blob)
            if acc is None:
                acc = vec
            else:
                acc += vec

        add_times.append(timed(step)[0])
    summed = acc.serialize()
    dec_t, out = timed(lambda: np.asarray(ts.ckks_vector_from(ctx, summed).decrypt()))
    expected = np.mean(values, axis=0)
    return {
        "bytes_per_param": len(blobs[0]) / len(values[0]),
        "aggregate_bytes_per_param": len(summed) / len(values[0]),
        "encrypt_s": median(enc_times),
        "aggregate_s_per_client": median(add_times),
        "decrypt_s": dec_t,
        "max_abs_error": float(np.max(np.abs(out / len(values) - expected))),
    }


def run(params: int, repeats: int, clients: int) -> dict[str, Any]:
    """Run every side ``repeats`` times, alternating, and report the medians."""
    rng = np.random.default_rng(0)
    ours = {"ours": fc.DEFAULT_PARAMS, "ours_compact": fc.COMPACT_PARAMS}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in (*ours, "nvflare_default")}
    for _ in range(repeats):
        values = [rng.uniform(-1, 1, params) for _ in range(clients)]
        for side, ckks in ours.items():
            runs[side].append(_ours(values, ckks))
            gc.collect()
        runs["nvflare_default"].append(_nvflare(values))
        gc.collect()
    result: dict[str, Any] = {
        "benchmark": "crypto",
        "params": params,
        "clients": clients,
        "repeats": repeats,
    }
    for side, samples in runs.items():
        result[side] = {k: median([s[k] for s in samples]) for k in samples[0]}
    for side, ckks in ours.items():
        result[side]["params_id"] = ckks.id
        result[f"aggregate_ratio_{side}_over_nvflare"] = (
            result[side]["aggregate_s_per_client"]
            / result["nvflare_default"]["aggregate_s_per_client"]
        )
    result["masking"] = _masking(rng.uniform(-1, 1, params), max(repeats, 5))
    result["machine"] = machine()
    return result


def document(result: dict[str, Any], command: str) -> None:
    """Write the figures to docs/benchmarks.md."""
    keys = [
        "bytes_per_param",
        "aggregate_bytes_per_param",
        "encrypt_s",
        "aggregate_s_per_client",
        "decrypt_s",
        "max_abs_error",
    ]
    sides = ("ours", "ours_compact", "nvflare_default")
    rows = [[k, *(f"{result[side][k]:.4g}" for side in sides)] for k in keys]
    update_section(
        "crypto",
        f"## CKKS codec ({result['params']:,} parameters, {result['clients']} clients)\n\n"
        f"Command: `{command}` — medians of {result['repeats']} runs, all three in the same "
        f"run.\n\n"
        + table(
            rows,
            [
                "metric",
                f"ours ({result['ours']['params_id']})",
                f"ours ({result['ours_compact']['params_id']})",
                "NVFlare setting (N=8192, [60,40,40], 2^40)",
            ],
        )
        + "\n\nAggregation time per client, ours ÷ NVFlare: "
        f"{result['aggregate_ratio_ours_over_nvflare']:.2f} (default set), "
        f"{result['aggregate_ratio_ours_compact_over_nvflare']:.2f} (compact set). "
        "`encrypt_s` runs from the values "
        "to the serialized update; `bytes_per_param` is one update (ours stores each mask "
        "polynomial as its seed), `aggregate_bytes_per_param` the serialized sum. Ours includes "
        "full validation of every chunk in `aggregate_s_per_client`.\n\n"
        + _masking_section(result["masking"]),
    )


def _masking_section(m: dict[str, float]) -> str:
    rows = [["none", f"{m['encrypt_s']:.4g}", "", ""]]
    for k in MASK_NEIGHBOURS:
        rows.append(
            [
                f"{k} neighbours",
                f"{m[f'encrypt_masked_s_k{k}']:.4g}",
                f"{100 * m[f'overhead_k{k}']:.1f} %",
                f"{m['bytes_per_param_masked']:.3f}" if k == MASK_NEIGHBOURS[0] else "",
            ]
        )
    return (
        "### Pairwise masking (default set, one update, same run)\n\n"
        + table(rows, ["mask", "encrypt_s", "overhead", "bytes_per_param"])
        + "\n\nThe masked encryption includes deriving the pair seeds (ECDH, HKDF) and "
        "expanding them (AES-256-CTR); medians of at least 5 alternating runs."
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench crypto", description=__doc__)
    parser.add_argument("--params", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--flooding-task", help="measure flooding's effect on this task instead")
    args = parser.parse_args(argv)
    if args.flooding_task:
        emit(flooding_accuracy(args.flooding_task), as_json=args.json)
        return
    if args.update_docs:
        require_checkout(parser)
    result = run(args.params, args.repeats, args.clients)
    emit(result, as_json=args.json)
    if args.update_docs:
        document(
            result,
            f"fedledger bench crypto --params {args.params} --repeats {args.repeats} "
            f"--clients {args.clients} --json",
        )
