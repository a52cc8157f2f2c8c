"""Every signed route refuses a replayed request with 409 ``replayed_nonce``, also when the
first answer was an idempotent 200 (something already stored), and concurrent copies of one
signed upload are accepted once.

One federation on the embedded chain for the module: round 1 runs to publication while the
tests replay each signed route (PUT updates, models, parameters and sealed keys; the signed GETs
of an update by the auditor and of a sealed key by its recipient; POST of a signed
attestation)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from harness import Federation, local_result, make_federation, wait_for
from wire import error_code, signed

import fedledger_crypto as fc
from fedledger_clients.participant import Participant, mean_update_next_state
from fedledger_clients.tasks.base import Aggregation
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.ledger import sign_model_attestation
from fedledger_platform.protocol import RoundPhase

UPDATES = "/v1/rounds/1/updates"


@dataclass
class Arena:
    fed: Federation
    server: ServerThread
    participants: list[Participant]
    scope: fc.RequestScope
    update: bytes  # participant 0's accepted round-1 update

    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> httpx.Response:
        return httpx.request(
            method, self.server.url + path, headers=headers, content=body, timeout=60
        )

    def twice(
        self, account: LocalAccount, method: str, path: str, body: bytes = b""
    ) -> tuple[httpx.Response, httpx.Response]:
        """One signed request, then the same bytes again (a replay)."""
        headers = signed(account, self.scope, method, path, body)
        return self.send(method, path, headers, body), self.send(method, path, headers, body)


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    tmp: Path = tmp_path_factory.mktemp("replays")
    fed = make_federation(tmp)
    try:
        server = fed.serve(fed.settings(f"sqlite:///{tmp / 'agg.db'}", count=1))
        participants = fed.join(server)
        reader = fed.client(server)
        wait_for(lambda: (c := reader.current_round()) and c["phase"] == "open", what="round 1")
        p0 = participants[0]
        update = p0.encrypt(
            p0.base_model(1), local_result(0, 1), aggregation=Aggregation.MEAN, round_number=1
        )
        fed.ledger.commit_update(p0.account, 1, fc.keccak256(update))
        scope = fc.RequestScope(fed.chain.chain_id, fed.ledger.address)
        yield Arena(fed, server, participants, scope, update)
    finally:
        fed.close()


def test_concurrent_copies_of_one_signed_upload_are_accepted_once(arena: Arena) -> None:
    # Prepare: six copies of one signed upload, released at once
    headers = signed(arena.participants[0].account, arena.scope, "PUT", UPDATES, arena.update)
    start = threading.Barrier(6)
    answers: list[httpx.Response] = []

    def upload() -> None:
        start.wait()
        answers.append(arena.send("PUT", UPDATES, headers, arena.update))

    # Execute
    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Assert: one 201, five 409 replayed_nonce, one update stored
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    assert [error_code(a) for a in answers if a.status_code == 409] == ["replayed_nonce"] * 5
    assert arena.fed.client(arena.server).round(1)["accepted"] == 1


def test_a_replayed_update_upload_is_refused(arena: Arena) -> None:
    # Execute: a new signed upload of the accepted update (an idempotent 200), then its replay
    first, replay = arena.twice(arena.participants[0].account, "PUT", UPDATES, arena.update)

    # Assert
    assert first.status_code == 200 and first.json()["new"] is False
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"


def test_a_replayed_auditor_read_is_refused(arena: Arena) -> None:
    path = f"{UPDATES}/{arena.participants[0].address}"
    first, replay = arena.twice(arena.fed.auditor, "GET", path)
    assert first.status_code == 200 and first.content == arena.update
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"


def test_a_replayed_sealed_key_read_is_refused(arena: Arena) -> None:
    p1 = arena.participants[1]
    first, replay = arena.twice(p1.account, "GET", f"/v1/keys/{p1.address}")
    assert first.status_code == 200 and first.json()["recipient"] == p1.address
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"


def test_a_replayed_sealed_key_upload_is_refused(arena: Arena) -> None:
    # Prepare: the dealer re-sends participant 1's stored copy (an idempotent 200)
    dealer, p1 = arena.participants[0], arena.participants[1]
    stored = p1.client.fetch_sealed_key()
    body = json.dumps(
        {
            "ciphertext": "0x" + stored.ciphertext.hex(),
            "dealer_signature": "0x" + stored.dealer_signature.hex(),
        }
    ).encode()

    # Execute
    first, replay = arena.twice(dealer.account, "PUT", f"/v1/keys/{p1.address}", body)

    # Assert
    assert first.status_code == 200
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"


def test_a_replayed_parameters_upload_is_refused(arena: Arena) -> None:
    # Prepare: the dealer re-publishes the published parameters (an idempotent 200)
    dealer = arena.participants[0]
    canonical = dealer.client.parameters()

    # Execute
    first, replay = arena.twice(dealer.account, "PUT", "/v1/federation/parameters", canonical)

    # Assert
    assert first.status_code == 200 and first.json()["hash"] == fc.hash_hex(fc.keccak256(canonical))
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"


def test_a_replayed_model_upload_is_refused(arena: Arena) -> None:
    # Prepare: round 1 runs to publication; the attester that publishes uploads the model
    fed, participants = arena.fed, arena.participants
    for i, p in enumerate(participants[1:], start=1):
        result = local_result(i, 1)
        p.submit(
            1, p.encrypt(p.base_model(1), result, aggregation=Aggregation.MEAN, round_number=1)
        )
    wait_for(lambda: fed.ledger.get_round(1).status is RoundPhase.CLOSED, what="close")
    for p in participants:
        p.finish(
            1, p.base_model(1), aggregation=Aggregation.MEAN, next_state=mean_update_next_state
        )
    published = wait_for(
        lambda: (
            (i := fed.ledger.get_round(1)).status is RoundPhase.PUBLISHED and i.published_model_hash
        ),
        what="publication",
    )
    model = participants[0].client.model(published).data
    path = f"/v1/models/{fc.hash_hex(published)}?round=1"

    # Execute: another attester sends the stored bytes again (an idempotent 200), then replays
    first, replay = arena.twice(participants[2].account, "PUT", path, model)

    # Assert
    assert first.status_code == 200 and first.json()["hash"] == fc.hash_hex(published)
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"


def test_a_replayed_attestation_is_refused(arena: Arena) -> None:
    # Prepare: participant 1 re-sends its held signed attestation of round 1's model (an
    # idempotent 200); round 1 was published by the test above
    p1 = arena.participants[1]
    published = arena.fed.ledger.get_round(1).published_model_hash
    signed_attestation = sign_model_attestation(p1.account, arena.fed.ledger.domain, 1, published)
    body = json.dumps(
        {
            "model_hash": fc.hash_hex(published),
            "signature": "0x" + signed_attestation.signature.hex(),
        }
    ).encode()

    # Execute
    first, replay = arena.twice(p1.account, "POST", "/v1/rounds/1/attestations", body)

    # Assert
    assert first.status_code == 200 and first.json()["new"] is False
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"
