"""A complete federation in one call: the engine behind ``fedledger demo`` and the benchmarks.

:func:`run_federation` deploys the contracts on a chain (the embedded in-process chain, a Hardhat
node it starts, or any devnet URL), admits N participants and appoints the key dealer, serves the
real aggregator on a loopback port (SQLite, a blob folder) with its dashboard (auditing with the
deployment's auditor account, evaluating each published model), and runs N client daemons over
real HTTP until the planned rounds are published. Nothing is simulated: the daemons encrypt, commit,
upload, decrypt and attest exactly as ``fedledger client run`` does.

What differs from a deployment is that every participant shares one machine with the others
and with the aggregator and the chain node. Two scheduling rules stand in for the separate
machines: the participants share one :class:`~fedledger_clients.slots.TrainingSlots` (one
training at a time per core, the largest shard first), and client processes run at a lower CPU
priority (:data:`~fedledger_app.federation.daemons.CLIENT_NICENESS`), so the services every
participant waits on — the aggregator and the chain node — are not starved by participants'
background work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fedledger_crypto as fc
from fedledger_app.evaluation import TaskEvaluator
from fedledger_app.federation.daemons import replay_state, run_daemons, run_processes
from fedledger_app.federation.spec import (
    FederationRun,
    FederationSpec,
    Progress,
    RoundSummary,
    check_spec,
)
from fedledger_app.initial_model import initial_model_bytes
from fedledger_clients.config import ClientConfig, TaskConfig, TrainingConfig
from fedledger_clients.daemon import ClientDaemon
from fedledger_clients.slots import TrainingSlots
from fedledger_clients.tasks import get_task
from fedledger_clients.tasks.base import ClientData, State
from fedledger_platform.aggregator import AggregatorSettings, RoundSettings, create_app
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.dashboard import DashboardConfig
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import Chain, Ledger, connect
from fedledger_platform.ledger.deployment import create_devnet_federation
from fedledger_platform.ledger.devnet import HardhatNode, free_port
from fedledger_platform.modelfile import decode_model
from fedledger_platform.protocol import RoundPhase

__all__ = ["clear_previous_run", "gas_by_round", "open_chain", "run_federation"]

log = logging.getLogger("fedledger.federation")

#: What a run keeps in ``out``: the state of that run's federation.
_RUN_STATE = (
    "aggregator.db",
    "aggregator.db-wal",
    "aggregator.db-shm",
    "aggregator.db-journal",
    "blobs",
    "clients",
    "deployment.json",
    "hardhat.log",
)


def clear_previous_run(out: Path) -> list[str]:
    """Remove the state an earlier run left in ``out``; returns what was removed.

    Every run deploys a new federation on a fresh chain, so an earlier run's database, blobs,
    client state and deployment describe a federation that no longer exists; reused, they mix
    two federations (the aggregator would take its old rounds for this one's, the clients their
    old keys). Only these known entries are removed, never anything else in ``out``.
    """
    removed = []
    for name in _RUN_STATE:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


@contextlib.contextmanager
def open_chain(target: str, out: Path) -> Iterator[Chain]:
    """The chain ``target`` names: a fresh embedded chain, a Hardhat node started for the run
    (its log in ``out/hardhat.log``), or a devnet URL (refused unless it is a devnet)."""
    if target == "hardhat":
        out.mkdir(parents=True, exist_ok=True)
        with (
            (out / "hardhat.log").open("wb") as log_file,
            HardhatNode(port=free_port(), log=log_file) as node,
        ):
            yield connect(node.url)
        return
    chain = connect(target)
    if not chain.is_devnet:
        raise ConfigurationError(
            f"{target} is chain {chain.chain_id}, not a devnet: the demo funds its accounts from "
            "the devnet's well-known keys"
        )
    yield chain


def gas_by_round(ledger: Ledger, from_block: int) -> dict[int, dict[str, int]]:
    """Gas used per round and operation, from the receipts of the round's events."""
    names = {
        "RoundOpened": "open",
        "UpdateCommitted": "commits",
        "RoundClosed": "close",
        "ModelAttested": "attestations",
    }
    totals: dict[int, dict[str, int]] = {}
    seen: set[str] = set()
    for event in ledger.events(from_block=from_block, names=list(names)):
        if event.tx_hash in seen:
            continue
        seen.add(event.tx_hash)
        receipt = ledger.w3.eth.get_transaction_receipt(event.tx_hash)  # type: ignore[arg-type]
        per_round = totals.setdefault(int(event.args["round"]), {})
        key = names[event.name]
        per_round[key] = per_round.get(key, 0) + int(receipt["gasUsed"])
    for per_round in totals.values():
        per_round["total"] = sum(per_round.values())
    return totals


