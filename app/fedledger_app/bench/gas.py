"""Gas per ledger operation, measured through the Python binding, on each chain asked for.

    fedledger bench gas --json [--chain embedded] [--chain hardhat] [--update-docs]

Fifty participants holding no ether are admitted in one batch (gas per participant), and the
key dealer's signed parameters hash is relayed. Round 1 relays all fifty commitments in one
batch, closes on all fifty (each receives its first tokens) and relays their attestations;
rounds 2-4 do the same with batches of 1, 10 and 50 participants who already hold tokens:

- ``relayed[n]`` is a relay transaction's whole gas (21,000 intrinsic included) divided by n;
- the marginal closeRound per included holder is (close(50) - close(10)) / 40, and a
  first-time holder costs (round 1's close - round 4's) / 50 more;
- rounds 5 and 6 run the direct path (funded participants commit and attest from their own
  accounts), the censorship-resistant fallback.

Participants' keys are fixed, so every run signs the same messages and measures the same gas.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr

import fedledger_crypto as fc
from fedledger_app.bench._report import emit, machine, require_checkout, table, update_section
from fedledger_platform.ledger import (
    EMBEDDED,
    Ledger,
    connect,
    sign_encryption_params,
    sign_model_attestation,
    sign_update_commitment,
)
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.ledger.devnet import HardhatNode, free_port

PARTICIPANTS = 50
BATCHES = (1, 10, 50)
DIRECT = 11  # participants of the direct-path rounds (quorum 6 at 50.01 %)
TARGETS = {  # issue #20 (relayed, closeRound) and the direct path's own
    "relayed 50: commit_per_update": 10_000,
    "relayed 50: attest_per_update": 10_000,
    "closeRound marginal per included holder": 20_000,
    "commitUpdate (max)": 50_000,
    "attestModel (max, below quorum)": 60_000,
}


def _account(label: str, index: int) -> LocalAccount:
    account: LocalAccount = Account.from_key(
        fc.keccak256(f"fedledger bench gas {label} {index}".encode())
    )
    return account


@contextlib.contextmanager
def chain_target(name: str) -> Iterator[str]:
    """``embedded``, or the URL of a Hardhat node started for the duration."""
    if name == EMBEDDED:
        yield EMBEDDED
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        (Path(tmp) / "hardhat.log").open("wb") as log,
        HardhatNode(port=free_port(), log=log) as node,
    ):
        yield node.url


def _round(ledger: Ledger, aggregator: LocalAccount, number: int, model: bytes) -> int:
    deadline = ledger.chain.latest_timestamp() + 3600
    opened = ledger.open_round(
        aggregator, number, base_model_hash=model, deadline=deadline, min_updates=1
    )
    return opened.gas_used


def _relayed_round(
    ledger: Ledger, aggregator: LocalAccount, number: int, people: list[LocalAccount]
) -> dict[str, int]:
    """One round relayed in single batches; the gas of its three transactions."""
    model = fc.keccak256(f"model {number - 1}".encode())
    _round(ledger, aggregator, number, model)
    updates = [
        sign_update_commitment(
            p, ledger.domain, number, fc.keccak256(f"{number} {p.address}".encode())
        )
        for p in people
    ]
    committed = ledger.relay_commitments(aggregator, number, updates)
    closed = ledger.close_round(
        aggregator,
        number,
        aggregate_hash=fc.keccak256(b"agg"),
        included=[p.address for p in people],
    )
    published = fc.keccak256(f"model {number}".encode())
    attestations = [sign_model_attestation(p, ledger.domain, number, published) for p in people]
    attested = ledger.relay_attestations(aggregator, number, attestations)
    if committed.rejected or attested.rejected:
        raise RuntimeError(
            f"round {number}: items refused: {committed.rejected + attested.rejected}"
        )
    return {
        "commit": committed.tx.gas_used,
        "close": closed.gas_used,
        "attest": attested.tx.gas_used,
    }


def _direct_rounds(ledger: Ledger, aggregator: LocalAccount, first: int) -> dict[str, Any]:
    """Two rounds of funded participants acting from their own accounts."""
    people = [_account("direct", i) for i in range(DIRECT)]
    operator = ledger.chain.faucet()
    single = []
    for p in people:
        ledger.chain.fund(p.address, 10**18)
        single.append(ledger.admit_participant(operator, p.address, fc.public_key_of(p)).gas_used)
    commits: list[int] = []
    attests: list[int] = []
    publishing = 0
    gas: dict[str, Any] = {"admitParticipant (one, not the first ever)": max(single)}
    for number in (first, first + 1):
        gas["openRound"] = _round(ledger, aggregator, number, fc.keccak256(b"direct model"))
        for p in people:
            commits.append(
                ledger.commit_update(p, number, fc.keccak256(p.address.encode())).gas_used
            )
        ledger.close_round(
            aggregator,
            number,
            aggregate_hash=fc.keccak256(b"agg"),
            included=[p.address for p in people],
        )
        quorum = ledger.get_round(number).quorum
        model = fc.keccak256(f"direct {number}".encode())
        for i, p in enumerate(people[:quorum]):
            used = ledger.attest_model(p, number, model).gas_used
            if i + 1 == quorum:
                publishing = max(publishing, used)
            else:
                attests.append(used)
    gas["commitUpdate (max)"] = max(commits)
    gas["attestModel (max, below quorum)"] = max(attests)
    gas["attestModel reaching quorum (publishes)"] = publishing
    return gas


def run_chain(name: str) -> dict[str, Any]:
    """Every measurement on one chain."""
    with chain_target(name) as target:
        chain = connect(target)
        admin = chain.faucet()
        aggregator = _account("aggregator", 0)
        chain.fund(aggregator.address, 10**20)
        ledger, deployment = deploy_federation(
            chain, admin, aggregator=aggregator.address, relayers=(aggregator.address,)
        )
        receipt = chain.w3.eth.get_transaction_receipt(HexStr(deployment.tx_hash))
        deployed = int(receipt["gasUsed"])
        people = [_account("participant", i) for i in range(PARTICIPANTS)]
        admitted = ledger.admit_participants(
            admin, [p.address for p in people], [fc.public_key_of(p) for p in people]
        )
        ledger.appoint_key_dealer(admin, people[0].address)
        params = fc.parameters_hash(fc.DEFAULT_PARAMS)
        relayed_params = ledger.relay_encryption_params(
            aggregator, params, sign_encryption_params(people[0], ledger.domain, params)
        )
        first = _relayed_round(ledger, aggregator, 1, people)  # first-time token holders
        later = {
            size: _relayed_round(ledger, aggregator, number, people[:size])
            for number, size in enumerate(BATCHES, start=2)
        }
        direct = _direct_rounds(ledger, aggregator, 2 + len(BATCHES))

    holder = (later[50]["close"] - later[10]["close"]) / 40
    gas: dict[str, Any] = {
        "deploy (ledger + token)": deployed,
        "admitParticipants, per participant in a batch of 50": admitted.gas_used / PARTICIPANTS,
        "relayEncryptionParams": relayed_params.gas_used,
        **{f"closeRound, {n} included (holders)": later[n]["close"] for n in BATCHES},
        "closeRound, 50 included, first-time token holders": first["close"],
        "closeRound marginal per included holder": holder,
        "closeRound marginal per first-time holder": (first["close"] - later[50]["close"]) / 50
        + holder,
        **direct,
    }
    relayed = {
        str(n): {
            "commit_per_update": later[n]["commit"] / n,
            "attest_per_update": later[n]["attest"] / n,
        }
        for n in BATCHES
    }
    for n in BATCHES:
        gas[f"relayed {n}: commit_per_update"] = relayed[str(n)]["commit_per_update"]
        gas[f"relayed {n}: attest_per_update"] = relayed[str(n)]["attest_per_update"]
    return {"relayed": relayed, "gas": gas}


def run(chains: list[str]) -> dict[str, Any]:
    """The measurements on every chain asked for; the first chain's at the top level."""
    by_chain = {name: run_chain(name) for name in chains}
    first = by_chain[chains[0]]
    return {
        "benchmark": "gas",
        "chains": chains,
        "relayed": first["relayed"],
        "gas": first["gas"],
        "by_chain": by_chain,
        "targets": TARGETS,
        "targets_met": {
            name: all(r["gas"][k] <= v for k, v in TARGETS.items()) for name, r in by_chain.items()
        },
        "machine": machine(),
    }


