"""Masked rounds with dropouts on real chains — the embedded chain and a Hardhat node — through
the real aggregator, participants and auditor.

Four participants; round 1: one commits and never uploads, round 2: two do. Each round goes
open → unmasking → closing → closed → published: the survivors reveal the seeds they share with
the dropped, the aggregator corrects the sum and closes with ``dropped`` and
``correctionsHash``; the model equals plaintext FedAvg of the survivors and the audit passes.
Round 3 (embedded chain) is closed by an aggregator that applies the correction twice. Then:
an altered reveal, the doubled correction and a dropped member's late upload are each caught,
and a survivor (a false dropped list) and the aggregator (a forged, misplaced or late reveal)
each refuse what they must.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from eth_account import Account
from harness import local_result, make_federation, wait_for

import fedledger_crypto as fc
from fedledger_clients.participant import ProtocolError
from fedledger_clients.tasks.base import Aggregation
from fedledger_crypto import masking as mk
from fedledger_platform.aggregator.unmasking import Closing, Unmasking
from fedledger_platform.api_client import AggregatorError
from fedledger_platform.audit import AuditReport, CheckStatus, run_audit
from fedledger_platform.ledger import connect
from fedledger_platform.modelfile import decode_model
from fedledger_platform.protocol import RoundPhase

DEADLINE_S = 10  # the rounds with dropouts close at their deadline
WEIGHT = 10_000  # sample counts: the flooding noise on the mean stays far below 1e-6
DROPPED = {1: (3,), 2: (2, 3), 3: (3,)}


def audit(run: Any, **kwargs: Any) -> AuditReport:
    return run_audit(run.fed.ledger, run.server.url, run.fed.auditor, **kwargs)


def failures(report: AuditReport) -> list[tuple[int | None, str, str | None]]:
    return [(f.round_number, f.check, f.participant) for f in report.failures]


@dataclass
class Scenario:
    run: Any
    committed: dict[tuple[int, int], bytes]  # (round, participant index) -> blob never uploaded
    chain: str


def _commit_only(run: Any, number: int, index: int) -> bytes:
    """Participant ``index`` encrypts and commits its round-``number`` update, never uploads."""
    wait_for(
        lambda: (c := run.client.current_round()) and (c["number"], c["phase"]) == (number, "open"),
        what=f"round {number} to open",
    )
    p = run.fed.participants[index]
    blob = p.encrypt(
        p.base_model(number),
        local_result(index, number, WEIGHT),
        aggregation=Aggregation.MEAN,
        round_number=number,
    )
    run.fed.ledger.commit_update(p.account, number, fc.keccak256(blob))
    return blob


def _doubled(closing: Any) -> Any:
    """``Unmasking.closing`` of an aggregator that adds the correction twice."""

    def twice(self: Unmasking, number: int, included: Any) -> Closing:
        honest: Closing = closing(self, number, included)
        assert honest.correction is not None
        doubled = mk.Mask(honest.correction.terms * 2)
        return Closing(honest.dropped, doubled, honest.corrections_hash)

    return twice


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("hardhat", marks=pytest.mark.hardhat)]
)
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, kit: Any
) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp(f"dropouts-{request.param}")
    if request.param == "embedded":
        fed = make_federation(tmp, participants=4)
    else:
        chain = connect(request.getfixturevalue("hardhat_url"))
        fed, _ = kit.make_chain_federation(chain, tmp, Account.create(), participants=4)
    rounds = 3 if request.param == "embedded" else 2
    try:
        run = kit.start(fed, count=rounds, min_updates=2, timeout_s=DEADLINE_S)
        committed = {}
        for number in range(1, rounds + 1):
            for i in DROPPED[number]:
                committed[number, i] = _commit_only(run, number, i)
            survivors = [i for i in range(4) if i not in DROPPED[number]]
            if number < 3:
                status = kit.play_round(run, number, submit=survivors, weight=WEIGHT)
                assert status is RoundPhase.PUBLISHED
                continue
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(Unmasking, "closing", _doubled(Unmasking.closing))
                status = kit.play_round(run, 3, submit=survivors, weight=WEIGHT, finish=False)
            assert status is RoundPhase.CLOSED
        yield Scenario(run, committed, request.param)
    finally:
        fed.close()


def test_the_rounds_complete_with_the_plaintext_fedavg_of_the_survivors(
    scenario: Scenario,
) -> None:
    fed, client = scenario.run.fed, scenario.run.client
    for number in (1, 2):
        # The chain records who was dropped and a commitment to the reveals.
        closed = fed.ledger.log.find("RoundClosed", [number.to_bytes(32, "big")], from_block=0)
        dropped = [fed.participants[i].address for i in DROPPED[number]]
        assert sorted(closed[0].args["dropped"]) == sorted(dropped)
        listing = client.reveals(number)
        assert bytes(closed[0].args["correctionsHash"]) == listing.reveals_hash
        survivors = [i for i in range(4) if i not in DROPPED[number]]
        assert len(listing.reveals) == len(survivors) * len(dropped)  # all pairs: 4 members
        assert sorted(client.round(number)["dropped"]) == sorted(dropped)
        # The published model is the base plus plaintext FedAvg of the survivors.
        info = fed.ledger.get_round(number)
        base = fed.participants[0].base_model(number)
        model = decode_model(client.model(info.published_model_hash).data)
        results = [local_result(i, number, WEIGHT) for i in survivors]
        total = sum(r.weight for r in results)
        for name, tensor in base.state.items():
            mean = sum(r.weight * r.update[name].double() for r in results) / total
            torch.testing.assert_close(
                model.state[name], (tensor.double() + mean).float(), atol=1e-6, rtol=0
            )


def test_the_audit_passes_with_dropped_members(scenario: Scenario) -> None:
    report = audit(scenario.run, rounds="1..2")
    assert report.ok and report.exit_code == 0, [f.line() for f in report.failures]
    fed = scenario.run.fed
    for r in report.rounds:
        checks = {c.check: c for c in r.checks if c.participant is None}
        assert checks["dropped"].status is CheckStatus.PASS
        assert "verified against both on-chain keys" in checks["reveals"].message
        assert "plus the correction for dropped" in checks["aggregate"].message
        passed = {c.participant for c in r.checks if c.check == "left_out"}
        assert passed == {fed.participants[i].address for i in DROPPED[r.number]}


def test_a_correction_applied_twice_fails_the_audit(scenario: Scenario) -> None:
    if scenario.chain != "embedded":
        pytest.skip("round 3 is played on the embedded chain only")
    report = audit(scenario.run, rounds="3..3")
    dropped = scenario.run.fed.participants[3].address
    assert report.exit_code == 1
    assert failures(report) == [(3, "aggregate", None)]
    assert f"plus the correction for dropped {dropped} sum to" in report.failures[0].message


def test_an_altered_reveal_fails_the_audit_naming_the_revealer(scenario: Scenario) -> None:
    run = scenario.run
    database = run.fed.tmp / "aggregator.db"
    revealer = run.fed.participants[0].address
    with sqlite3.connect(database) as db:
        (response,) = db.execute(
            "SELECT response FROM reveals WHERE round_number = 1 AND revealer = ?", (revealer,)
        ).fetchone()
        altered = response[:-1] + bytes([response[-1] ^ 1])
        db.execute("UPDATE reveals SET response = ? WHERE revealer = ?", (altered, revealer))
    try:
        report = audit(run, rounds="1..1")
    finally:
        with sqlite3.connect(database) as db:
            db.execute("UPDATE reveals SET response = ? WHERE revealer = ?", (response, revealer))
    assert report.exit_code == 1
    found = failures(report)
    assert (1, "reveals", revealer) in found and (1, "aggregate", None) in found
    (bad,) = [f for f in report.failures if f.participant == revealer]
    assert "does not verify" in bad.message and "round 1" in bad.message
    assert any("correctionsHash" in f.message for f in report.failures if f.check == "reveals")


def test_a_dropped_members_late_upload_is_refused(scenario: Scenario) -> None:
    p = scenario.run.fed.participants[3]
    with pytest.raises(AggregatorError) as refused:
        p.upload(1, scenario.committed[1, 3], fc.keccak256(scenario.committed[1, 3]))
    assert (refused.value.status, refused.value.code) == (409, "seeds_revealed")
    assert "mask seeds are revealed" in refused.value.message


def _refused(p: Any, reveals: list[mk.Reveal]) -> tuple[int, str]:
    with pytest.raises(AggregatorError) as refused:
        p.client.submit_reveals(1, reveals)
    return refused.value.status, refused.value.code


def test_reveals_are_checked_by_the_survivor_and_by_the_aggregator(
    tmp_path: Path, kit: Any
) -> None:
    # Prepare: three members, participant 2 commits and drops; the round enters unmasking.
    fed = make_federation(tmp_path, participants=3)
    try:
        run = kit.start(fed, count=1, min_updates=2, timeout_s=6)
        _commit_only(run, 1, 2)
        survivor, other, gone = fed.participants
        for i, p in ((0, survivor), (1, other)):
            blob = p.encrypt(
                p.base_model(1), local_result(i, 1), aggregation=Aggregation.MEAN, round_number=1
            )
            p.submit(1, blob)
        wait_for(lambda: run.client.round(1)["phase"] == "unmasking", what="unmasking")
        database = fed.tmp / "aggregator.db"
        # Execute: the aggregator claims a survivor dropped, then a non-member.
        with sqlite3.connect(database) as db:
            db.execute("INSERT INTO dropped VALUES (1, ?)", (other.address,))
        with pytest.raises(ProtocolError, match="refusing to reveal"):
            other.masking.reveal(1)
        stranger = Account.create().address
        with sqlite3.connect(database) as db:
            db.execute("DELETE FROM dropped WHERE participant = ?", (other.address,))
            db.execute("INSERT INTO dropped VALUES (1, ?)", (stranger,))
        with pytest.raises(ProtocolError, match="non-members"):
            survivor.masking.reveal(1)
        with sqlite3.connect(database) as db:
            db.execute("DELETE FROM dropped WHERE participant = ?", (stranger,))
        # The aggregator refuses a forged proof and a reveal for a survivor (422), and a reveal
        # by the dropped member (403); nothing is stored.
        members = survivor.masking.members(1)
        keys, context = members.public_keys, members.context
        honest = mk.make_reveal(bytes(survivor.account.key), keys[gone.address.lower()], context)
        z = honest.response
        forged = replace(honest, response=z[:-1] + bytes([z[-1] ^ 1]))
        for_survivor = mk.make_reveal(
            bytes(survivor.account.key), keys[other.address.lower()], context
        )
        by_dropped = mk.make_reveal(
            bytes(gone.account.key), keys[survivor.address.lower()], context
        )
        assert _refused(survivor, [forged]) == (422, "bad_reveal")
        assert _refused(survivor, [honest, for_survivor]) == (422, "bad_reveal")
        assert _refused(gone, [by_dropped]) == (403, "not_allowed")
        assert run.client.reveals(1).reveals == []
        # Assert: honest claims are revealed, and only for neighbours that dropped; another
        # point for the same pair is a conflict; once the round closed no reveal is taken.
        reveals = survivor.masking.reveal(1)
        assert reveals == [honest]
        assert [(r.revealer, r.dropped) for r in reveals] == [
            (survivor.address.lower(), gone.address.lower())
        ]
        assert run.client.reveals(1).reveals == reveals
        assert _refused(survivor, [forged]) == (409, "duplicate")
        other.masking.reveal(1)
        wait_for(lambda: fed.ledger.get_round(1).status is RoundPhase.CLOSED, what="close")
        late = mk.make_reveal(bytes(other.account.key), keys[survivor.address.lower()], context)
        assert _refused(other, [late]) == (409, "round_not_unmasking")
    finally:
        fed.close()
