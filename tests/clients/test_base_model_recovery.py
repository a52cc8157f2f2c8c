"""A round whose base model bytes never reached the aggregator: the publishing attester of the
previous round stopped before uploading them. The daemons' next uploads are refused with
``base_model_missing``; an attester holding the bytes supplies them and the federation goes on."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from daemon_helpers import make_daemons, run_daemons
from harness import make_federation

import fedledger_crypto as fc
from fedledger_app.initial_model import initial_model_bytes
from fedledger_platform.protocol import RoundPhase


def test_an_attester_supplies_the_missing_base_model_and_the_round_completes(
    tmp_path: Path,
) -> None:
    # Prepare: the first model upload of the federation (round 1's publishing attester) is lost
    fed = make_federation(tmp_path)
    try:
        server = fed.serve(
            fed.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=2),
            model=initial_model_bytes("hashtags", 0),
        )
        daemons = make_daemons(fed, server.url, "hashtags", tmp_path)
        lost: list[tuple[bytes, int]] = []
        events: list[tuple[str, dict[str, Any]]] = []
        guard = threading.Lock()
        for d in daemons:
            real = d.client.upload_model

            def upload_model(
                model_hash: bytes, number: int, data: bytes, _real: Any = real
            ) -> dict[str, Any]:
                with guard:
                    if not lost:
                        lost.append((model_hash, number))
                        return {"hash": fc.hash_hex(model_hash)}  # as if the attester stopped
                result: dict[str, Any] = _real(model_hash, number, data)
                return result

            d.client.upload_model = upload_model  # type: ignore[method-assign]
            d.on_event = lambda kind, data: events.append((kind, data))

        # Execute
        run_daemons(daemons)

        # Assert: round 2 opened on round 1's model while its bytes were missing, a daemon
        # supplied them when its update was refused, and both rounds were published
        assert lost and lost[0][1] == 1
        round1 = fed.ledger.get_round(1)
        assert lost[0][0] == round1.published_model_hash
        assert fed.ledger.get_round(2).base_model_hash == round1.published_model_hash
        assert fed.ledger.get_round(2).status is RoundPhase.PUBLISHED
        supplied = [data for kind, data in events if kind == "model" and data["round"] == 1]
        assert supplied and supplied[0]["model_hash"] == fc.hash_hex(round1.published_model_hash)
        stored = fed.client(server).model(round1.published_model_hash)
        stored.verify(round1.published_model_hash)
    finally:
        fed.close()
