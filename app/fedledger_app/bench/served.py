"""A federation whose aggregator runs as a separate ``fedledger serve --config aggregator.toml``
process against a JSON-RPC chain (a Hardhat node), exactly as an operator runs it: an encrypted
keystore with a passphrase file, the deployment file, SQLite on disk and a blob directory.

Used by ``fedledger bench aggregator`` and by the aggregator's crash and memory tests.
Participants live in the calling process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import RPCEndpoint

import fedledger_crypto as fc
from fedledger_clients.keydealer import KeyDealer
from fedledger_clients.participant import Participant
from fedledger_platform.accounts import create_keystore
from fedledger_platform.api_client import AggregatorClient, AggregatorUnavailableError
from fedledger_platform.ledger import Chain, Ledger, connect
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.ledger.devnet import free_port
from fedledger_platform.modelfile import encode_model

__all__ = [
    "PASSPHRASE",
    "ServedFederation",
    "deploy_served",
    "flat_model",
    "random_update_blob",
    "served",
    "upload_retrying",
]

PASSPHRASE = "fedledger test passphrase"
_ETHER = 10**18


def flat_model(parameters: int, *, task: str = "bench-flat") -> bytes:
    """A model of one float32 vector of ``parameters`` zeros, without metrics."""
    return encode_model({"w": torch.zeros(parameters)}, task=task, metric_names=(), round_number=0)


def random_update_blob(encryptor: fc.UpdateEncryptor, schema: fc.UpdateSchema, seed: int) -> bytes:
    """A distinct, well-formed encrypted update of ``schema`` (values in [-0.01, 0.01])."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-0.01, 0.01, schema.layout.size)
    return encryptor.encrypt(
        schema,
        values,
        weight=1.0,
        metrics={name: 1.0 for name in schema.metric_names},
        headroom=fc.HeadroomPolicy(encryptor.params, max_clients=1024),
    )


def _give_ether(chain: Chain, address: str, wei: int) -> None:
    if chain.chain_id == 31337:  # Hardhat: set the balance directly, no transaction needed
        chain.w3.provider.make_request(RPCEndpoint("hardhat_setBalance"), [address, hex(wei)])
    else:
        chain.fund(address, wei)


