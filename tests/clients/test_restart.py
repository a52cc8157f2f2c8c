"""Restarts: a participant killed between persisting its update and uploading it uploads it
exactly once after it resumes, and it is committed once; an aggregator outage during uploads is
retried until it succeeds."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import make_daemons, run_daemons
from harness import Federation, make_federation, wait_for

import fedledger_crypto as fc
from fedledger_app.initial_model import initial_model_bytes
from fedledger_clients.daemon import ClientDaemon
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.api_client import AggregatorError
from fedledger_platform.ledger.devnet import free_port
from fedledger_platform.protocol import RoundPhase


class Killed(BaseException):
    """Stands for the process dying: nothing in the daemon catches it."""


def _serve_sentiment(
    fed: Federation, tmp_path: Path, *, rounds: int
) -> tuple[ServerThread, list[ClientDaemon]]:
    """The aggregator for ``rounds`` sentiment rounds, and a daemon per participant."""
    server = fed.serve(
        fed.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=rounds),
        model=initial_model_bytes("sentiment", 0),
    )
    return server, make_daemons(fed, server.url, "sentiment", tmp_path)


@pytest.mark.slow
def test_participant_killed_before_its_upload_uploads_exactly_once(tmp_path: Path) -> None:
    fed = make_federation(tmp_path)
    try:
        server, daemons = _serve_sentiment(fed, tmp_path, rounds=1)
        victim = daemons[1]

        def die(*_args: object, **_kwargs: object) -> object:
            raise Killed

        victim.participant.client.upload_update = die  # type: ignore[method-assign]
        others = [threading.Thread(target=d.run, daemon=True) for d in (daemons[0], daemons[2])]
        for t in others:
            t.start()
        with pytest.raises(Killed):
            victim.run()
        # The kill left the blob on disk, and nothing on chain or at the aggregator (its signed
        # commitment goes with the upload).
        assert fed.ledger.update_commitment(1, victim.account.address) == bytes(32)
        committed = fc.keccak256((victim.state_dir / "round-1.blob").read_bytes())
        assert victim.account.address not in {
            u["participant"] for u in fed.client(server).updates(1)
        }
        # A fresh daemon on the same state folder resumes: it uploads the persisted bytes.
        events: list[tuple[str, dict[str, object]]] = []
        resumed = ClientDaemon(
            victim.config,
            account=victim.account,
            ledger=fed.ledger,
            client=fed.client(server, victim.account),
            on_event=lambda kind, data: events.append((kind, data)),
        )
        resumed.run(until_done=True)
        for t in others:
            t.join(120)
        uploads = [data for kind, data in events if kind == "uploaded"]
        assert len(uploads) == 1
        assert uploads[0]["relayed"] is True and uploads[0]["uploaded_now"] is True
        assert fed.ledger.update_commitment(1, victim.account.address) == committed
        commits = [
            e
            for e in fed.ledger.events(names=["UpdateCommitted"])
            if e.args["participant"] == victim.account.address
        ]
        assert len(commits) == 1
        assert fed.ledger.get_round(1).status is RoundPhase.PUBLISHED
        assert fed.ledger.is_included(1, victim.account.address)
    finally:
        fed.close()


@pytest.mark.slow
def test_aggregator_outage_during_upload_is_retried(tmp_path: Path) -> None:
    fed = make_federation(tmp_path)
    try:
        port = free_port()
        settings = fed.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1)
        model = initial_model_bytes("sentiment", 0)
        server = fed.serve(settings, model=model, port=port)
        daemons = make_daemons(fed, server.url, "sentiment", tmp_path)
        events: list[str] = []
        for d in daemons:
            d.on_event = lambda kind, _data: events.append(kind)
            d.config = type(d.config)(**{**vars(d.config), "max_backoff_s": 1.0})
        # Keys first, then take the aggregator down as soon as round 1 opens.
        wait_for(lambda: fed.ledger.current_round() == 0)
        runner = threading.Thread(target=run_daemons, args=(daemons,), daemon=True)
        runner.start()
        wait_for(lambda: fed.ledger.current_round() == 1, what="round 1 to open")
        server.stop()
        wait_for(lambda: events.count("retry") >= 3, timeout_s=60, what="daemons to retry")
        assert fed.ledger.get_round(1).status is RoundPhase.OPEN
        time.sleep(0.5)
        fed.serve(settings, model=model, port=port)  # same database, blob store and port
        runner.join(180)
        assert not runner.is_alive()
        info = fed.ledger.get_round(1)
        assert info.status is RoundPhase.PUBLISHED and info.included_count == 3
    finally:
        fed.close()


@pytest.mark.slow
def test_publisher_stopped_before_uploading_the_model_another_attester_supplies_it(
    tmp_path: Path,
) -> None:
    """Only the attester the aggregator asks (the first of the hash) uploads the model's bytes,
    and the next round opens without waiting for them. If that attester stops before its upload
    (its signed attestation held and relayed: the model is published all the same), the next
    round's updates are refused for the missing base (503) until another attester of the same
    model supplies the bytes — which it does on that refusal."""
    fed = make_federation(tmp_path)
    try:
        server, daemons = _serve_sentiment(fed, tmp_path, rounds=2)
        killed: list[ClientDaemon] = []
        lock = threading.Lock()
        for d in daemons:
            real = d.client.upload_model

            def upload(*args: Any, _d: ClientDaemon = d, _real: Any = real) -> bool:
                with lock:
                    first = not killed
                    if first:
                        killed.append(_d)
                if first:
                    raise Killed  # the publisher dies right before its upload
                return bool(_real(*args))

            d.client.upload_model = upload  # type: ignore[method-assign]

        def run(d: ClientDaemon) -> None:
            with contextlib.suppress(Killed):
                d.run(until_done=True)

        threads = {d: threading.Thread(target=run, args=(d,), daemon=True) for d in daemons}
        for t in threads.values():
            t.start()
        wait_for(lambda: bool(killed), timeout_s=120, what="the publisher to stop")
        (victim,) = killed
        threads[victim].join(30)
        published = wait_for(
            lambda: (
                (i := fed.ledger.get_round(1)).status is RoundPhase.PUBLISHED
                and i.published_model_hash
            ),
            timeout_s=60,
            what="round 1 published",
        )
        reader = fed.client(server)
        # Round 2 opens on the published hash at once; the survivors' updates bring the bytes.
        wait_for(lambda: fed.ledger.current_round() == 2, timeout_s=60, what="round 2 to open")
        assert fed.ledger.get_round(2).base_model_hash == published

        def stored() -> bool:
            try:
                return reader.model_info(published)["round"] == 1
            except AggregatorError:
                return False

        wait_for(stored, timeout_s=60, what="a surviving attester to supply the model")
        # The stopped participant resumes on its state folder and takes part in round 2.
        resumed = ClientDaemon(
            victim.config,
            account=victim.account,
            ledger=fed.ledger,
            client=fed.client(server, victim.account),
        )
        resumed.run(until_done=True)
        for t in threads.values():
            t.join(120)
        final = fed.ledger.get_round(2)
        assert final.status is RoundPhase.PUBLISHED and final.included_count == 3
        assert reader.model_info(final.published_model_hash)["round"] == 2
    finally:
        fed.close()
