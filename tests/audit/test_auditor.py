"""The auditor against real federations on the embedded chain: a clean history audits green;
each tampering with the aggregator's storage, and a participant left out of a round, is
reported as a failure naming the round (and the participant where one applies); failed, open
and closed-but-unpublished rounds are reported as such, not as failures."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from harness import make_federation, wait_for
from rich.console import Console

import fedledger_crypto as fc
from fedledger_platform.audit import (
    AuditConfigError,
    AuditReport,
    CheckResult,
    CheckStatus,
    Verdict,
    render_html,
    render_table,
    run_audit,
    write_html,
)
from fedledger_platform.protocol import RoundPhase

EVERY_ROUND_CHECK = {"base_model", "parameters", "update", "left_out", "aggregate"}
CLOSED_ROUND_CHECKS = EVERY_ROUND_CHECK | {
    "served_round",
    "dropped",
    "reveals",
    "served_aggregate",
    "rewards",
    "quorum",
    "model",
}
DEADLINE_S = 8  # round timeout of the `eventful` federation (the aggregator's minimum is 5)


def audit(run: Any, **kwargs: Any) -> AuditReport:
    return run_audit(run.fed.ledger, run.server.url, run.fed.auditor, **kwargs)


def failures(report: AuditReport) -> list[tuple[int | None, str, str | None]]:
    return [(f.round_number, f.check, f.participant) for f in report.failures]


def only(report: AuditReport, number: int, check: str) -> list[CheckResult]:
    (r,) = [r for r in report.rounds if r.number == number]
    return [c for c in r.checks if c.check == check]


def update_path(run: Any, number: int, index: int) -> Path:
    address = run.fed.participants[index].address
    (meta,) = [u for u in run.client.updates(number) if u["participant"] == address]
    return Path(run.blobs.path(fc.hash_from_hex(meta["update_hash"])))


# ---------------------------------------------------------------------- a clean federation


def test_clean_federation_audits_green(clean: Any, tmp_path: Path) -> None:
    # Execute
    report = audit(clean)
    # Assert: every round published and every check passed, with evidence
    assert report.ok and report.exit_code == 0, [f.line() for f in report.failures]
    assert [(r.number, r.state, r.verdict) for r in report.rounds] == [
        (1, RoundPhase.PUBLISHED, Verdict.PASS),
        (2, RoundPhase.PUBLISHED, Verdict.PASS),
    ]
    ledger = clean.fed.ledger
    for r in report.rounds:
        assert {c.check for c in r.checks} == CLOSED_ROUND_CHECKS
        assert all(c.status is CheckStatus.PASS for c in r.checks)
        updates = only(report, r.number, "update")
        assert sorted(c.participant or "" for c in updates) == sorted(
            p.address for p in clean.fed.participants
        )
        (aggregate,) = only(report, r.number, "aggregate")
        chain_hash = fc.hash_hex(ledger.get_round(r.number).aggregate_hash)
        assert aggregate.evidence["recomputed_hash"] == chain_hash == r.aggregate_hash
        assert aggregate.evidence["close_tx"] == r.transactions["close"]
        (quorum,) = only(report, r.number, "quorum")
        assert quorum.evidence["attestations"] == 3 and quorum.evidence["quorum"] == 2
    assert {c.check for c in report.federation_checks} == {
        "token_supply",
        "balances",
        "latest_model",
    }
    assert report.parameters_hash == fc.hash_hex(ledger.encryption_params_hash())
    # JSON: one object per round with every check, and it survives a round trip
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is True and [r["round"] for r in data["rounds"]] == [1, 2]
    assert data["summary"]["checks"]["fail"] == 0
    # A tiny eth_getLogs page (paginated history) reaches the same verdicts.
    paged = audit(clean, page_size=2)
    assert paged.to_json()["rounds"] == data["rounds"]
    # A range audits just those rounds.
    assert [r.number for r in audit(clean, rounds="2..").rounds] == [2]
    # Terminal table and self-contained HTML render.
    console = Console(record=True, width=160)
    render_table(report, console)
    assert "all checks passed" in console.export_text()
    page = write_html(report, tmp_path / "audit.html").read_text()
    assert "Every check passed" in page and r.transactions["close"] in page
    assert "<script" not in page and "<link" not in page and "src=" not in page


def test_auditor_needs_the_auditor_role(clean: Any) -> None:
    stranger = Account.create()
    with pytest.raises(AuditConfigError, match="AUDITOR_ROLE"):
        run_audit(clean.fed.ledger, clean.server.url, stranger)
    with pytest.raises(AuditConfigError, match="not been opened"):
        audit(clean, rounds="5..6")


# ---------------------------------------------------------------------- tampering


def test_flipped_byte_in_a_stored_update(clean: Any, kit: Any) -> None:
    victim = clean.fed.participants[1].address
    path = update_path(clean, 2, 1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    with kit.tampered(path, bytes(data)):
        report = audit(clean)
    assert report.exit_code == 1
    assert failures(report) == [(2, "update", victim), (2, "aggregate", None)]
    (bad,) = [c for c in only(report, 2, "update") if c.status is CheckStatus.FAIL]
    assert bad.line().startswith(f"FAIL round 2 update participant {victim}: stored update hashes")
    assert bad.evidence["served_hash"] == fc.hash_hex(fc.keccak256(bytes(data)))
    assert bad.evidence["commitment"] == fc.hash_hex(fc.keccak256(path.read_bytes()))
    assert "cannot be recomputed" in report.failures[1].message
    assert report.rounds[0].verdict is Verdict.PASS  # round 1 is untouched


def test_deleted_stored_update(clean: Any, kit: Any) -> None:
    victim = clean.fed.participants[2].address
    with kit.tampered(update_path(clean, 1, 2), None):
        report = audit(clean)
    assert failures(report) == [(1, "update", victim), (1, "aggregate", None)]
    assert "stored update is missing" in report.failures[0].message
    assert "404" in report.failures[0].message


def test_served_aggregate_replaced_by_another_valid_ciphertext(clean: Any, kit: Any) -> None:
    chain = [clean.fed.ledger.get_round(n).aggregate_hash for n in (1, 2)]
    other = clean.blobs.path(chain[0]).read_bytes()  # round 1's aggregate: a valid ciphertext
    assert fc.parse_header(other, fc.DEFAULT_PARAMS).contributors == 3
    with kit.tampered(clean.blobs.path(chain[1]), other):
        report = audit(clean)
    assert failures(report) == [(2, "served_aggregate", None)]
    assert report.failures[0].evidence["served_hash"] == fc.hash_hex(chain[0])
    # The auditor's own sum of the stored updates still matches the chain.
    assert only(report, 2, "aggregate")[0].status is CheckStatus.PASS


def test_served_model_bytes_altered(clean: Any, kit: Any) -> None:
    model_hash = clean.fed.ledger.get_round(1).published_model_hash
    path = clean.blobs.path(model_hash)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x80  # a weight changes; still a well-formed safetensors file
    with kit.tampered(path, bytes(data)):
        report = audit(clean)
    # Round 1's published model, which is also round 2's base model.
    assert failures(report) == [(1, "model", None), (2, "base_model", None)]
    assert "bytes served for the published model hash to" in report.failures[0].message
    console = Console(record=True, width=200)
    render_table(report, console)
    text = console.export_text()
    assert "2 check(s) failed" in text and "FAIL round 1 model" in text


@contextlib.contextmanager
def db_edited(run: Any, number: int, **values: str) -> Iterator[None]:
    """Set columns of round ``number``'s row in the aggregator's database; restore them after."""
    path = run.fed.tmp / "aggregator.db"
    names = ", ".join(values)
    with contextlib.closing(sqlite3.connect(path)) as db:
        (before,) = db.execute(f"SELECT {names} FROM rounds WHERE number = ?", (number,))
        assignments = ", ".join(f"{name} = ?" for name in values)
        with db:
            db.execute(
                f"UPDATE rounds SET {assignments} WHERE number = ?", (*values.values(), number)
            )
    try:
        yield
    finally:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute(f"UPDATE rounds SET {assignments} WHERE number = ?", (*before, number))


def test_latest_pointer_moved_to_an_older_model(clean: Any) -> None:
    # Prepare: the database says round 2 published round 1's model (bytes the store holds)
    ledger = clean.fed.ledger
    round_1, round_2 = (ledger.get_round(n).published_model_hash for n in (1, 2))
    with db_edited(clean, 2, published_model_hash=fc.hash_hex(round_1)):
        served = clean.client.latest_model()
        # Execute
        report = audit(clean)
    # Assert: /latest served round 1's bytes labelled round 2 with a matching hash header...
    assert served.round_number == 2 and fc.keccak256(served.data) == round_1
    assert served.hash_header == fc.hash_hex(round_1)
    # ...and the audit names the latest pointer and round 2's served metadata
    assert sorted(failures(report), key=str) == [
        (2, "served_round", None),
        (None, "latest_model", None),
    ]
    (latest,) = [c for c in report.failures if c.check == "latest_model"]
    assert latest.evidence["chain_hash"] == fc.hash_hex(round_2)
    assert "the chain published" in latest.message
    (served_round,) = only(report, 2, "served_round")
    assert set(served_round.evidence["mismatches"]) == {"published_model_hash"}


def test_served_round_metadata_edited(clean: Any) -> None:
    # Prepare: round 1's base model hash and phase, as the database serves them
    fake = fc.hash_hex(fc.keccak256(b"another base model"))
    with db_edited(clean, 1, base_model_hash=fake):
        assert clean.client.round(1)["base_model_hash"] == fake
        # Execute
        edited_base = audit(clean)
    with db_edited(clean, 2, phase="failed"):
        edited_phase = audit(clean)
    # Assert: each fails the served_round check of the round, naming what it contradicts
    assert failures(edited_base) == [(1, "served_round", None)]
    (check,) = edited_base.failures
    assert check.line().startswith("FAIL round 1 served_round: served round contradicts")
    assert check.evidence["mismatches"]["base_model_hash"]["served"] == fake
    assert failures(edited_phase) == [(2, "served_round", None)]
    assert "served as 'failed', the chain says published" in edited_phase.failures[0].message


def test_a_consumer_fetch_is_checked_against_model_published(clean: Any, kit: Any) -> None:
    from fedledger_platform.published import PublishedModelError, fetch_published_model

    # Prepare: the chain's latest publication is round 2's
    ledger = clean.fed.ledger
    published = ledger.get_round(2).published_model_hash

    # Execute / Assert: the latest by default, any published round by number
    fetched = fetch_published_model(ledger, clean.client)
    assert (fetched.round_number, fetched.model_hash) == (2, published)
    assert fc.keccak256(fetched.data) == published and fetched.model.round_number == 2
    assert fetch_published_model(ledger, clean.client, round_number=1).round_number == 1
    with pytest.raises(PublishedModelError, match="round 3 published no model"):
        fetch_published_model(ledger, clean.client, round_number=3)
    # The stored bytes replaced (the served hash header still names the published hash)
    other = clean.blobs.path(ledger.get_round(1).published_model_hash).read_bytes()
    with kit.tampered(clean.blobs.path(published), other):
        assert clean.client.model(published).hash == published  # the header lies
        with pytest.raises(PublishedModelError, match="refusing them"):
            fetch_published_model(ledger, clean.client)


# ---------------------------------------------------------------------- left out, failed, open


@pytest.fixture(scope="module")
def eventful(tmp_path_factory: pytest.TempPathFactory, kit: Any) -> Iterator[tuple[Any, Any]]:
    """An unmasked federation (masked dropouts: tests/audit/test_masked_dropouts.py). Round 1:
    participant 2 commits but never uploads; the round closes at its deadline with the other
    two. Round 2: nobody submits; it fails at its deadline (audited while open too). Round 3:
    everyone submits; it closes but nobody attests yet. Deadlines are a few seconds away, so
    the rounds expire on their own."""
    fed = make_federation(tmp_path_factory.mktemp("eventful"), masking=False)
    try:
        run = kit.start(fed, count=3, min_updates=2, timeout_s=DEADLINE_S)
        assert kit.play_round(run, 1, submit=[0, 1], commit_only=[2]) is RoundPhase.PUBLISHED
        wait_for(lambda: fed.ledger.current_round() == 2, what="round 2 to open")
        while_open = audit(run)
        assert kit.play_round(run, 2, submit=[]) is RoundPhase.FAILED
        assert kit.play_round(run, 3, finish=False) is RoundPhase.CLOSED
        yield run, while_open
    finally:
        fed.close()


def test_committed_but_left_out_is_a_failure(eventful: tuple[Any, Any], tmp_path: Path) -> None:
    run, _ = eventful
    left_out = run.fed.participants[2].address
    report = audit(run)
    assert report.exit_code == 1
    assert failures(report) == [(1, "left_out", left_out)]
    (failure,) = report.failures
    assert "left out of the aggregate" in failure.message
    assert failure.evidence["aggregator_lists_upload"] is False
    assert failure.evidence["commit_tx"] and failure.evidence["close_tx"]
    round_1 = report.rounds[0]
    assert round_1.committed != round_1.included and len(round_1.included) == 2
    # The two included participants were rewarded, the left-out one was not.
    assert only(report, 1, "rewards")[0].status is CheckStatus.PASS
    assert only(report, 1, "rewards")[0].evidence["mints"] == 2
    html = render_html(report, explorer="https://explorer.example/tx/{tx}")
    assert f"https://explorer.example/tx/{failure.evidence['commit_tx']}" in html
    assert "1 check(s) failed" in html and left_out in html


def test_failed_open_and_closed_rounds_are_not_failures(eventful: tuple[Any, Any]) -> None:
    run, while_open = eventful
    # Audited while round 2 was open: pending, with its commitments so far.
    assert [(r.number, r.state, r.verdict) for r in while_open.rounds][1] == (
        2,
        RoundPhase.OPEN,
        Verdict.PENDING,
    )
    report = audit(run, rounds="2..3")
    assert report.ok and report.exit_code == 0
    failed, closed = report.rounds
    assert (failed.state, failed.verdict) == (RoundPhase.FAILED, Verdict.ROUND_FAILED)
    assert failed.failure_reason and "deadline passed" in failed.failure_reason
    assert failed.transactions["fail"]
    assert (closed.state, closed.verdict) == (RoundPhase.CLOSED, Verdict.PENDING)
    assert only(report, 3, "aggregate")[0].status is CheckStatus.PASS
    assert only(report, 3, "quorum")[0].status is CheckStatus.SKIP
    # Round 3's base model continues from round 1's (round 2 failed).
    assert only(report, 3, "base_model")[0].status is CheckStatus.PASS
