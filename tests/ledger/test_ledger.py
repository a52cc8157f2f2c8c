"""The ledger binding, run unchanged against the embedded chain and a real Hardhat node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.accounts import check_key_allowed, development_accounts
from fedledger_platform.errors import (
    ChainUnavailableError,
    ContractRevertError,
    DevelopmentKeyError,
)
from fedledger_platform.ledger import (
    AGGREGATOR_ROLE,
    AUDITOR_ROLE,
    Chain,
    Ledger,
    connect,
)
from fedledger_platform.ledger.abi import Log
from fedledger_platform.ledger.deployment import Deployment, deploy_federation
from fedledger_platform.ledger.devnet import free_port
from fedledger_platform.protocol import RoundPhase

REWARD = 5 * 10**18
H = [bytes([i]) * 32 for i in range(10)]


@dataclass
class Federation:
    chain: Chain
    ledger: Ledger
    admin: LocalAccount
    aggregator: LocalAccount
    participants: list[LocalAccount]
    deployment: Deployment

    def open(self, number: int, *, min_updates: int = 2, base: bytes = H[1]) -> None:
        deadline = self.chain.latest_timestamp() + 3600
        self.ledger.open_round(
            self.aggregator,
            number,
            base_model_hash=base,
            deadline=deadline,
            min_updates=min_updates,
        )


def _funded(chain: Chain) -> LocalAccount:
    account = Account.create()
    chain.fund(account.address, 10**18)
    return account


@pytest.fixture
def fed(chain: Chain) -> Federation:
    """A fresh ledger with three admitted participants, a key dealer and committed params."""
    admin = chain.faucet()
    aggregator = _funded(chain)
    ledger, deployment = deploy_federation(
        chain, admin, aggregator=aggregator.address, reward_per_update=REWARD, quorum_bps=5_001
    )
    participants = [_funded(chain) for _ in range(3)]
    for p in participants:
        ledger.admit_participant(admin, p.address, fc.public_key_of(p))
    ledger.appoint_key_dealer(admin, participants[0].address)
    ledger.commit_encryption_params(participants[0], fc.parameters_hash(fc.DEFAULT_PARAMS))
    return Federation(chain, ledger, admin, aggregator, participants, deployment)


def _reverts(error: str, call: Callable[[], object]) -> ContractRevertError:
    with pytest.raises(ContractRevertError) as info:
        call()
    assert info.value.error == error, str(info.value)
    return info.value


def test_deployment_records_addresses_and_roles(fed: Federation, tmp_path: object) -> None:
    d = fed.deployment
    assert d.ledger == fed.ledger.address and d.token == fed.ledger.token.address
    assert d.chain_id == fed.chain.chain_id
    assert fed.ledger.has_role(AGGREGATOR_ROLE, fed.aggregator.address)
    assert not fed.ledger.has_role(AUDITOR_ROLE, fed.aggregator.address)
    assert fed.ledger.reward_per_update() == REWARD and fed.ledger.quorum_bps() == 5_001
    path = __import__("pathlib").Path(str(tmp_path)) / "deployment.json"
    d.save(path)
    assert Deployment.load(path) == d


def test_participants_keys_and_params(fed: Federation) -> None:
    p0 = fed.participants[0]
    assert fed.ledger.participants() == [p.address for p in fed.participants]
    assert fed.ledger.participant_public_key(p0.address) == fc.public_key_of(p0)
    assert fed.ledger.key_dealer() == p0.address
    assert fed.ledger.encryption_params_hash() == fc.parameters_hash(fc.DEFAULT_PARAMS)
    result = fed.ledger.remove_participant(fed.admin, fed.participants[2].address)
    assert result.event("ParticipantRemoved").args["participant"] == fed.participants[2].address
    assert not fed.ledger.is_participant(fed.participants[2].address)


def test_full_round_life_cycle(fed: Federation) -> None:
    ledger, (a, b, c) = fed.ledger, fed.participants
    fed.open(1)
    info = ledger.get_round(1)
    assert info.status is RoundPhase.OPEN and info.base_model_hash == H[1] and info.min_updates == 2
    assert ledger.current_round() == 1
    for i, p in enumerate((a, b, c)):
        event = ledger.commit_update(p, 1, H[i + 2]).event("UpdateCommitted")
        assert event.args == {"round": 1, "participant": p.address, "updateHash": H[i + 2]}
    assert ledger.update_commitment(1, b.address) == H[3]
    closed = ledger.close_round(
        fed.aggregator, 1, aggregate_hash=H[7], included=[c.address, a.address]
    )
    event = closed.event("RoundClosed")
    assert event.args["aggregateHash"] == H[7]
    assert sorted(event.args["included"]) == sorted([a.address, c.address])
    assert [e.name for e in closed.events].count("Transfer") == 2
    info = ledger.get_round(1)
    assert info.status is RoundPhase.CLOSED and info.included_count == 2 and info.quorum == 2
    assert ledger.is_included(1, a.address) and not ledger.is_included(1, b.address)
    assert ledger.token_balance(a.address) == REWARD and ledger.token_balance(b.address) == 0
    assert ledger.token_supply() == 2 * REWARD
    # Quorum: 2 of 2 included must agree.
    first = ledger.attest_model(a, 1, H[8])
    assert first.event("ModelAttested").args == {
        "round": 1,
        "participant": a.address,
        "modelHash": H[8],
    }
    assert first.event("ModelAttested").item is None  # a log of its own, not a batch's item
    assert ledger.attestation_count(1, H[8]) == 1
    assert ledger.get_round(1).status is RoundPhase.CLOSED
    second = ledger.attest_model(c, 1, H[8])
    assert second.event("ModelPublished").args == {"round": 1, "modelHash": H[8], "attestations": 2}
    info = ledger.get_round(1)
    assert info.status is RoundPhase.PUBLISHED and info.published_model_hash == H[8]
    assert ledger.attestation_count(1, H[8]) == 2 and ledger.has_attested(1, a.address)
    # The next round can open now, on the published model.
    fed.open(2, base=H[8])
    assert ledger.get_round(2).status is RoundPhase.OPEN


def test_failed_round_lets_the_next_one_open(fed: Federation) -> None:
    fed.open(1)
    result = fed.ledger.abandon_round(fed.aggregator, 1, "too few updates")
    assert result.event("RoundFailed").args == {"round": 1, "reason": "too few updates"}
    assert fed.ledger.get_round(1).status is RoundPhase.FAILED
    _reverts("LedgerRoundNotAbandonable", lambda: fed.ledger.abandon_round(fed.aggregator, 1, "x"))
    fed.open(2)


def test_revert_paths_carry_custom_errors(fed: Federation) -> None:
    ledger, admin, agg = fed.ledger, fed.admin, fed.aggregator
    a, b, c = fed.participants
    stranger = _funded(fed.chain)
    # Admission
    error = _reverts(
        "LedgerAlreadyAdmitted",
        lambda: ledger.admit_participant(admin, a.address, fc.public_key_of(a)),
    )
    assert error.args_ == (a.address,)
    _reverts(
        "LedgerInvalidPublicKey",
        lambda: ledger.admit_participant(admin, stranger.address, fc.public_key_of(a)),
    )
    _reverts("LedgerNotParticipant", lambda: ledger.remove_participant(admin, stranger.address))
    _reverts(
        "AccessControlUnauthorizedAccount",
        lambda: ledger.admit_participant(stranger, stranger.address, fc.public_key_of(stranger)),
    )
    # Key dealer and parameters
    _reverts("LedgerParamsAlreadyCommitted", lambda: ledger.commit_encryption_params(a, H[2]))
    _reverts("LedgerParamsAlreadyCommitted", lambda: ledger.appoint_key_dealer(admin, b.address))
    _reverts("LedgerNotKeyDealer", lambda: ledger.commit_encryption_params(b, H[2]))
    # Opening
    now = fed.chain.latest_timestamp()
    _reverts(
        "AccessControlUnauthorizedAccount",
        lambda: ledger.open_round(a, 1, base_model_hash=H[1], deadline=now + 99, min_updates=1),
    )
    error = _reverts(
        "LedgerUnexpectedRound",
        lambda: ledger.open_round(agg, 2, base_model_hash=H[1], deadline=now + 99, min_updates=1),
    )
    assert error.args_ == (1, 2)
    _reverts(
        "LedgerInvalidDeadline",
        lambda: ledger.open_round(agg, 1, base_model_hash=H[1], deadline=now - 1, min_updates=1),
    )
    _reverts(
        "LedgerInvalidMinUpdates",
        lambda: ledger.open_round(agg, 1, base_model_hash=H[1], deadline=now + 99, min_updates=0),
    )
    _reverts(
        "LedgerZeroHash",
        lambda: ledger.open_round(agg, 1, base_model_hash=H[0], deadline=now + 99, min_updates=1),
    )
    _reverts("LedgerRoundNotOpen", lambda: ledger.commit_update(a, 1, H[2]))
    fed.open(1, min_updates=2)
    _reverts("LedgerPreviousRoundPending", lambda: fed.open(2))
    # Committing
    _reverts("LedgerNotParticipant", lambda: ledger.commit_update(stranger, 1, H[2]))
    _reverts("LedgerZeroHash", lambda: ledger.commit_update(a, 1, H[0]))
    ledger.commit_update(a, 1, H[2])
    error = _reverts("LedgerAlreadyCommitted", lambda: ledger.commit_update(a, 1, H[3]))
    assert error.args_ == (1, a.address)
    # Closing
    error = _reverts(
        "LedgerTooFewUpdates",
        lambda: ledger.close_round(agg, 1, aggregate_hash=H[7], included=[a.address]),
    )
    assert error.args_ == (1, 1, 2)
    error = _reverts(
        "LedgerMissingCommitment",
        lambda: ledger.close_round(agg, 1, aggregate_hash=H[7], included=[a.address, b.address]),
    )
    assert error.args_ == (1, b.address)
    with pytest.raises(ValueError, match="duplicates"):
        ledger.close_round(agg, 1, aggregate_hash=H[7], included=[a.address, a.address])
    _reverts("LedgerRoundNotClosed", lambda: ledger.attest_model(a, 1, H[8]))
    ledger.commit_update(b, 1, H[3])
    ledger.close_round(agg, 1, aggregate_hash=H[7], included=[a.address, b.address])
    _reverts("LedgerRoundNotOpen", lambda: ledger.commit_update(c, 1, H[4]))
    # Attesting
    _reverts("LedgerNotIncluded", lambda: ledger.attest_model(c, 1, H[8]))
    ledger.attest_model(a, 1, H[8])
    _reverts("LedgerAlreadyAttested", lambda: ledger.attest_model(a, 1, H[8]))


def test_deadline_is_enforced_on_chain(fed: Federation) -> None:
    fed.open(1)
    deadline = fed.ledger.get_round(1).deadline
    fed.chain.advance_time(3601)
    error = _reverts(
        "LedgerDeadlinePassed", lambda: fed.ledger.commit_update(fed.participants[0], 1, H[2])
    )
    assert error.args_ == (1, deadline)


def test_events_paginate_by_block_range(fed: Federation) -> None:
    fed.open(1)
    for i, p in enumerate(fed.participants):
        fed.ledger.commit_update(p, 1, H[i + 2])
    start = fed.deployment.block_number
    whole = list(fed.ledger.events(from_block=start))
    paged = list(fed.ledger.events(from_block=start, page_size=1))
    assert whole == paged
    names = [e.name for e in whole]
    assert names.count("ParticipantAdmitted") == 3 and names.count("UpdateCommitted") == 3
    assert names.index("EncryptionParamsCommitted") < names.index("RoundOpened")
    committed = list(fed.ledger.events(from_block=start, names=["UpdateCommitted"], page_size=2))
    assert [e.args["participant"] for e in committed] == [p.address for p in fed.participants]


def test_topic_queries_answer_as_eth_get_logs(fed: Federation) -> None:
    """Chain.logs (on the embedded chain: receipts read by block number, not eth-tester's
    scan) against web3's eth_getLogs, and the binding's reads built on it."""
    ledger, (a, b, c) = fed.ledger, fed.participants
    fed.open(1)
    for i, p in enumerate((a, b, c)):
        ledger.commit_update(p, 1, H[i + 2])
    ledger.abandon_round(fed.aggregator, 1, "test")
    fed.open(2)
    ledger.commit_update(b, 2, H[6])
    topic = bytes(Web3.keccak(text="UpdateCommitted(uint64,address,bytes32)"))
    start = fed.deployment.block_number
    for topics in ([topic], [topic, (1).to_bytes(32, "big")], [topic, (2).to_bytes(32, "big")]):
        ours = [
            Log.of(x)
            for x in fed.chain.logs(ledger.address, topics, from_block=start, to_block=None)
        ]
        query = {
            "address": ledger.address,
            "topics": ["0x" + t.hex() for t in topics],
            "fromBlock": start,
        }
        theirs = [Log.of(x) for x in fed.chain.w3.eth.get_logs(query)]  # type: ignore[arg-type]
        assert ours == theirs and ours
        latest = fed.chain.logs(
            ledger.address, topics, from_block=start, to_block=None, latest_only=True
        )
        assert [Log.of(x) for x in latest] == theirs[-1:]
    assert ledger.update_commitment(1, b.address) == H[3]
    assert ledger.update_commitment(2, b.address) == H[6]
    assert ledger.update_commitment(2, a.address) == bytes(32)
    assert ledger.update_commitment(3, a.address) == bytes(32)  # never opened


def test_events_decode_as_web3_decodes_them(fed: Federation) -> None:
    """The binding's own event decoder against web3's, on every log of a whole round."""
    ledger, (a, b, _c) = fed.ledger, fed.participants
    fed.open(1)
    for i, p in enumerate((a, b)):
        ledger.commit_update(p, 1, H[i + 2])
    ledger.close_round(fed.aggregator, 1, aggregate_hash=H[7], included=[b.address, a.address])
    ledger.attest_model(a, 1, H[8])
    ledger.attest_model(b, 1, H[8])
    start = fed.deployment.block_number
    ours = list(ledger.events(from_block=start))
    logs = fed.chain.w3.eth.get_logs(
        {"address": [ledger.address, ledger.token.address], "fromBlock": start}
    )
    contracts = {ledger.address: ledger.contract, ledger.token.address: ledger.token}
    theirs = []
    for log in sorted(logs, key=lambda x: (x["blockNumber"], x["logIndex"])):
        contract = contracts[log["address"]]
        name = next(
            e.event_name for e in contract.all_events() if HexBytes(e.topic) == log["topics"][0]
        )
        decoded = contract.events[name]().process_log(log)
        args = {
            k: list(v) if isinstance(v, tuple) else bytes(v) if isinstance(v, bytes) else v
            for k, v in decoded["args"].items()
        }
        theirs.append((name, args, decoded["blockNumber"], decoded["logIndex"]))
    assert [(e.name, e.args, e.block_number, e.log_index) for e in ours] == theirs
    names = {e.name for e in ours}
    assert {"RoleGranted", "ParticipantAdmitted", "RoundClosed", "Transfer"} <= names
    assert {"ModelAttested", "ModelPublished", "EncryptionParamsCommitted"} <= names


def test_unreachable_chain_is_a_clear_error() -> None:
    with pytest.raises(ChainUnavailableError, match="cannot reach"):
        connect(f"http://127.0.0.1:{free_port()}", timeout_s=2)


def test_development_keys_only_on_devnets(chain: Chain) -> None:
    hardhat_zero = development_accounts()[0]
    check_key_allowed(hardhat_zero, chain.chain_id)  # devnet: fine
    with pytest.raises(DevelopmentKeyError, match="not a devnet"):
        check_key_allowed(hardhat_zero, 1)
    check_key_allowed(Account.create(), 1)