def run_federation(
    spec: FederationSpec,
    *,
    progress: Progress | None = None,
    clients_data: list[ClientData] | None = None,
    on_complete: Callable[[FederationRun], Any] | None = None,
) -> FederationRun:
    """Run a whole federation and return its per-round results (see the module docstring).

    ``on_complete`` runs after the last round while the aggregator still serves (an audit
    needs its read API); its return value is kept in ``run.extra["on_complete"]``.
    """
    emit = progress or (lambda _kind, _data: None)
    check_spec(spec)
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    removed = clear_previous_run(out)
    if removed:
        log.info("removed the previous run's state from %s: %s", out, ", ".join(removed))
    started = time.perf_counter()
    task = get_task(spec.task)
    emit("stage", {"stage": "loading data", "task": spec.task})
    data = clients_data or task.load_clients(num_clients=spec.clients, seed=spec.seed)
    test_set = task.load_test_set(seed=spec.seed) if spec.evaluate else None
    with open_chain(spec.chain, out) as chain:
        emit("stage", {"stage": "deploying contracts", "chain": chain.target})
        fed = create_devnet_federation(chain, participants=spec.clients)
        ledger, deployment, auditor = fed.ledger, fed.deployment, fed.auditor
        if not spec.masking:  # before the first round opens: the rule is fixed after
            ledger.configure_masking(fed.operator, enabled=False)
        aggregator_account, accounts = fed.aggregator, fed.participants
        for account in accounts:
            emit("tx", {"what": "admitParticipant", "participant": account.address})
        deployment.save(out / "deployment.json")
        settings = AggregatorSettings(
            chain=chain.target,
            database_url=f"sqlite:///{(out / 'aggregator.db').resolve()}",
            blob_dir=out / "blobs",
            poll_interval_s=0.25,
            rounds=RoundSettings(
                count=spec.rounds,
                min_updates=spec.min_updates or spec.clients,
                timeout_s=spec.round_timeout_s,
                attestation_timeout_s=spec.round_timeout_s,
            ),
        )
        app = create_app(
            settings,
            ledger=ledger,
            account=aggregator_account,
            initial_model=initial_model_bytes(spec.task, spec.seed, spec.server_optimizer),
            freeze_heap=spec.freeze_heap,
            dashboard=DashboardConfig(
                from_block=deployment.block_number,
                auditor=auditor,
                evaluator=TaskEvaluator(seed=spec.seed),
                rpc_url=None if chain.is_embedded else chain.target,
            ),
        )
        scope = fc.RequestScope(chain.chain_id, ledger.address)
        with ServerThread(app) as server:
            emit("stage", {"stage": "federation running", "aggregator": server.url})
            clients = [AggregatorClient(server.url, account=a, scope=scope) for a in accounts]
            slots = TrainingSlots(os.cpu_count() or 1, spec.clients)
            daemons = [
                ClientDaemon(
                    ClientConfig(
                        aggregator=server.url,
                        chain=chain.target,
                        deployment=None,
                        keystore=None,
                        passphrase_file=None,
                        state_dir=out / "clients" / f"client-{i + 1}",
                        task=TaskConfig(
                            name=spec.task, client_index=i, num_clients=spec.clients, seed=spec.seed
                        ),
                        training=TrainingConfig(
                            clip_norm=spec.clip_norm,
                            local_epochs=spec.local_epochs,
                            proximal_mu=spec.proximal_mu,
                        ),
                        poll_interval_s=0.05,
                    ),
                    account=account,
                    ledger=ledger,
                    client=client,
                    task=get_task(spec.task),
                    data=data[i],
                    on_event=emit,
                    training_slots=slots,
                )
                for i, (account, client) in enumerate(zip(accounts, clients, strict=True))
            ]
            reader = AggregatorClient(server.url, scope=scope)
            if spec.client_processes:
                setup_s = time.perf_counter() - started
                timings = run_processes(
                    [d.config for d in daemons],
                    accounts,
                    chain=chain,
                    ledger=ledger,
                    watcher=reader,
                    slots=slots,
                    spec=spec,
                    emit=emit,
                )
                daemons = [replay_state(d) for d in daemons]
            else:
                setup_s = time.perf_counter() - started
                timings = run_daemons(daemons, reader, spec, emit)
            summaries = []
            final_state: State = {}
            gas = gas_by_round(ledger, deployment.block_number)
            for number in range(1, spec.rounds + 1):
                info = ledger.get_round(number)
                if info.status is not RoundPhase.PUBLISHED:
                    raise ConfigurationError(f"round {number} ended {info.status.name}")
                model = decode_model(reader.model(info.published_model_hash).data)
                final_state = model.state
                entry = daemons[0].rounds().get(number)
                test_metrics = task.evaluate(model.state, test_set) if spec.evaluate else {}
                summaries.append(
                    RoundSummary(
                        number=number,
                        participants=info.included_count,
                        round_metrics=dict(entry.metrics) if entry else {},
                        test_metrics={k: float(v) for k, v in test_metrics.items()},
                        aggregate_hash=fc.hash_hex(info.aggregate_hash),
                        model_hash=fc.hash_hex(info.published_model_hash),
                        gas=gas.get(number, {}),
                        seconds=timings.get(number, float("nan")),
                    )
                )
                emit("evaluated", {"round": number, "test": test_metrics})
            for client in (*clients, reader):
                client.close()
            balances: dict[str, float] = {
                a.address: ledger.token_balance(a.address) / 10**18 for a in accounts
            }
            wall_s = time.perf_counter() - started
            run = FederationRun(
                spec=spec,
                deployment=deployment,
                rounds=summaries,
                balances=balances,
                final_state=final_state,
                setup_s=setup_s,
                wall_s=wall_s,
                chain_target=chain.target,
                aggregator_url=server.url,
                auditor=auditor,
                ledger=ledger,
            )
            if on_complete is not None:
                run.extra["on_complete"] = on_complete(run)
            return run
