"""Participants need no ether: a federation of 8 participants holding zero ether runs rounds
through the aggregator's relayer, on the embedded chain and on a real Hardhat node.

One federation per chain for the module, its rounds played in order:

1. everyone relayed (the key dealer's parameters hash too): the round publishes, mints, and
   nobody spent ether;
2. a relayer that drops one participant's commitment and another's attestation: each waits
   while it holds no ether (saying so), then, funded, its fallback sends the message directly
   and it is included (counted in the quorum);
3. an item the ledger skips: a participant that committed another hash directly after its
   signed upload is left out of that upload, then included with the bytes it committed;

then the auditor finds every round green (relayed and direct paths alike); in round 4, signed
messages the ledger would skip are refused before they are held."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from harness import Federation, local_result, wait_for
from web3 import Web3

import fedledger_crypto as fc
from fedledger_clients.fallback import Fallback
from fedledger_clients.participant import Participant, mean_update_next_state
from fedledger_clients.tasks.base import Aggregation
from fedledger_platform.aggregator import RelaySettings
from fedledger_platform.aggregator.relayer import ATTESTATIONS, COMMITMENTS, Relayer
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.api_client import AggregatorError
from fedledger_platform.audit.auditor import run_audit
from fedledger_platform.ledger import RelayResult, SignedItem, connect, sign_model_attestation
from fedledger_platform.ledger.deployment import create_devnet_federation
from fedledger_platform.modelfile import ModelFile
from fedledger_platform.protocol import RoundPhase

PARTICIPANTS = 8
REWARD = 10**18


@dataclass
class Censor:
    """Wraps the relayer's one exit to the chain: items of ``dropped`` (kind, signer) never
    leave (a relayer censoring them)."""

    relayer: Relayer
    dropped: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._submit = self.relayer._submit
        self.relayer._submit = self  # type: ignore[method-assign]

    def __call__(self, kind: str, number: int, items: Sequence[SignedItem]) -> RelayResult | None:
        kept = [i for i in items if (kind, i.signer) not in self.dropped]
        return self._submit(kind, number, kept) if kept else None


@dataclass
class Relayed:
    fed: Federation
    server: ServerThread
    censor: Censor

    @property
    def participants(self) -> list[Participant]:
        return self.fed.participants

    def balance(self, address: str) -> int:
        return int(self.fed.chain.w3.eth.get_balance(address))  # type: ignore[arg-type]

    def fund(self, participant: Participant) -> None:
        self.fed.chain.fund(participant.address, 10**18, sender=self.fed.operator)

    def bases(self, number: int) -> list[ModelFile]:
        wait_for(lambda: self.fed.ledger.current_round() == number, what=f"round {number}")
        return [p.base_model(number) for p in self.participants]

    def blob(self, index: int, number: int, base: ModelFile, salt: int = 0) -> bytes:
        p = self.participants[index]
        result = local_result(index, number, weight=10 * (index + 1) + salt)
        return p.encrypt(base, result, aggregation=Aggregation.MEAN, round_number=number)

    def closed(self, number: int) -> None:
        wait_for(
            lambda: self.fed.ledger.get_round(number).status is RoundPhase.CLOSED,
            what=f"round {number} closed",
        )

    def finish_all(self, number: int, bases: list[ModelFile]) -> None:
        for p, base in zip(self.participants, bases, strict=True):
            p.finish(number, base, aggregation=Aggregation.MEAN, next_state=mean_update_next_state)

    def published(self, number: int) -> None:
        wait_for(
            lambda: self.fed.ledger.get_round(number).status is RoundPhase.PUBLISHED,
            what=f"round {number} published",
        )


@pytest.fixture(scope="module", params=["embedded", "hardhat"])
def relayed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Relayed]:
    url = "embedded" if request.param == "embedded" else request.getfixturevalue("hardhat_url")
    tmp = tmp_path_factory.mktemp(f"relaying-{request.param}")
    chain = connect(url)
    made = create_devnet_federation(chain, participants=PARTICIPANTS)  # participants: 0 ether
    fed = Federation(
        chain, made.ledger, made.operator, made.aggregator, made.auditor, made.participants, tmp
    )
    try:
        settings = fed.settings(f"sqlite:///{tmp / 'agg.db'}", count=4, min_updates=5)
        settings.relay = RelaySettings(batch_size=50, flush_interval_s=0.2)
        server = fed.serve(settings)
        service = server.server.config.app.state.service
        censor = Censor(service.relayer)
        fed.join(server)  # the dealer's parameters hash is relayed: it holds no ether either
        yield Relayed(fed, server, censor)
    finally:
        fed.close()


def test_zero_ether_participants_complete_a_round_and_are_rewarded(relayed: Relayed) -> None:
    # Prepare
    fed, participants = relayed.fed, relayed.participants
    assert all(relayed.balance(p.address) == 0 for p in participants)
    assert fed.ledger.encryption_params_hash() != bytes(32)  # relayed for the dealer
    bases = relayed.bases(1)

    # Execute
    for i, p in enumerate(participants):
        assert p.submit(1, relayed.blob(i, 1, bases[i])).relayed
    relayed.closed(1)
    relayed.finish_all(1, bases)
    relayed.published(1)

    # Assert: all included, rewarded, every message a batch's item, and no ether spent
    info = fed.ledger.get_round(1)
    assert info.included_count == PARTICIPANTS
    assert all(fed.ledger.token_balance(p.address) == REWARD for p in participants)
    wait_for(
        lambda: all(fed.ledger.has_attested(1, p.address) for p in participants),
        what="the attestations after the quorum's",
    )
    events = [
        e
        for e in fed.ledger.events(names=["UpdateCommitted", "ModelAttested"])
        if e.args["round"] == 1
    ]
    assert len(events) == 2 * PARTICIPANTS and all(e.item is not None for e in events)
    assert all(relayed.balance(p.address) == 0 for p in participants)


def test_censored_messages_are_sent_directly_by_their_funded_senders(
    relayed: Relayed, caplog: pytest.LogCaptureFixture
) -> None:
    # Prepare: the relayer drops participant 7's commitment and participant 6's attestation
    fed, participants = relayed.fed, relayed.participants
    committer, attester = participants[7], participants[6]
    relayed.censor.dropped |= {(COMMITMENTS, committer.address), (ATTESTATIONS, attester.address)}
    bases = relayed.bases(2)
    blobs = [relayed.blob(i, 2, bases[i]) for i in range(PARTICIPANTS)]
    for p, blob in zip(participants, blobs, strict=True):
        p.submit(2, blob)
    wait_for(
        lambda: sum(fed.ledger.has_committed(2, p.address) for p in participants) == 7,
        what="the uncensored commitments",
    )
    fallback = Fallback(committer, timeout_s=0.01)

    # Execute: without ether the fallback waits and says so; funded, it commits directly
    with caplog.at_level(logging.WARNING, logger="fedledger.client"):
        waiting = fallback.commitment(2, fc.keccak256(blobs[7]), handed_over_at=0.0)
    relayed.fund(committer)
    sent = fallback.commitment(2, fc.keccak256(blobs[7]), handed_over_at=0.0)

    # Assert: the round waited for it, and includes it
    assert waiting is False and "holds no ether" in caplog.text
    assert sent is True
    relayed.closed(2)
    assert fed.ledger.get_round(2).included_count == PARTICIPANTS
    assert fed.ledger.is_included(2, committer.address)

    # Execute: the attestations; participant 6's is censored, its fallback attests directly
    relayed.finish_all(2, bases)
    relayed.published(2)
    model_hash = fed.ledger.get_round(2).published_model_hash
    wait_for(
        lambda: fed.ledger.attestation_count(2, model_hash) == PARTICIPANTS - 1,
        what="the uncensored attestations",
    )
    assert not fed.ledger.has_attested(2, attester.address)
    relayed.fund(attester)
    sent = Fallback(attester, timeout_s=0.01).attestation(2, model_hash, handed_over_at=0.0)

    # Assert: on chain from its own account, counted with the relayed ones
    assert sent is True and fed.ledger.has_attested(2, attester.address)
    assert fed.ledger.attestation_count(2, model_hash) == PARTICIPANTS
    direct = [
        e
        for e in fed.ledger.events(names=["UpdateCommitted", "ModelAttested"])
        if e.args["round"] == 2 and e.item is None
    ]
    assert sorted((e.name, e.args["participant"]) for e in direct) == [
        ("ModelAttested", attester.address),
        ("UpdateCommitted", committer.address),
    ]
    relayed.censor.dropped.clear()


def test_a_skipped_relayed_commitment_leaves_its_upload_out(relayed: Relayed) -> None:
    # Prepare: participant 5 uploads with a signed commitment, which the relayer holds back
    # while participant 5 commits other bytes directly
    fed, participants = relayed.fed, relayed.participants
    p5 = participants[5]
    bases = relayed.bases(3)
    signed_blob, direct_blob = (relayed.blob(5, 3, bases[5], salt=s) for s in (0, 1))
    relayed.censor.dropped.add((COMMITMENTS, p5.address))
    assert p5.submit(3, signed_blob).relayed
    relayed.fund(p5)
    p5.commit(3, fc.keccak256(direct_blob), on_chain=bytes(32))

    # Execute: the relayer sends the item; the ledger skips it (already committed)
    relayed.censor.dropped.clear()
    client = relayed.fed.client(relayed.server)
    wait_for(lambda: client.round(3)["accepted"] == 0, what="the upload left out")

    # Assert: the skip is on chain, and the upload it committed is accepted without a
    # signature (its direct commitment), then included like the others'
    (skip,) = [
        e
        for e in fed.ledger.events(names=["RelayedItemRejected"])
        if e.args["round"] == 3 and e.args["signer"] == p5.address
    ]
    assert skip.args["reason"] == Web3.keccak(text="LedgerAlreadyCommitted(uint64,address)")[:4]
    assert p5.submit(3, direct_blob).relayed is False
    for i, p in enumerate(participants):
        if i != 5:
            p.submit(3, relayed.blob(i, 3, bases[i]))
    relayed.closed(3)
    assert fed.ledger.get_round(3).included_count == PARTICIPANTS
    assert fed.ledger.update_commitment(3, p5.address) == fc.keccak256(direct_blob)
    relayed.finish_all(3, bases)
    relayed.published(3)


def test_relayed_and_direct_rounds_audit_green(relayed: Relayed) -> None:
    # Execute
    report = run_audit(relayed.fed.ledger, relayed.server.url, relayed.fed.auditor, rounds="1..3")

    # Assert
    assert report.ok, [f.line() for f in report.failures]
    assert [(r.number, r.state) for r in report.rounds] == [
        (n, RoundPhase.PUBLISHED) for n in (1, 2, 3)
    ]


def _refusal(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(AggregatorError) as caught:
        call()
    return caught.value.status, caught.value.code


def test_signed_messages_the_ledger_would_skip_are_refused(relayed: Relayed) -> None:
    # Prepare: round 4 open; participant 0's update, and signatures the ledger would skip
    fed, (p0, p1) = relayed.fed, relayed.participants[:2]
    blob = relayed.blob(0, 4, relayed.bases(4)[0])
    digest = fc.keccak256(blob)
    published = fed.ledger.get_round(3).published_model_hash
    other_model = fc.keccak256(b"another model")
    attest = sign_model_attestation

    # Execute
    answers = [
        # an upload with another participant's signature, one for another round, none at all
        _refusal(
            lambda: p0.client.upload_update(
                4, blob, commitment_signature=p1.sign_commitment(4, digest)
            )
        ),
        _refusal(
            lambda: p0.client.upload_update(
                4, blob, commitment_signature=p0.sign_commitment(3, digest)
            )
        ),
        _refusal(lambda: p0.client.upload_update(4, blob)),
        # an attestation signed by someone else, a second one of another model, one for the
        # open round
        _refusal(
            lambda: p0.client.attest(
                3, published, attest(p1.account, fed.ledger.domain, 3, published).signature
            )
        ),
        _refusal(
            lambda: p0.client.attest(
                3, other_model, attest(p0.account, fed.ledger.domain, 3, other_model).signature
            )
        ),
        _refusal(
            lambda: p0.client.attest(
                4, other_model, attest(p0.account, fed.ledger.domain, 4, other_model).signature
            )
        ),
    ]

    # Assert: refused with their codes, and nothing held
    assert answers == [
        (422, "bad_typed_signature"),
        (422, "bad_typed_signature"),
        (422, "commitment_mismatch"),
        (422, "bad_typed_signature"),
        (409, "duplicate"),
        (409, "round_not_closed"),
    ]
    assert relayed.fed.client(relayed.server).round(4)["accepted"] == 0


def test_a_commitment_skipped_when_the_round_would_close_reopens_the_decision(
    relayed: Relayed,
) -> None:
    # Prepare: every participant uploads round 4 with a signed commitment; participant 5's is
    # held back by the relayer until everyone has uploaded, while participant 5 commits other
    # bytes directly. The round is masked: an update left out after the decision to close
    # would need reveals nobody was asked for.
    fed, participants = relayed.fed, relayed.participants
    p5 = participants[5]
    bases = relayed.bases(4)
    signed_blob, direct_blob = (relayed.blob(5, 4, bases[5], salt=s) for s in (0, 1))
    relayed.censor.dropped.add((COMMITMENTS, p5.address))
    assert p5.submit(4, signed_blob).relayed
    relayed.fund(p5)
    p5.commit(4, fc.keccak256(direct_blob), on_chain=bytes(32))
    for i, p in enumerate(participants):
        if i != 5:
            p.submit(4, relayed.blob(i, 4, bases[i]))
    client = relayed.fed.client(relayed.server)

    # Execute: everyone submitted, so the round would close; settling its commitments first
    # finds participant 5's direct one, which is not the accepted upload's
    relayed.censor.dropped.clear()
    wait_for(lambda: client.round(4)["accepted"] == PARTICIPANTS - 1, what="the upload left out")

    # Assert: the round is still open (the decision is taken again), so the bytes participant
    # 5 committed are accepted and the round closes with everyone, its masks cancelling
    assert client.round(4)["phase"] == RoundPhase.OPEN
    assert p5.submit(4, direct_blob).relayed is False
    relayed.closed(4)
    assert fed.ledger.get_round(4).included_count == PARTICIPANTS
    relayed.finish_all(4, bases)
    relayed.published(4)
    report = run_audit(relayed.fed.ledger, relayed.server.url, relayed.fed.auditor, rounds="4")
    assert report.ok, [f.line() for f in report.failures]
