"""Test harness: a complete federation on the embedded chain with the real aggregator on a
loopback port (imported by tests through the `pythonpath` pytest setting)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_app.waiting import wait_for
from fedledger_clients.keydealer import KeyDealer
from fedledger_clients.participant import Participant
from fedledger_clients.tasks.base import LocalResult
from fedledger_platform.aggregator import AggregatorSettings, create_app
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.ledger import Chain, Ledger, connect
from fedledger_platform.ledger.deployment import create_devnet_federation
from fedledger_platform.modelfile import encode_model

__all__ = [
    "METRICS",
    "TASK",
    "Federation",
    "initial_model",
    "initial_state",
    "local_result",
    "make_federation",
    "wait_for",  # the polling helper, shared with the benchmarks
]

TASK = "test-linear"
METRICS = ("correct", "total")


def initial_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"layer.weight": torch.randn(3, 1500, generator=g), "layer.bias": torch.zeros(3)}


def initial_model() -> bytes:
    return encode_model(initial_state(), task=TASK, metric_names=METRICS, round_number=0)


def local_result(index: int, round_number: int, weight: int = 0) -> LocalResult:
    """A deterministic, participant-specific update (the math is checked by hand in tests)."""
    g = torch.Generator().manual_seed(1000 * round_number + index)
    update = {
        "layer.weight": (torch.rand(3, 1500, generator=g) - 0.5) / 10,
        "layer.bias": torch.full((3,), float(index + round_number)),
    }
    n = weight or 10 * (index + 1)
    return LocalResult(update=update, weight=n, metrics={"correct": n // 2, "total": n})


@dataclass
class Federation:
    """Everything a test needs to drive rounds."""

    chain: Chain
    ledger: Ledger
    operator: LocalAccount
    aggregator_account: LocalAccount
    auditor: LocalAccount
    accounts: list[LocalAccount]
    tmp: Path
    servers: list[ServerThread] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    clients: list[AggregatorClient] = field(default_factory=list)

    def settings(self, database_url: str, **rounds: int) -> AggregatorSettings:
        values = {"count": 2, "min_updates": len(self.accounts), "timeout_s": 600}
        values.update(rounds)
        return AggregatorSettings(
            chain="embedded",
            database_url=database_url,
            blob_dir=self.tmp / "blobs",
            poll_interval_s=0.05,
            rounds=values,  # type: ignore[arg-type]
        )

    def serve(
        self, settings: AggregatorSettings, *, model: bytes | None = None, port: int = 0
    ) -> ServerThread:
        app = create_app(
            settings,
            ledger=self.ledger,
            account=self.aggregator_account,
            initial_model=model if model is not None else initial_model(),
        )
        server = ServerThread(app, port=port).start()
        self.servers.append(server)
        return server

    def client(self, server: ServerThread, account: LocalAccount | None = None) -> AggregatorClient:
        client = AggregatorClient(
            server.url,
            account=account,
            scope=fc.RequestScope(self.chain.chain_id, self.ledger.address),
        )
        self.clients.append(client)
        return client

    def close(self) -> None:
        """Close every client and stop every server."""
        for client in self.clients:
            client.close()
        for server in reversed(self.servers):
            server.stop()

    def join(self, server: ServerThread) -> list[Participant]:
        """Key distribution: the dealer sets up and seals; everyone opens its own copy."""
        self.participants = [
            Participant(a, ledger=self.ledger, client=self.client(server, a), max_clients=16)
            for a in self.accounts
        ]
        dealer = KeyDealer(self.participants[0])
        dealer.set_up()
        dealer.seal_pending()
        for p in self.participants[1:]:
            p.receive_key()
        return self.participants


def make_federation(
    tmp: Path, participants: int = 3, *, masking: bool = True, participant_wei: int = 10**19
) -> Federation:
    """Deploy a ledger on a fresh embedded chain with ``participants`` admitted accounts,
    holding ``participant_wei`` each: by default enough for the direct path (a test's own
    ``commit_update``, the fallback); participants relay through the aggregator either way.
    ``masking=False`` turns the federation's pairwise masking off (it is on by default)."""
    chain = connect()
    fed = create_devnet_federation(
        chain, participants=participants, participant_wei=participant_wei
    )
    if not masking:
        fed.ledger.configure_masking(fed.operator, enabled=False)
    return Federation(
        chain, fed.ledger, fed.operator, fed.aggregator, fed.auditor, fed.participants, tmp
    )
