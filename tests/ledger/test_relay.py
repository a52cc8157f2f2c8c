"""Relayed EIP-712 messages, batch admission and the masking setting through the binding, on
the embedded chain and a real Hardhat node: participants hold no ether, a relayer submits."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_platform.errors import ContractRevertError
from fedledger_platform.ledger import (
    Chain,
    Ledger,
    LedgerDomain,
    MaskingConfig,
    RejectedItem,
    sign_encryption_params,
    sign_model_attestation,
    sign_update_commitment,
)
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.ledger.relay import (
    MESSAGE_TYPES,
    encryption_params_digest,
    model_attestation_digest,
    update_commitment_digest,
)
from fedledger_platform.protocol import RoundPhase

H = [fc.keccak256(bytes([i])) for i in range(10)]
REWARD = 3 * 10**18
PARAMS = fc.parameters_hash(fc.DEFAULT_PARAMS)


@dataclass
class Relayed:
    chain: Chain
    ledger: Ledger
    operator: LocalAccount
    relayer: LocalAccount  # also the aggregator
    participants: list[LocalAccount]  # no ether, ever

    def open(self, number: int) -> None:
        deadline = self.chain.latest_timestamp() + 3600
        self.ledger.open_round(
            self.relayer, number, base_model_hash=H[1], deadline=deadline, min_updates=1
        )


@pytest.fixture
def fed(chain: Chain) -> Relayed:
    """A ledger with a funded relayer-aggregator and four participants without ether,
    admitted in one batch; the first is the key dealer, parameters not committed yet."""
    operator = chain.faucet()
    relayer = Account.create()
    chain.fund(relayer.address, 10**19)
    ledger, _ = deploy_federation(
        chain,
        operator,
        aggregator=relayer.address,
        relayers=(relayer.address,),
        reward_per_update=REWARD,
        quorum_bps=5_001,
    )
    participants = [Account.create() for _ in range(4)]
    ledger.admit_participants(
        operator, [p.address for p in participants], [fc.public_key_of(p) for p in participants]
    )
    ledger.appoint_key_dealer(operator, participants[0].address)
    return Relayed(chain, ledger, operator, relayer, participants)


def _reverts(error: str, call: object) -> ContractRevertError:
    with pytest.raises(ContractRevertError) as info:
        call()  # type: ignore[operator]
    assert info.value.error == error, str(info.value)
    return info.value


def test_eth_account_digests_are_the_ledgers(fed: Relayed) -> None:
    ledger, domain = fed.ledger, fed.ledger.domain
    assert domain == LedgerDomain(fed.chain.chain_id, ledger.address)
    assert ledger.update_commitment_digest(7, H[2]) == update_commitment_digest(domain, 7, H[2])
    assert ledger.model_attestation_digest(7, H[3]) == model_attestation_digest(domain, 7, H[3])
    assert ledger.encryption_params_digest(H[4]) == encryption_params_digest(domain, H[4])
    # The digest is eth-account's own EIP-712 hashing, and the signature recovers to the signer.
    p = fed.participants[1]
    message = encode_typed_data(
        domain.as_dict(),
        {"UpdateCommitment": MESSAGE_TYPES["UpdateCommitment"]},
        {"round": 7, "updateHash": H[2]},
    )
    signed = p.sign_message(message)
    assert signed.message_hash == ledger.update_commitment_digest(7, H[2])
    item = sign_update_commitment(p, domain, 7, H[2])
    assert int.from_bytes(item.r, "big") == signed.r
    assert Account.recover_message(message, signature=signed.signature) == p.address
    # Another chain or another ledger is another digest.
    other_chain = update_commitment_digest(replace(domain, chain_id=1), 7, H[2])
    other_ledger = update_commitment_digest(replace(domain, ledger="0x" + "11" * 20), 7, H[2])
    assert len({other_chain, other_ledger, ledger.update_commitment_digest(7, H[2])}) == 3
    with pytest.raises(ValueError, match="32 bytes"):
        sign_update_commitment(p, domain, 1, b"short")


def test_relayed_round_without_ether(fed: Relayed) -> None:
    ledger, relayer, (a, b, c, d) = fed.ledger, fed.relayer, fed.participants
    params = ledger.relay_encryption_params(
        relayer, PARAMS, sign_encryption_params(a, ledger.domain, PARAMS)
    )
    assert params.event("EncryptionParamsCommitted").args == {
        "dealer": a.address,
        "paramsHash": PARAMS,
    }
    fed.open(1)
    stranger = Account.create()
    forged = sign_update_commitment(stranger, ledger.domain, 1, H[5])
    items = [
        sign_update_commitment(a, ledger.domain, 1, H[2]),
        sign_update_commitment(b, ledger.domain, 1, H[3]),
        replace(forged, signer=c.address),  # a signature that is not c's
        sign_update_commitment(stranger, ledger.domain, 1, H[6]),  # never admitted
        sign_update_commitment(d, ledger.domain, 2, H[7]),  # made for round 2
        sign_update_commitment(a, ledger.domain, 1, H[8]),  # a's second commitment
    ]
    result = ledger.relay_commitments(relayer, 1, items)
    assert result.rejected == (
        RejectedItem(2, c.address, "LedgerInvalidSignature"),
        RejectedItem(3, stranger.address, "LedgerNotParticipant"),
        RejectedItem(4, d.address, "LedgerInvalidSignature"),
        RejectedItem(5, a.address, "LedgerAlreadyCommitted"),
    )
    # One UpdatesCommitted log, read as the UpdateCommitted events of its items.
    committed = result.tx.all("UpdateCommitted")
    assert [e.args for e in committed] == [
        {"round": 1, "participant": a.address, "updateHash": H[2]},
        {"round": 1, "participant": b.address, "updateHash": H[3]},
    ]
    assert [e.item for e in committed] == [0, 1] and len({e.log_index for e in committed}) == 1
    # The hashes are read from the log, whichever path committed them.
    assert ledger.update_commitment(1, a.address) == H[2]
    assert ledger.update_commitment(1, c.address) == bytes(32)
    assert ledger.has_committed(1, b.address) and not ledger.has_committed(1, c.address)
    _reverts(
        "LedgerMissingCommitment",
        lambda: ledger.close_round(
            relayer, 1, aggregate_hash=H[9], included=[a.address, c.address]
        ),
    )
    ledger.close_round(relayer, 1, aggregate_hash=H[9], included=[a.address, b.address])
    assert ledger.token_balance(a.address) == REWARD == ledger.token_balance(b.address)

    attested = ledger.relay_attestations(
        relayer,
        1,
        [
            sign_model_attestation(c, ledger.domain, 1, H[4]),  # committed nothing: not included
            sign_model_attestation(a, ledger.domain, 1, H[4]),
            sign_model_attestation(b, ledger.domain, 1, H[4]),
            sign_model_attestation(b, ledger.domain, 1, H[4]),
        ],
    )
    assert attested.rejected == (
        RejectedItem(0, c.address, "LedgerNotIncluded"),
        RejectedItem(3, b.address, "LedgerAlreadyAttested"),
    )
    assert [(e.name, e.args) for e in attested.tx.events if e.name != "RelayedItemRejected"] == [
        ("ModelAttested", {"round": 1, "participant": a.address, "modelHash": H[4]}),
        ("ModelAttested", {"round": 1, "participant": b.address, "modelHash": H[4]}),
        ("ModelPublished", {"round": 1, "modelHash": H[4], "attestations": 2}),
    ]
    info = ledger.get_round(1)
    assert info.status is RoundPhase.PUBLISHED and info.published_model_hash == H[4]
    assert ledger.attestation_count(1, H[4]) == 2
    # Not one participant ever held ether.
    for p in fed.participants:
        assert fed.chain.w3.eth.get_balance(p.address) == 0


def test_batch_level_rules_revert_the_whole_batch(fed: Relayed) -> None:
    ledger, relayer, (a, b, *_) = fed.ledger, fed.relayer, fed.participants
    item = sign_update_commitment(a, ledger.domain, 1, H[2])
    _reverts("LedgerRoundNotOpen", lambda: ledger.relay_commitments(relayer, 1, [item]))
    _reverts(
        "AccessControlUnauthorizedAccount",
        lambda: ledger.relay_commitments(fed.operator, 1, [item]),
    )
    error = _reverts(
        "LedgerInvalidSignature",
        lambda: ledger.relay_encryption_params(
            relayer, PARAMS, sign_encryption_params(b, ledger.domain, PARAMS)
        ),
    )
    assert error.args_ == (a.address,)
    ledger.relay_encryption_params(
        relayer, PARAMS, sign_encryption_params(a, ledger.domain, PARAMS)
    )
    fed.open(1)
    _reverts("LedgerEmptyBatch", lambda: ledger.relay_commitments(relayer, 1, []))
    attestation = sign_model_attestation(a, ledger.domain, 1, H[4])
    _reverts("LedgerRoundNotClosed", lambda: ledger.relay_attestations(relayer, 1, [attestation]))
    deadline = ledger.get_round(1).deadline
    fed.chain.advance_time(3601)
    error = _reverts("LedgerDeadlinePassed", lambda: ledger.relay_commitments(relayer, 1, [item]))
    assert error.args_ == (1, deadline)
    assert not ledger.has_committed(1, a.address)


def test_admission_in_batches_and_keys_from_the_log(fed: Relayed) -> None:
    ledger, operator = fed.ledger, fed.operator
    newcomers = [Account.create() for _ in range(3)]
    result = ledger.admit_participants(
        operator, [p.address for p in newcomers], [fc.public_key_of(p) for p in newcomers]
    )
    admitted = [e.args for e in result.all("ParticipantAdmitted")]
    assert admitted == [
        {"participant": p.address, "publicKey": fc.public_key_of(p)} for p in newcomers
    ]
    assert ledger.participants() == [p.address for p in fed.participants + newcomers]
    for p in newcomers:
        assert ledger.admission_block(p.address) == result.block_number
        assert ledger.participant_public_key(p.address) == fc.public_key_of(p)
    ledger.remove_participant(operator, newcomers[1].address)
    assert ledger.participant_public_key(newcomers[1].address) == b""
    assert ledger.admission_block(newcomers[1].address) == 0
    assert ledger.participant_public_key(Account.create().address) == b""
    with pytest.raises(ValueError, match="2 participants but 1 public keys"):
        ledger.admit_participants(operator, [newcomers[0].address] * 2, [b"k"])
    error = _reverts(
        "LedgerInvalidPublicKey",
        lambda: ledger.admit_participants(
            operator, [newcomers[1].address], [fc.public_key_of(newcomers[0])]
        ),
    )
    assert error.args_ == (newcomers[1].address,)


def test_masking_setting_and_close_with_dropped_participants(fed: Relayed) -> None:
    ledger, operator, relayer, (a, b, c, d) = (
        fed.ledger,
        fed.operator,
        fed.relayer,
        fed.participants,
    )
    assert ledger.masking() == MaskingConfig(enabled=True, complete_up_to=32, degree=0)
    error = _reverts(
        "LedgerInvalidMasking",
        lambda: ledger.configure_masking(operator, enabled=True, complete_up_to=8, degree=3),
    )
    assert error.args_ == (8, 3)
    configured = ledger.configure_masking(operator, enabled=True, complete_up_to=16, degree=8)
    assert configured.event("MaskingConfigured").args == {
        "enabled": True,
        "completeUpTo": 16,
        "degree": 8,
    }
    assert ledger.masking() == MaskingConfig(True, 16, 8)
    ledger.relay_encryption_params(
        relayer, PARAMS, sign_encryption_params(a, ledger.domain, PARAMS)
    )
    fed.open(1)
    opened = ledger.get_round(1)
    assert opened.opened_block == fed.chain.w3.eth.block_number
    _reverts("LedgerMaskingFixed", lambda: ledger.configure_masking(operator, enabled=False))
    ledger.relay_commitments(
        relayer, 1, [sign_update_commitment(p, ledger.domain, 1, H[2]) for p in (a, b)]
    )
    with pytest.raises(ValueError, match="dropped participants contain duplicates"):
        ledger.close_round(
            relayer, 1, aggregate_hash=H[9], included=[a.address], dropped=[c.address] * 2
        )
    error = _reverts(
        "LedgerDroppedIncluded",
        lambda: ledger.close_round(
            relayer, 1, aggregate_hash=H[9], included=[a.address], dropped=[a.address]
        ),
    )
    assert error.args_ == (a.address,)
    # Given in any order, sent sorted; the event only records them.
    closed = ledger.close_round(
        relayer,
        1,
        aggregate_hash=H[9],
        included=[b.address, a.address],
        dropped=[d.address, c.address],
        corrections_hash=H[8],
    )
    by_value = sorted([c.address, d.address], key=lambda x: int(x, 16))
    args = closed.event("RoundClosed").args
    assert args["dropped"] == by_value and args["correctionsHash"] == H[8]
    assert args["included"] == sorted([a.address, b.address], key=lambda x: int(x, 16))


def test_close_defaults_record_no_dropped_participant(fed: Relayed) -> None:
    ledger, relayer, a = fed.ledger, fed.relayer, fed.participants[0]
    ledger.configure_masking(fed.operator, enabled=False)
    ledger.relay_encryption_params(
        relayer, PARAMS, sign_encryption_params(a, ledger.domain, PARAMS)
    )
    fed.open(1)
    ledger.relay_commitments(relayer, 1, [sign_update_commitment(a, ledger.domain, 1, H[2])])
    _reverts(
        "LedgerMaskingDisabled",
        lambda: ledger.close_round(
            relayer, 1, aggregate_hash=H[9], included=[a.address], corrections_hash=H[8]
        ),
    )
    args = (
        ledger.close_round(relayer, 1, aggregate_hash=H[9], included=[a.address])
        .event("RoundClosed")
        .args
    )
    assert args["dropped"] == [] and args["correctionsHash"] == bytes(32)


def test_batch_and_direct_commitments_read_alike(fed: Relayed) -> None:
    # Prepare: a relayed batch for two participants, a direct commitment by a funded third
    ledger, relayer, (a, b, c, d) = fed.ledger, fed.relayer, fed.participants
    ledger.relay_encryption_params(
        relayer, PARAMS, sign_encryption_params(a, ledger.domain, PARAMS)
    )
    fed.open(1)
    start = fed.chain.w3.eth.block_number
    ledger.relay_commitments(
        relayer, 1, [sign_update_commitment(p, ledger.domain, 1, H[i]) for i, p in ((2, a), (3, b))]
    )
    fed.chain.fund(c.address, 10**18)
    ledger.commit_update(c, 1, H[4])

    # Execute
    events = list(ledger.events(from_block=start, names=["UpdateCommitted"]))

    # Assert: three UpdateCommitted events, whichever path, and each hash found by participant
    assert [(e.args["participant"], e.args["updateHash"], e.item) for e in events] == [
        (a.address, H[2], 0),
        (b.address, H[3], 1),
        (c.address, H[4], None),
    ]
    assert [ledger.update_commitment(1, p.address) for p in (a, b, c, d)] == [
        H[2],
        H[3],
        H[4],
        bytes(32),
    ]
    assert list(ledger.events(from_block=start, names=["UpdatesCommitted"])) == []
