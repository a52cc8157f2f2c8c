"""Fixtures of the auditor tests: federations that ran real rounds through the real aggregator
(uvicorn on loopback) with the project's own crypto, ledger and participant code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from harness import Federation, local_result, make_federation, wait_for

import fedledger_crypto as fc
from fedledger_clients.participant import mean_update_next_state
from fedledger_clients.tasks.base import Aggregation
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.ledger import Chain
from fedledger_platform.ledger.deployment import Deployment, deploy_federation
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import BlobStore

DONE = (RoundPhase.CLOSED, RoundPhase.PUBLISHED, RoundPhase.FAILED)


@dataclass
class Running:
    """A federation with its aggregator running, and what the auditor needs to reach it."""

    fed: Federation
    server: ServerThread
    client: AggregatorClient
    deployment: Deployment | None = None

    @property
    def blobs(self) -> BlobStore:
        """The aggregator's blob store (for tampering: the auditor never reads it)."""
        return BlobStore(self.fed.tmp / "blobs")


def start(fed: Federation, **rounds: int) -> Running:
    """Serve the aggregator on SQLite and distribute the CKKS key."""
    server = fed.serve(fed.settings(f"sqlite:///{fed.tmp / 'aggregator.db'}", **rounds))
    fed.join(server)
    return Running(fed, server, fed.client(server))


def play_round(
    run: Running,
    number: int,
    *,
    submit: Sequence[int] | None = None,
    commit_only: Sequence[int] = (),
    finish: bool = True,
    weight: int = 0,
) -> RoundPhase:
    """Drive one round: ``commit_only`` participants commit on chain but never upload;
    ``submit`` participants (default: all) encrypt, commit and upload; then wait until the
    aggregator closes the round (all submitted, or the deadline passed — in a masked round
    with dropouts once the submitters revealed their seeds) or fails it; ``finish`` decrypts
    and attests. Returns the round's final status."""
    fed, client = run.fed, run.client
    wait_for(
        lambda: (c := client.current_round()) and c["number"] == number and c["phase"] == "open",
        what=f"round {number} to open",
    )
    who = range(len(fed.participants)) if submit is None else submit
    bases = {i: fed.participants[i].base_model(number) for i in (*who, *commit_only)}
    for i in commit_only:
        p = fed.participants[i]
        result = local_result(i, number, weight)
        blob = p.encrypt(bases[i], result, aggregation=Aggregation.MEAN, round_number=number)
        fed.ledger.commit_update(p.account, number, fc.keccak256(blob))
    for i in who:
        p = fed.participants[i]
        result = local_result(i, number, weight)
        blob = p.encrypt(bases[i], result, aggregation=Aggregation.MEAN, round_number=number)
        p.submit(number, blob)
    revealed: list[bool] = []

    def settled() -> RoundPhase | None:
        status = fed.ledger.get_round(number).status
        if status in DONE:
            return status
        if not revealed and client.round(number)["phase"] == RoundPhase.UNMASKING:
            for i in who:
                fed.participants[i].masking.reveal(number)
            revealed.append(True)
        return None

    status = wait_for(settled, what=f"round {number}")
    assert isinstance(status, RoundPhase)
    if status is RoundPhase.FAILED or not finish:
        return status
    for i in who:
        fed.participants[i].finish(
            number, bases[i], aggregation=Aggregation.MEAN, next_state=mean_update_next_state
        )
    wait_for(lambda: client.round(number)["phase"] == "published", what=f"round {number} published")
    # The attestations beyond the quorum's are relayed in a later batch: wait for them too.
    attesters = [
        p for p in (fed.participants[i] for i in who) if fed.ledger.is_included(number, p.address)
    ]
    wait_for(
        lambda: all(fed.ledger.has_attested(number, p.address) for p in attesters),
        what=f"round {number}'s attestations",
    )
    return RoundPhase.PUBLISHED


@contextlib.contextmanager
def tampered(path: Path, data: bytes | None) -> Iterator[Path]:
    """Replace (or, with ``None``, delete) a stored file; restore it afterwards."""
    original = path.read_bytes()
    try:
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        yield path
    finally:
        path.write_bytes(original)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Three participants, two complete rounds, every update included and every model published.
    Tamper tests restore what they change, so the federation stays clean between tests."""
    fed = make_federation(tmp_path_factory.mktemp("clean"))
    try:
        run = start(fed, count=2)
        for number in (1, 2):
            assert play_round(run, number) is RoundPhase.PUBLISHED
        yield run
    finally:
        fed.close()


def make_chain_federation(
    chain: Chain, tmp: Path, auditor: LocalAccount, participants: int = 3
) -> tuple[Federation, Path]:
    """Like ``harness.make_federation`` on any devnet chain, with a given auditor account;
    returns the federation and its deployment file."""
    operator = chain.faucet()
    aggregator_account = Account.create()
    accounts = [Account.create() for _ in range(participants)]
    for account in (aggregator_account, auditor, *accounts):
        chain.fund(account.address, 10**19)
    ledger, deployment = deploy_federation(
        chain,
        operator,
        aggregator=aggregator_account.address,
        auditors=(auditor.address,),
        reward_per_update=10**18,
        quorum_bps=5_001,
    )
    for account in accounts:
        ledger.admit_participant(operator, account.address, fc.public_key_of(account))
    ledger.appoint_key_dealer(operator, accounts[0].address)
    path = tmp / "deployment.json"
    deployment.save(path)
    fed = Federation(chain, ledger, operator, aggregator_account, auditor, accounts, tmp)
    return fed, path


@dataclass(frozen=True)
class Kit:
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest)."""

    start = staticmethod(start)
    play_round = staticmethod(play_round)
    tampered = staticmethod(tampered)
    make_chain_federation = staticmethod(make_chain_federation)


@pytest.fixture(scope="session")
def kit() -> Kit:
    """Helpers to run rounds and tamper with the aggregator's storage."""
    return Kit()
