"""Gas per ledger operation, measured through the Python binding on the embedded chain.

    fedledger bench gas --json [--update-docs]

Round 1 includes all 50 participants (each receives its first tokens); rounds 2-4 close with 1,
10 and 50 included participants who already hold tokens, so the marginal cost of one more
included participant is (gas(50) - gas(10)) / 40.
"""

from __future__ import annotations

import argparse
from typing import Any

from eth_account import Account
from eth_typing import HexStr

import fedledger_crypto as fc
from fedledger_app.bench._report import emit, machine, require_checkout, table, update_section
from fedledger_platform.ledger import connect
from fedledger_platform.ledger.deployment import deploy_federation

PARTICIPANTS = 50


def run() -> dict[str, Any]:
    """Deploy, run four rounds and collect gasUsed per operation."""
    chain = connect()
    admin = chain.faucet()
    aggregator = Account.create()
    chain.fund(aggregator.address, 10**20)
    ledger, deployment = deploy_federation(chain, admin, aggregator=aggregator.address)
    deploy_gas = int(chain.w3.eth.get_transaction_receipt(HexStr(deployment.tx_hash))["gasUsed"])
    people = [Account.create() for _ in range(PARTICIPANTS)]
    admit = []
    for p in people:
        chain.fund(p.address, 10**18)
        admit.append(ledger.admit_participant(admin, p.address, fc.public_key_of(p)).gas_used)
    ledger.appoint_key_dealer(admin, people[0].address)
    ledger.commit_encryption_params(people[0], fc.parameters_hash(fc.DEFAULT_PARAMS))

    gas: dict[str, Any] = {"deploy (ledger + token)": deploy_gas, "admitParticipant": max(admit)}
    commits: list[int] = []
    closes: dict[int, int] = {}
    attests: list[int] = []
    # A one-included round's only attestation both creates its hash's count and publishes:
    # the dearest attestation (a later one reaching the quorum is docs/contracts.md's figure).
    first_publishes = 0
    model = fc.keccak256(b"model")
    for number, size in enumerate([PARTICIPANTS, 1, 10, PARTICIPANTS], start=1):
        deadline = chain.latest_timestamp() + 3600
        opened = ledger.open_round(
            aggregator, number, base_model_hash=model, deadline=deadline, min_updates=1
        )
        gas["openRound"] = opened.gas_used
        included = people[:size]
        for p in included:
            update = fc.keccak256(f"{number}-{p.address}".encode())
            commits.append(ledger.commit_update(p, number, update).gas_used)
        closed = ledger.close_round(
            aggregator,
            number,
            aggregate_hash=fc.keccak256(b"agg"),
            included=[p.address for p in included],
        )
        if number == 1:
            gas["closeRound, 50 included, first-time token holders"] = closed.gas_used
        else:
            closes[size] = closed.gas_used
        quorum = ledger.get_round(number).quorum
        for i, p in enumerate(included[:quorum]):
            result = ledger.attest_model(p, number, model)
            if i + 1 == quorum:
                if size == 1:
                    first_publishes = result.gas_used
            else:
                attests.append(result.gas_used)
        model = fc.keccak256(model)
    gas["commitUpdate (max)"] = max(commits)
    gas["commitUpdate (median)"] = sorted(commits)[len(commits) // 2]
    for size in (1, 10, PARTICIPANTS):
        gas[f"closeRound, {size} included (holders)"] = closes[size]
    gas["closeRound marginal per included holder"] = (closes[50] - closes[10]) / 40
    gas["attestModel (max, below quorum)"] = max(attests)
    gas["attestModel publishing as the first attestation of its hash (1 included)"] = (
        first_publishes
    )
    targets = {
        "commitUpdate (max)": 50_000,
        "closeRound marginal per included holder": 45_000,
        "attestModel (max, below quorum)": 60_000,
    }
    return {
        "benchmark": "gas",
        "chain": "embedded (py-evm, prague)",
        "gas": gas,
        "targets": targets,
        "targets_met": all(gas[k] <= v for k, v in targets.items()),
        "machine": machine(),
    }


def document(result: dict[str, Any], command: str) -> None:
    """Write the gas table to docs/benchmarks.md."""
    targets = result["targets"]
    rows = [
        [name, f"{value:,.0f}", f"≤ {targets[name]:,}" if name in targets else ""]
        for name, value in result["gas"].items()
    ]
    update_section(
        "gas",
        "## Gas per ledger operation\n\n"
        f"Command: `{command}` — {result['chain']}, solc 0.8.37, optimizer 200 runs. Gas is "
        "deterministic: one run.\n\n" + table(rows, ["operation", "gas used", "target"]),
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench gas", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
    result = run()
    emit(result, as_json=args.json)
    if args.update_docs:
        document(result, "fedledger bench gas --json")
