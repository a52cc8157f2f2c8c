"""The audit's checks and history as plain functions of chain events and served evidence: the
failures no tampering of a real federation produces (wrong mints, attestations from outsiders,
stray mints, balances off their transfers, mismatching parameters), built from real event and
round records and real CKKS blobs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.audit import CheckStatus
from fedledger_platform.audit import checks as c
from fedledger_platform.audit.evidence import Download, Served, ServedLatest, ServedRound
from fedledger_platform.audit.history import ZERO_ADDRESS, History, RoundEvents
from fedledger_platform.ledger import LedgerEvent, RoundInfo
from fedledger_platform.protocol import RoundPhase

A, B, C, D = (Web3.to_checksum_address(f"0x{i:040x}") for i in (0xA1, 0xB2, 0xC3, 0xD4))
CLOSE_TX, OTHER_TX = "0x" + "c1" * 32, "0x" + "07" * 32
MODEL, OTHER_MODEL = fc.keccak256(b"model"), fc.keccak256(b"other model")
REWARD = 10**18
HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=10)


def event(name: str, tx: str = CLOSE_TX, **args: Any) -> LedgerEvent:
    return LedgerEvent(name, args, block_number=1, tx_hash=tx, log_index=0, address="0xLedger")


def closed(*included: str, reward: int = REWARD, aggregate: bytes = bytes(32)) -> LedgerEvent:
    return event(
        "RoundClosed",
        round=1,
        included=list(included),
        aggregateHash=aggregate,
        rewardPerUpdate=reward,
    )


def mint(to: str, value: int = REWARD, tx: str = CLOSE_TX) -> LedgerEvent:
    return event("Transfer", tx, **{"from": ZERO_ADDRESS, "to": to, "value": value})


def info(status: RoundPhase, *, quorum: int = 2, published: bytes = MODEL) -> RoundInfo:
    return RoundInfo(1, status, 1_700_000_000, 2, 3, quorum, bytes(32), bytes(32), published)


def attest(who: str, model: bytes = MODEL) -> LedgerEvent:
    return event("ModelAttested", f"0x{who[-2:]}" + "00" * 31, participant=who, modelHash=model)


# ---------------------------------------------------------------------- rewards


def test_rewards_name_every_participant_minted_the_wrong_amount() -> None:
    # Prepare: A is paid right, B twice, C nothing, D without being included; another
    # transaction's mint to C does not count.
    mints = [mint(A), mint(B), mint(B), mint(D), mint(C, tx=OTHER_TX)]
    # Execute
    results = c.check_rewards(1, [A, B, C], closed(A, B, C), mints)
    # Assert
    assert [(r.status, r.participant) for r in results] == [
        (CheckStatus.FAIL, B),
        (CheckStatus.FAIL, C),
        (CheckStatus.FAIL, D),
    ]
    assert [r.message for r in results] == [
        "minted 1 FLC + 1 FLC, expected exactly 1 FLC",
        "included but minted nothing (expected 1 FLC)",
        "got 1 FLC in the close transaction without being included",
    ]
    assert results[0].evidence["minted"] == [str(REWARD)] * 2


def test_rewards_pass_with_one_mint_per_included_participant() -> None:
    (result,) = c.check_rewards(1, [A, B], closed(A, B), [mint(B), mint(A)])
    assert result.status is CheckStatus.PASS
    assert result.evidence == {"close_tx": CLOSE_TX, "reward_per_update": str(REWARD), "mints": 2}


# ---------------------------------------------------------------------- quorum


def test_quorum_counts_only_included_attesters_of_the_published_hash() -> None:
    # Prepare: of the included A, B, C, only A attests the published model and B another one;
    # D, not included, attests the published model too.
    events = RoundEvents(
        attestations=[attest(A), attest(B, OTHER_MODEL), attest(D)],
        published=event("ModelPublished", modelHash=MODEL),
    )
    # Execute
    verdict, dissent = c.check_quorum(1, info(RoundPhase.PUBLISHED), [A, B, C], 5_001, events)
    # Assert
    assert verdict.status is CheckStatus.FAIL
    assert verdict.message == (
        f"attestations from participants not included: {D}; only 1 attestation(s), the quorum is 2"
    )
    assert verdict.evidence["attesters"] == [A, D]
    assert (dissent.status, dissent.participant) == (CheckStatus.WARN, B)


def test_quorum_of_the_round_must_follow_the_rule_and_the_published_event() -> None:
    events = RoundEvents(
        attestations=[attest(A), attest(B)],
        published=event("ModelPublished", modelHash=OTHER_MODEL),
    )
    (verdict,) = c.check_quorum(1, info(RoundPhase.PUBLISHED, quorum=1), [A, B], 5_001, events)
    assert verdict.status is CheckStatus.FAIL
    assert "ModelPublished names" in verdict.message
    assert "the round's quorum 1 is not the rule's 2" in verdict.message


def test_quorum_pending_says_how_far_attestations_got() -> None:
    events = RoundEvents(attestations=[attest(A), attest(B), attest(C, OTHER_MODEL)])
    result = c.quorum_pending(1, RoundPhase.CLOSED, 3, events)
    assert result.status is CheckStatus.SKIP
    assert result.message == "awaiting attestations: the leading model hash has 2 of the 3 needed"


# ---------------------------------------------------------------------- federation


def test_token_supply_fails_on_a_stray_mint_and_a_supply_off_its_mints() -> None:
    history = History(transfers=[mint(A), mint(B, tx=OTHER_TX)])
    history.rounds[1] = RoundEvents(closed=closed(A))
    result = c.check_token_supply(3 * REWARD, history)
    assert result.status is CheckStatus.FAIL
    assert result.message == (
        "total supply 3 FLC differs from the 2 FLC minted; "
        "2 FLC minted but the reward rule owes 1 FLC; "
        f"1 mint(s) outside any closeRound transaction: {OTHER_TX}"
    )


def test_balances_follow_mints_and_transfers() -> None:
    # Prepare: A and B are rewarded, then A sends B half a token.
    history = History(transfers=[mint(A), mint(B)])
    history.transfers.append(
        event("Transfer", OTHER_TX, **{"from": A, "to": B, "value": REWARD // 2})
    )
    history.rounds[1] = RoundEvents(closed=closed(A, B))
    accounts = c.Accounts.of(history)
    right = {A: REWARD // 2, B: REWARD + REWARD // 2}
    # Execute / Assert: the balances on chain agree...
    (passed,) = c.check_balances(accounts, right)
    assert passed.status is CheckStatus.PASS and passed.evidence == {"holders": 2}
    # ... or B's does not.
    (failed,) = c.check_balances(accounts, {**right, B: REWARD})
    assert (failed.status, failed.participant) == (CheckStatus.FAIL, B)
    assert failed.message == (
        "balance 1 FLC differs from its recorded mints and transfers (1.5 FLC)"
    )


# ---------------------------------------------------------------------- parameters and updates


def test_parameters_must_be_served_match_the_chain_and_be_usable(secret_context: Any) -> None:
    data = fc.parameters_bytes(secret_context)
    on_chain = fc.keccak256(data)
    kwargs: dict[str, Any] = {"params_id": fc.DEFAULT_PARAMS.id, "commit_tx": CLOSE_TX}
    missing, _ = c.check_parameters(on_chain, None, "503 unavailable", **kwargs)
    other, _ = c.check_parameters(fc.keccak256(b"x"), data, None, **kwargs)
    unknown, _ = c.check_parameters(on_chain, data, None, params_id="nope", commit_tx=None)
    passed, context = c.check_parameters(on_chain, data, None, **kwargs)
    assert missing.message == "the aggregator does not serve its parameters (503 unavailable)"
    assert other.message.startswith("served parameters hash to")
    assert "match the chain but cannot be used" in unknown.message
    assert [r.status for r in (missing, other, unknown)] == [CheckStatus.FAIL] * 3
    assert passed.status is CheckStatus.PASS and context is not None


def test_updates_are_summed_only_when_every_one_matches(
    encryptor: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    # Prepare: two real updates committed by A and B.
    schema = fc.UpdateSchema(fc.TensorLayout.vector(8))
    blobs = [
        encryptor.encrypt(schema, np.full(8, i / 10), weight=1.0, headroom=HEADROOM) for i in (1, 2)
    ]
    events = RoundEvents(
        commits={
            who: event("UpdateCommitted", participant=who, updateHash=fc.keccak256(blob))
            for who, blob in zip((A, B), blobs, strict=True)
        }
    )
    # Execute
    good, summed = c.check_updates(
        1, [Download(A, blobs[0], None), Download(B, blobs[1], None)], events, parameters_context
    )
    bad, none = c.check_updates(
        1,
        [
            Download(A, blobs[1], None),
            Download(B, None, "404 not_found: gone"),
            Download(C, blobs[0], None),
        ],
        events,
        parameters_context,
    )
    aggregate = fc.aggregate_blobs(parameters_context, blobs)
    claimed = RoundEvents(
        commits={A: event("UpdateCommitted", participant=A, updateHash=fc.keccak256(aggregate))}
    )
    (posing,), _ = c.check_updates(1, [Download(A, aggregate, None)], claimed, parameters_context)
    # Assert
    assert [r.status for r in good] == [CheckStatus.PASS] * 2
    assert summed == aggregate
    assert none is None and [r.status for r in bad] == [CheckStatus.FAIL] * 3
    assert bad[0].message.startswith("stored update hashes to ")
    assert bad[1].message == "stored update is missing: the aggregator answered 404 not_found: gone"
    assert bad[2].message == "included without an UpdateCommitted event in this round"
    # An aggregate (which may claim any contributor count) committed as one update is refused.
    assert posing.status is CheckStatus.FAIL
    assert posing.message.startswith("matches its commitment but is not a valid update")


# ---------------------------------------------------------------------- rounds and history


@pytest.mark.parametrize(
    ("status", "expected", "message"),
    [
        (RoundPhase.OPEN, CheckStatus.SKIP, "open until 1700000000 (Unix time): 1 commitment"),
        (RoundPhase.FAILED, CheckStatus.SKIP, "failed before closing: deadline passed"),
        (RoundPhase.CLOSED, CheckStatus.FAIL, "closed on chain but no RoundClosed event since"),
    ],
)
def test_a_round_without_roundclosed(
    status: RoundPhase, expected: CheckStatus, message: str
) -> None:
    events = RoundEvents(
        commits={A: event("UpdateCommitted")},
        failed=event("RoundFailed", reason="deadline passed")
        if status is RoundPhase.FAILED
        else None,
    )
    result = c.check_unclosed_round(1, info(status), events, 7)
    assert result.status is expected and result.message.startswith(message)


def test_lineage_is_the_latest_published_model_else_the_first_base() -> None:
    history = History()
    history.rounds[1] = RoundEvents(opened=event("RoundOpened", baseModelHash=OTHER_MODEL))
    assert history.lineage(3) == OTHER_MODEL
    history.rounds[1].published = event("ModelPublished", modelHash=MODEL)
    history.rounds[2] = RoundEvents(failed=event("RoundFailed", reason="deadline passed"))
    assert history.lineage(3) == MODEL
    assert History().lineage(1) is None


def test_served_evidence_names_the_error_only_when_nothing_was_served() -> None:
    assert Served(None, None, "404 not_found: gone").evidence() == {
        "served_hash": None,
        "served_size": None,
        "error": "404 not_found: gone",
    }
    assert Served(MODEL, 5, None).evidence() == {
        "served_hash": fc.hash_hex(MODEL),
        "served_size": 5,
    }


# ---------------------------------------------------------------------- served metadata


def served_round(status: RoundPhase, **changes: Any) -> ServedRound:
    """What an honest aggregator serves for ``info(status)`` closed by ``closed(A, B)``."""
    data = {
        "number": 1,
        "phase": str(status),
        "base_model_hash": fc.hash_hex(bytes(32)),
        "deadline": 1_700_000_000,
        "min_updates": 2,
        "accepted": 2,
        "participants": [A, B],
        "aggregate_hash": None,
        "published_model_hash": fc.hash_hex(MODEL),
        "open_tx": OTHER_TX,
        "close_tx": CLOSE_TX,
    }
    return ServedRound({**data, **changes}, None)


def test_a_served_round_is_held_to_the_chain() -> None:
    events = RoundEvents(opened=event("RoundOpened", OTHER_TX), closed=closed(A, B))
    published = info(RoundPhase.PUBLISHED)
    check = c.check_served_round
    # Honest, also with addresses in another case
    assert (
        check(1, served_round(RoundPhase.PUBLISHED), published, events).status is CheckStatus.PASS
    )
    lower = served_round(RoundPhase.PUBLISHED, participants=[A.lower(), B.lower()])
    assert check(1, lower, published, events).status is CheckStatus.PASS
    # Each contradicted field is named
    for field, value in [
        ("participants", [A]),
        ("published_model_hash", fc.hash_hex(OTHER_MODEL)),
        ("close_tx", OTHER_TX),
        ("deadline", 1),
    ]:
        result = check(1, served_round(RoundPhase.PUBLISHED, **{field: value}), published, events)
        assert result.status is CheckStatus.FAIL and field in result.evidence["mismatches"]
    # A transaction the aggregator did not record (an adopted round) is no claim
    adopted = served_round(RoundPhase.PUBLISHED, open_tx=None, close_tx=None)
    assert check(1, adopted, published, events).status is CheckStatus.PASS
    # A phase the chain contradicts fails, unless the chain has since moved there (later)
    behind = check(1, served_round(RoundPhase.CLOSED), published, events)
    assert behind.status is CheckStatus.FAIL and "the chain says published" in behind.message
    ahead = served_round(RoundPhase.PUBLISHED)
    closed_then = info(RoundPhase.CLOSED, published=bytes(32))
    assert check(1, ahead, closed_then, events, published).status is CheckStatus.PASS
    assert check(1, ahead, closed_then, events).status is CheckStatus.FAIL
    # closing is the aggregator's name for a round open on chain
    opened = RoundEvents(opened=event("RoundOpened", OTHER_TX))
    summing = served_round(
        RoundPhase.CLOSING, published_model_hash=None, close_tx=None, participants=[], accepted=0
    )
    open_info = info(RoundPhase.OPEN, published=bytes(32))
    assert check(1, summing, open_info, opened).status is CheckStatus.PASS
    missing = check(1, ServedRound(None, "404 not_found: gone"), open_info, opened)
    assert missing.status is CheckStatus.FAIL and "404" in missing.message


def test_the_latest_model_pointer_is_held_to_the_latest_publication() -> None:
    published = {1: OTHER_MODEL, 2: MODEL}
    header = fc.hash_hex(MODEL)

    def latest(actual: bytes | None, label: int | None, hash_header: str | None) -> ServedLatest:
        return ServedLatest(actual, label, hash_header, None if actual else 404, None)

    check = c.check_latest_model
    assert check(published, latest(MODEL, 2, header)).status is CheckStatus.PASS
    # Older bytes under the newest label: the tamper
    relabelled = check(published, latest(OTHER_MODEL, 2, fc.hash_hex(OTHER_MODEL)))
    assert relabelled.status is CheckStatus.FAIL and "the chain published" in relabelled.message
    # A header that is not the bytes' hash
    assert check(published, latest(MODEL, 2, fc.hash_hex(OTHER_MODEL))).status is CheckStatus.FAIL
    # An older model under its own label: the newest bytes may still be coming
    assert check(published, latest(OTHER_MODEL, 1, None)).status is CheckStatus.WARN
    # A round published after the audit's block, and one that published nothing
    assert check({1: OTHER_MODEL}, latest(MODEL, 2, header), {2: MODEL}).status is CheckStatus.PASS
    assert check(published, latest(MODEL, 3, header)).status is CheckStatus.FAIL
    # Nothing published: a 404 passes, anything else does not
    assert check({}, latest(None, None, None)).status is CheckStatus.PASS
    assert check(published, latest(None, None, None)).status is CheckStatus.FAIL