def document(result: dict[str, Any], command: str) -> None:
    """Write the gas table to docs/benchmarks.md (one column per chain)."""
    by_chain = result["by_chain"]
    names = list(result["gas"])
    rows = [
        [
            name,
            *(f"{r['gas'][name]:,.0f}" for r in by_chain.values()),
            f"≤ {TARGETS[name]:,}" if name in TARGETS else "",
        ]
        for name in names
    ]
    update_section(
        "gas",
        "## Gas per ledger operation\n\n"
        f"Command: `{command}` — solc 0.8.37, optimizer 200 runs, `prague` rules on both chains. "
        "Gas is deterministic (fixed participant keys): one run. `relayed n` is a relay "
        "transaction's whole gas, 21,000 intrinsic included, divided by its n items (a batch "
        "lists its accepted items in one event; [contracts](contracts.md), "
        '"Storage layout and gas", says where the rest goes).\n\n'
        + table(rows, ["operation", *(f"gas ({c})" for c in by_chain), "target"]),
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fedledger bench gas", description=__doc__)
    parser.add_argument(
        "--chain",
        action="append",
        choices=[EMBEDDED, "hardhat"],
        help="chain(s) to run on (repeatable; default: embedded and hardhat)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.update_docs:
        require_checkout(parser)
    chains = list(dict.fromkeys(args.chain or [EMBEDDED, "hardhat"]))
    result = run(chains)
    emit(result, as_json=args.json)
    if args.update_docs:
        flags = " ".join(f"--chain {c}" for c in chains)
        document(result, f"fedledger bench gas --json {flags}")
