"""Running the participants of a federation: daemon threads in this process, or one spawned
process per daemon; either way the rounds are followed through the aggregator's long-poll."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_app.federation.spec import FederationSpec, Progress
from fedledger_clients.config import ClientConfig
from fedledger_clients.daemon import ClientDaemon
from fedledger_clients.slots import TrainingSlots
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import Chain, Ledger, connect
from fedledger_platform.protocol import RoundPhase

__all__ = ["CLIENT_NICENESS", "replay_state", "run_daemons", "run_processes"]

#: ``nice`` increment of each client process: the aggregator and the chain node, which every
#: participant waits on, are not starved by the participants' background work.
CLIENT_NICENESS = 10


def _client_process(
    config: ClientConfig, key: bytes, chain_url: str, ledger_address: str, slots: TrainingSlots
) -> None:
    """Body of a client process: connect, load this shard, run the daemon to the end."""
    logging.basicConfig(level=logging.WARNING)
    os.nice(CLIENT_NICENESS)
    chain = connect(chain_url)
    account = Account.from_key(key)
    ledger = Ledger(chain, ledger_address)
    client = AggregatorClient(
        config.aggregator, account=account, scope=fc.RequestScope(chain.chain_id, ledger_address)
    )
    daemon = ClientDaemon(
        config,
        account=account,
        ledger=ledger,
        client=client,
        owns_process=True,
        training_slots=slots,
    )
    daemon.run(until_done=True)


def replay_state(daemon: ClientDaemon) -> ClientDaemon:
    """A fresh daemon object reading what the process wrote to the shared state folder."""
    return ClientDaemon(
        daemon.config,
        account=daemon.account,
        ledger=daemon.ledger,
        client=daemon.client,
        task=daemon.task,
    )


def run_processes(
    configs: list[ClientConfig],
    accounts: list[LocalAccount],
    *,
    chain: Chain,
    ledger: Ledger,
    watcher: AggregatorClient,
    slots: TrainingSlots,
    spec: FederationSpec,
    emit: Progress,
) -> dict[int, float]:
    """Run every daemon in its own (spawned) process; returns each round's wall time."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_client_process,
            args=(config, bytes(account.key), chain.target, ledger.address, slots),
            name=f"client-{i + 1}",
            daemon=True,
        )
        for i, (config, account) in enumerate(zip(configs, accounts, strict=True))
    ]
    for process in processes:
        process.start()
    try:
        timings = _watch_rounds(
            watcher, spec, emit, alive=lambda: any(p.is_alive() for p in processes)
        )
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise ConfigurationError(f"client processes failed: {', '.join(failed)}")
    return timings


def _watch_rounds(
    watcher: AggregatorClient,
    spec: FederationSpec,
    emit: Progress,
    *,
    alive: Callable[[], bool],
    failed: Callable[[], bool] = lambda: False,
) -> dict[int, float]:
    """Follow the rounds through the aggregator's long-poll until ``alive`` turns false.

    Returns each round's wall time from opening to publication.
    """
    opened: dict[int, float] = {}
    published: dict[int, float] = {}
    seen: tuple[int, RoundPhase] = (0, RoundPhase.NONE)
    deadline = time.monotonic() + spec.rounds * (spec.round_timeout_s + 60)
    while alive() and not failed() and time.monotonic() < deadline:
        latest = watcher.current_round(after=seen, wait_s=0.5)
        now = time.perf_counter()
        if latest is None:
            continue
        number, phase = int(latest["number"]), RoundPhase(latest["phase"])
        seen = (number, phase)
        if number not in opened:
            opened[number] = now
            emit("round", {"round": number, "phase": "open"})
        if phase == "published" and number not in published:
            published[number] = now
            emit("round", {"round": number, "phase": "published"})
        for earlier in opened:  # a round whose publication the next opening overtook
            if earlier < number and earlier not in published:
                published[earlier] = now
                emit("round", {"round": earlier, "phase": "published"})
    end = time.perf_counter()
    for number in opened:
        published.setdefault(number, end)
    return {n: published[n] - opened[n] for n in opened}


def run_daemons(
    daemons: list[ClientDaemon], watcher: AggregatorClient, spec: FederationSpec, emit: Progress
) -> dict[int, float]:
    """Run every daemon in a thread; returns each round's wall time (open → published).

    Round phases are watched through the aggregator's long-poll, so the watching itself adds
    no load on the chain.
    """
    errors: list[BaseException] = []

    def target(daemon: ClientDaemon) -> None:
        try:
            daemon.run(until_done=True)
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    threads = [
        threading.Thread(target=target, args=(d,), name=f"client-{i + 1}", daemon=True)
        for i, d in enumerate(daemons)
    ]
    for thread in threads:
        thread.start()
    try:
        return _watch_rounds(
            watcher,
            spec,
            emit,
            alive=lambda: any(t.is_alive() for t in threads),
            failed=lambda: bool(errors),
        )
    finally:
        for daemon in daemons:
            daemon.stop()
        for thread in threads:
            thread.join(30)
        if errors:
            raise errors[0]
        if any(t.is_alive() for t in threads):
            raise ConfigurationError("client daemons did not finish in time")
