"""Helpers to run client daemons in threads against a test federation."""

from __future__ import annotations

import threading
from pathlib import Path

from harness import Federation

import fedledger_crypto as fc
from fedledger_clients.config import ClientConfig, TaskConfig
from fedledger_clients.daemon import ClientDaemon
from fedledger_platform.api_client import AggregatorClient


def make_daemons(
    fed: Federation, server_url: str, task: str, tmp: Path, *, owner: int | None = None
) -> list[ClientDaemon]:
    """One daemon per participant; daemon ``owner`` (if any) acts as if alone in its process."""
    daemons = []
    for i, account in enumerate(fed.accounts):
        config = ClientConfig(
            aggregator=server_url,
            chain="embedded",
            deployment=None,
            keystore=None,
            passphrase_file=None,
            state_dir=tmp / f"client-{i}",
            task=TaskConfig(name=task, client_index=i, num_clients=len(fed.accounts), seed=0),
            poll_interval_s=0.05,
        )
        client = AggregatorClient(
            server_url,
            account=account,
            scope=fc.RequestScope(fed.chain.chain_id, fed.ledger.address),
        )
        fed.clients.append(client)
        daemons.append(
            ClientDaemon(
                config, account=account, ledger=fed.ledger, client=client, owns_process=i == owner
            )
        )
    return daemons


def run_daemons(daemons: list[ClientDaemon], timeout_s: float = 300) -> None:
    errors: list[BaseException] = []

    def target(d: ClientDaemon) -> None:
        try:
            d.run(until_done=True)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(d,), daemon=True) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    for d in daemons:
        d.stop()
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "daemons did not finish in time"