@dataclass
class ServedFederation:
    """A deployed federation plus the files and process of its aggregator."""

    chain: Chain
    ledger: Ledger
    operator: LocalAccount
    aggregator_address: str
    auditor: LocalAccount
    accounts: list[LocalAccount]
    root: Path
    config: Path
    port: int
    database_url: str
    blob_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    clients: list[AggregatorClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL of the aggregator process."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def scope(self) -> fc.RequestScope:
        """What every request signature is bound to."""
        return fc.RequestScope(self.chain.chain_id, self.ledger.address)

    # ------------------------------------------------------------------ process

    def start(self, timeout_s: float = 120.0) -> None:
        """Run ``fedledger serve --config`` and wait until ``/v1/health`` answers."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the aggregator is already running")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDLEDGER_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fedledger_app.cli",
                    "serve",
                    "--config",
                    str(self.config),
                    "--log-level",
                    "warning",
                ],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the aggregator exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the aggregator did not start in {timeout_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the aggregator (no shutdown code runs) and reap it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the aggregator gracefully (SIGTERM), SIGKILL after 30 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def memory_kib(self) -> dict[str, int]:
        """``VmRSS`` and ``VmHWM`` (peak RSS) of the aggregator process, in KiB."""
        assert self.process is not None
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values

    def log_tail(self, lines: int = 40) -> str:
        """The end of the aggregator's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Close every client and stop the aggregator."""
        for client in self.clients:
            client.close()
        self.stop()

    # ------------------------------------------------------------------ participants

    def client(
        self, account: LocalAccount | None = None, timeout_s: float = 120.0
    ) -> AggregatorClient:
        """An HTTP client of the aggregator, signing as ``account``."""
        client = AggregatorClient(self.url, account=account, scope=self.scope, timeout_s=timeout_s)
        self.clients.append(client)
        return client

    def participants(self) -> list[Participant]:
        """A :class:`Participant` per admitted account (none holds the CKKS key yet)."""
        return [
            Participant(a, ledger=self.ledger, client=self.client(a), max_clients=1024)
            for a in self.accounts
        ]

    def set_up_keys(self, participants: list[Participant], *, seal: bool) -> KeyDealer:
        """The dealer (participant 0) commits and publishes the parameters; with ``seal`` every
        other participant receives the sealed key too."""
        dealer = KeyDealer(participants[0])
        dealer.set_up()
        if seal:
            dealer.seal_pending()
            for p in participants[1:]:
                p.receive_key()
        return dealer

    def round(self, number: int) -> dict[str, Any] | None:
        """The aggregator's view of a round, ``None`` when unreachable or unknown."""
        try:
            response = httpx.get(f"{self.url}/v1/rounds/{number}", timeout=5)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def wait_phase(
        self, number: int, phases: tuple[str, ...], timeout_s: float = 120.0
    ) -> dict[str, Any]:
        """Wait until round ``number`` is in one of ``phases``; returns it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self.round(number)
            if info is not None and info["phase"] in phases:
                return info
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the aggregator died:\n{self.log_tail()}")
            time.sleep(0.05)
        raise AssertionError(
            f"round {number} did not reach {phases} in {timeout_s} s "
            f"(now {self.round(number)}):\n{self.log_tail()}"
        )


def deploy_served(
    rpc_url: str,
    root: Path,
    *,
    participants: int,
    model: bytes,
    rounds: dict[str, int] | None = None,
    max_upload_bytes: int = 256 * 1024 * 1024,
    poll_interval_s: float = 0.1,
) -> ServedFederation:
    """Deploy a federation on ``rpc_url`` with ``participants`` admitted accounts (the first is
    the key dealer) and write everything ``fedledger serve --config`` needs under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    chain = connect(rpc_url)
    operator = chain.faucet()
    keys = root / "keys"
    passphrase_file = keys / "aggregator.pass"
    keys.mkdir(exist_ok=True)
    passphrase_file.write_text(PASSPHRASE + "\n")
    aggregator = create_keystore(keys / "aggregator.json", PASSPHRASE, scrypt_n=2**14)
    auditor = Account.create()
    accounts = [Account.create() for _ in range(participants)]
    for account in (aggregator, auditor, *accounts):
        _give_ether(chain, account.address, 10 * _ETHER)
    ledger, deployment = deploy_federation(
        chain,
        operator,
        aggregator=aggregator.address,
        auditors=(auditor.address,),
        reward_per_update=_ETHER,
        quorum_bps=5_001,
    )
    deployment.save(root / "deployment.json")
    for account in accounts:
        ledger.admit_participant(operator, account.address, fc.public_key_of(account))
    ledger.appoint_key_dealer(operator, accounts[0].address)
    (root / "initial.safetensors").write_bytes(model)
    plan = {"count": 1, "min_updates": participants, "timeout_s": 3600}
    plan.update(rounds or {})
    port = free_port()
    config = root / "aggregator.toml"
    config.write_text(
        "\n".join(
            [
                f'chain = "{rpc_url}"',
                'deployment = "deployment.json"',
                'keystore = "keys/aggregator.json"',
                'passphrase_file = "keys/aggregator.pass"',
                'database_url = "sqlite:///aggregator.db"',
                'blob_dir = "blobs"',
                'initial_model = "initial.safetensors"',
                'host = "127.0.0.1"',
                f"port = {port}",
                f"max_upload_bytes = {max_upload_bytes}",
                f"poll_interval_s = {poll_interval_s}",
                "",
                "[rounds]",
                *(f"{key} = {value}" for key, value in plan.items()),
                "",
            ]
        )
    )
    return ServedFederation(
        chain=chain,
        ledger=ledger,
        operator=operator,
        aggregator_address=aggregator.address,
        auditor=auditor,
        accounts=accounts,
        root=root,
        config=config,
        port=port,
        database_url=f"sqlite:///{(root / 'aggregator.db').resolve()}",
        blob_dir=root / "blobs",
        log_path=root / "aggregator.log",
    )


def upload_retrying(
    client: AggregatorClient, round_number: int, blob: bytes, *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Upload, retrying while the aggregator is unreachable or answers 503 (as the daemon does)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return client.upload_update(round_number, blob)
        except AggregatorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def served(rpc_url: str, root: Path, **kwargs: Any) -> Iterator[ServedFederation]:
    """:func:`deploy_served` whose aggregator is stopped (and clients closed) on exit."""
    federation = deploy_served(rpc_url, root, **kwargs)
    try:
        yield federation
    finally:
        federation.close()
