"""Two full rounds through the real service (uvicorn on loopback) and the embedded chain,
with three participants built from the project's own crypto, ledger and client code —
on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from harness import Federation, local_result, wait_for

import fedledger_crypto as fc
from fedledger_clients.participant import mean_update_next_state
from fedledger_clients.tasks.base import Aggregation
from fedledger_crypto.flooding import FLOOD_STD
from fedledger_platform.api_client import AggregatorError
from fedledger_platform.modelfile import decode_model
from fedledger_platform.protocol import RoundPhase


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_full_rounds(
    federation: Federation, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Prepare
    url = (
        f"sqlite:///{tmp_path / 'aggregator.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    server = federation.serve(federation.settings(url))
    participants = federation.join(server)
    client = federation.client(server)
    ledger = federation.ledger
    assert client.parameters() == fc.parameters_bytes(
        fc.load_parameters_context(client.parameters(), fc.DEFAULT_PARAMS)
    )
    assert fc.keccak256(client.parameters()) == ledger.encryption_params_hash()
    assert all(p["has_sealed_key"] for p in client.participants())
    published: list[bytes] = []

    for number in (1, 2):
        wait_for(
            lambda n=number: (
                (c := client.current_round()) and c["number"] == n and c["phase"] == "open"
            ),
            what=f"round {number} to open",
        )
        bases = [p.base_model(number) for p in participants]
        if published:  # round 2 starts from the model published by round 1
            assert ledger.get_round(number).base_model_hash == published[-1]
        results = [local_result(i, number) for i in range(3)]
        # Execute: encrypt, sign the commitment, upload (the aggregator relays it)
        for k, (p, base, result) in enumerate(zip(participants, bases, results, strict=True)):
            before = client.current_round()  # the answer is kept until the next write
            assert before["accepted"] == k and p.address not in before["participants"]
            blob = p.encrypt(base, result, aggregation=Aggregation.MEAN, round_number=number)
            submitted = p.submit(number, blob)
            assert submitted.relayed and submitted.uploaded_now
            after = client.current_round()
            assert after["accepted"] == k + 1 and p.address in after["participants"]
        wait_for(
            lambda n=number: (
                ledger.get_round(n).status is RoundPhase.CLOSED
                or ledger.get_round(n).status is RoundPhase.PUBLISHED
            ),
            what="close",
        )
        outcomes = [
            p.finish(number, base, aggregation=Aggregation.MEAN, next_state=mean_update_next_state)
            for p, base in zip(participants, bases, strict=True)
        ]
        # Assert: every participant derived the same model. The aggregate decrypts to the
        # weighted mean by hand; the model is the base plus that mean moved by the flooding
        # noise only (at most √12·2^-12 on Σw·x and on Σw: docs/crypto.md, "Flooding").
        assert len({o.model_hash for o in outcomes}) == 1
        weights = [r.weight for r in results]
        schema = bases[0].schema()
        exact = participants[0].encryptor.decrypt(client.aggregate(number).data, schema)
        decrypted = schema.layout.unflatten(exact.mean())
        flood = np.sqrt(12) * FLOOD_STD / sum(weights)
        for name, tensor in bases[0].state.items():
            mean = sum(
                w * r.update[name].double() for w, r in zip(weights, results, strict=True)
            ) / sum(weights)
            torch.testing.assert_close(decrypted[name].double(), mean, atol=1e-6, rtol=0)
            moved = outcomes[0].model.state[name].double() - (tensor.double() + mean).float()
            assert bool((moved.abs() <= (1 + mean.abs()) * flood + 1e-6).all()), name
        assert round(outcomes[0].aggregate.metrics["total"]) == sum(weights)
        assert outcomes[0].aggregate.contributors == 3
        info = wait_for(
            lambda n=number: (i := ledger.get_round(n)).status is RoundPhase.PUBLISHED and i,
            what="publication",
        )
        assert info.published_model_hash == outcomes[0].model_hash
        assert info.aggregate_hash == fc.keccak256(client.aggregate(number).data)
        # Relayed, in batches: every commitment and attestation is an item of a batch event
        # (the quorum's attestations publish at once, the last waits for its batch to fill).
        wait_for(
            lambda n=number: all(ledger.has_attested(n, p.address) for p in participants),
            what="every attestation on chain",
        )
        events = list(ledger.events(names=["UpdateCommitted", "ModelAttested"]))
        of_round = [e for e in events if e.args["round"] == number]
        assert len(of_round) == 6 and all(e.item is not None for e in of_round)
        published.append(info.published_model_hash)

    # Tokens: one reward per included update, on chain.
    for p in participants:
        assert ledger.token_balance(p.address) == 2 * 10**18
    # Consumers: the latest model is the one published in round 2, and checks against the chain.
    wait_for(lambda: client.round(2)["phase"] == "published", what="aggregator sees round 2")
    latest = client.latest_model()
    latest.verify(ledger.get_round(2).published_model_hash)
    assert latest.round_number == 2
    assert decode_model(latest.data).round_number == 2
    rounds = client.rounds()
    assert [r["phase"] for r in rounds] == ["published", "published"]
    assert all(r["close_gas"] and r["close_tx"] for r in rounds)


def test_concurrent_stores_of_the_same_model_are_idempotent(
    federation: Federation, tmp_path: Path
) -> None:
    """Every attester may upload the model bytes at once: one stores them, none fails."""
    import threading

    from fedledger_platform.modelfile import encode_model

    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    service = server.server.config.app.state.service  # type: ignore[attr-defined]
    data = encode_model({"w": torch.arange(1000.0)}, task="t", metric_names=("a",), round_number=1)
    results: list[object] = []
    start = threading.Barrier(8)

    def store() -> None:
        start.wait()
        try:
            results.append(service.models.store(data, round_number=1, uploaded_by=None))
        except BaseException as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(new for _, new in results) == [False] * 7 + [True]  # type: ignore[misc]
    assert federation.client(server).model(fc.keccak256(data)).data == data


def test_resent_model_wakes_the_coordinator_without_rewriting(
    federation: Federation, tmp_path: Path
) -> None:
    """The attester that completes the quorum re-sends the stored bytes: the coordinator wakes
    (to publish and open the next round at once) and the stored blob is not written again."""
    import threading

    from fedledger_platform.modelfile import encode_model

    class RecordingEvent(threading.Event):
        sets = 0

        def set(self) -> None:
            self.sets += 1
            super().set()

    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    service = server.server.config.app.state.service  # type: ignore[attr-defined]
    data = encode_model({"w": torch.arange(10.0)}, task="t", metric_names=("a",), round_number=1)
    name, new = service.models.store(data, round_number=1, uploaded_by=None)
    assert new
    # The coordinator waits on whichever event is current.
    wake = service.coordinator._wake = RecordingEvent()
    puts: list[int] = []
    real_put = service.blobs.put
    service.blobs.put = lambda blob: puts.append(len(blob)) or real_put(blob)
    assert service.models.store(data, round_number=1, uploaded_by=None) == (name, False)
    assert wake.sets == 1 and puts == []
    # A record whose blob went missing is repaired by the re-send.
    path = service.blobs.path(fc.hash_from_hex(name))
    path.unlink()
    assert service.models.store(data, round_number=1, uploaded_by=None) == (name, False)
    assert path.read_bytes() == data and puts == [len(data)]


def test_long_poll_answers_as_soon_as_the_round_moves(
    federation: Federation, tmp_path: Path
) -> None:
    import threading
    import time

    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    client = federation.client(server)
    # Nothing opened yet (no parameters on chain): a long-poll waits out its time, then answers.
    started = time.monotonic()
    assert client.current_round(after=(0, RoundPhase.NONE), wait_s=0.6) is None
    assert 0.5 <= time.monotonic() - started < 5
    # A long-poll already waiting when round 1 opens answers right away, with the new round.
    answer: list[object] = []
    poller = threading.Thread(
        target=lambda: answer.append(
            (time.monotonic(), client.current_round(after=(0, RoundPhase.NONE), wait_s=25))
        )
    )
    poller.start()
    time.sleep(0.3)
    federation.join(server)  # the dealer commits the parameters: the aggregator opens round 1
    poller.join(30)
    ((answered_at, latest),) = answer  # type: ignore[misc]
    assert latest is not None and latest["number"] == 1 and latest["phase"] == "open"
    assert answered_at - started < 20  # well before the 25 s wait ran out
    # An `after` that is already stale answers at once.
    started = time.monotonic()
    assert client.current_round(after=(0, RoundPhase.NONE), wait_s=25)["number"] == 1  # type: ignore[index]
    assert time.monotonic() - started < 2
    # Waiting past a later state than the current one: no answer until it is passed (the
    # round stays open here), then the round as it is.
    started = time.monotonic()
    latest = client.current_round(after=(1, RoundPhase.CLOSING), wait_s=0.6)
    assert latest is not None and (latest["number"], latest["phase"]) == (1, "open")
    assert 0.5 <= time.monotonic() - started < 5
    for bad in ("x", "1:bogus", "1:open:2"):
        with pytest.raises(AggregatorError) as info:
            client._request("GET", "/v1/rounds/current", params={"after": bad, "wait_s": 1})
        assert info.value.status == 400


def test_participants_fetch_the_base_once_and_only_the_asked_attester_uploads(
    federation: Federation, tmp_path: Path
) -> None:
    """A participant fetches a round's base model once for submit and finish, and not at all
    when the model it built is the next round's base; only the attester the aggregator asks
    (the first of the hash) uploads the model bytes, before publication; another attester
    supplies them only when missing."""
    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=2))
    participants = federation.join(server)
    client = federation.client(server)
    wait_for(lambda: (c := client.current_round()) and c["phase"] == "open", what="round 1")
    calls: dict[int, list[str]] = {i: [] for i in range(len(participants))}
    for i, p in enumerate(participants):
        for method in ("model", "model_info", "upload_model"):
            real = getattr(p.client, method)

            def spy(
                *args: object, _real: object = real, _name: str = method, _i: int = i
            ) -> object:
                calls[_i].append(_name)
                return _real(*args)  # type: ignore[operator]

            setattr(p.client, method, spy)
    bases = [p.base_model(1) for p in participants]
    for i, (p, base) in enumerate(zip(participants, bases, strict=True)):
        p.submit(
            1, p.encrypt(base, local_result(i, 1), aggregation=Aggregation.MEAN, round_number=1)
        )
    wait_for(lambda: federation.ledger.get_round(1).status is RoundPhase.CLOSED, what="close")
    outcomes = [
        p.finish(
            1, p.base_model(1), aggregation=Aggregation.MEAN, next_state=mean_update_next_state
        )
        for p in participants
    ]
    assert all(calls[i].count("model") == 1 for i in calls), calls  # one fetch of the base
    # The first attester is asked for the bytes (held before the relayer publishes them).
    assert [o.attested_now for o in outcomes] == [True, True, True]
    assert calls[0][1:] == ["upload_model"] and calls[1][1:] == [] and calls[2][1:] == []
    assert client.model_info(outcomes[0].model_hash)["round"] == 1
    published = wait_for(
        lambda: (
            (i := federation.ledger.get_round(1)).status is RoundPhase.PUBLISHED
            and i.published_model_hash
        ),
        what="publication",
    )
    assert published == outcomes[0].model_hash
    # The bytes are stored: offering them again asks for metadata and uploads nothing.
    assert participants[1].offer_model(1, published) is False
    assert calls[1][1:] == ["model_info"]
    # Each participant built the published model itself: it is round 2's base, unfetched.
    wait_for(lambda: federation.ledger.current_round() == 2, what="round 2 to open")
    assert federation.ledger.get_round(2).base_model_hash == published
    for p, outcome in zip(participants, outcomes, strict=True):
        assert p.base_model(2) is outcome.model
    assert all(calls[i].count("model") == 1 for i in calls), calls
    assert federation.ledger.get_round(1).status is RoundPhase.PUBLISHED
    # Finishing again (a restart after attesting): the aggregator answers the attestation it
    # holds with the same receipt, and asks for no bytes (stored).
    again = participants[0].finish(
        1, bases[0], aggregation=Aggregation.MEAN, next_state=mean_update_next_state
    )
    assert again.attested_now is False and again.model_hash == outcomes[0].model_hash
    assert calls[0][1:] == ["upload_model"]


def test_an_error_inside_the_sum_rebuilds_it_from_the_store(
    federation: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the second upload's bytes reach the running sum, then the request fails with
    # an error that is not a rejected blob (as a failed read or memory would).
    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    participants = federation.join(server)
    client = federation.client(server)
    wait_for(lambda: (c := client.current_round()) and c["phase"] == "open", what="round 1")
    blobs = [
        p.encrypt(p.base_model(1), local_result(i, 1), aggregation=Aggregation.MEAN, round_number=1)
        for i, p in enumerate(participants)
    ]
    add_file = fc.StreamingAggregator.add_file
    failures: list[Path] = []

    def add_then_fail(
        self: fc.StreamingAggregator, path: Path, *, kind: int | None = None
    ) -> fc.BlobHeader:
        header = add_file(self, path, kind=kind)
        if kind == fc.BlobKind.UPDATE and self.contributors == 2 and not failures:
            failures.append(path)
            raise OSError("simulated failure after the sum changed")
        return header

    monkeypatch.setattr(fc.StreamingAggregator, "add_file", add_then_fail)

    # Execute: the failed upload is retried, as a participant does
    participants[0].submit(1, blobs[0])
    with pytest.raises(AggregatorError):
        participants[1].submit(1, blobs[1])
    assert failures and client.current_round()["accepted"] == 1  # nothing stored
    assert participants[1].submit(1, blobs[1]).uploaded_now
    participants[2].submit(1, blobs[2])

    # Assert: the aggregate holds every update exactly once
    wait_for(lambda: federation.ledger.get_round(1).aggregate_hash != bytes(32), what="close")
    public = fc.load_parameters_context(client.parameters(), fc.DEFAULT_PARAMS)
    assert client.aggregate(1).data == fc.aggregate_blobs(public, blobs)
