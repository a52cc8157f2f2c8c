"""SIGKILL the aggregator process in the middle of a round, restart it on the same database and
blob store: the round resumes, closes with every update, and its aggregate is byte-identical to
that of an uninterrupted run on the same blobs."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from harness import initial_model, local_result, wait_for

import fedledger_crypto as fc
from fedledger_app.bench.served import served, upload_retrying
from fedledger_clients.tasks.base import Aggregation
from fedledger_platform.protocol import RoundPhase

N, K = 5, 2


def _half_upload(port: int, path: str, headers: dict[str, str], body: bytes) -> socket.socket:
    """Start a chunked upload and send only the first half of the body (never finished)."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/octet-stream\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    half = body[: len(body) // 2]
    sock.sendall(head.encode() + f"{len(half):x}\r\n".encode() + half + b"\r\n")
    return sock


@pytest.mark.hardhat
def test_sigkill_after_k_of_n_uploads_resumes_with_the_same_aggregate(
    hardhat_url: str, tmp_path: Path, parameters_context: Any
) -> None:
    # Prepare: a separate `fedledger serve` process on a real Hardhat node, N participants here.
    with served(
        hardhat_url,
        tmp_path / "federation",
        participants=N,
        model=initial_model(),
        rounds={"count": 1, "min_updates": N},
    ) as fed:
        fed.start()
        participants = fed.participants()
        fed.set_up_keys(participants, seal=True)
        fed.wait_phase(1, ("open",))
        base = participants[0].base_model(1)
        blobs = [
            p.encrypt(base, local_result(i, 1), aggregation=Aggregation.MEAN, round_number=1)
            for i, p in enumerate(participants)
        ]
        for p, blob in zip(participants, blobs, strict=True):
            fed.ledger.commit_update(p.account, 1, fc.keccak256(blob))
        first = [participants[i].client.upload_update(1, blobs[i]) for i in range(K)]
        assert all(receipt["new"] for receipt in first)
        # Participant K's upload is in flight (half its body on disk) when the service dies.
        path = "/v1/rounds/1/updates"
        headers = fc.sign_request(
            participants[K].account, method="PUT", path=path, body=blobs[K], scope=fed.scope
        )
        in_flight = _half_upload(fed.port, path, headers, blobs[K])
        tmp_dir = fed.blob_dir / "tmp"
        wait_for(
            lambda: any(p.stat().st_size >= len(blobs[K]) // 4 for p in tmp_dir.glob("*.part")),
            what="the half upload on disk",
        )

        # Execute: SIGKILL; every participant (re)tries its upload while the service is down,
        # as a participant that does not know whether its upload was acknowledged does.
        fed.kill()
        in_flight.close()
        with ThreadPoolExecutor(N) as pool:
            pending = [
                pool.submit(upload_retrying, p.client, 1, blob)
                for p, blob in zip(participants, blobs, strict=True)
            ]
            time.sleep(1.0)
            assert not any(f.done() for f in pending), "uploads succeeded with the service down"
            fed.start()
            receipts = [f.result(timeout=120) for f in pending]
        info = fed.wait_phase(1, ("closed", "published"))

        # Assert: the first K were not accepted again (same receipts); the rest are new.
        for before, after in zip(first, receipts[:K], strict=True):
            assert after["new"] is False
            assert {k: v for k, v in after.items() if k != "new"} == {
                k: v for k, v in before.items() if k != "new"
            }
        assert all(receipt["new"] for receipt in receipts[K:])
        again = participants[0].client.upload_update(1, blobs[0])  # after the close, too
        assert again["new"] is False and again["received_at"] == first[0]["received_at"]
        # The round closed on chain with all N, on the aggregate of an uninterrupted run.
        expected = fc.keccak256(fc.aggregate_blobs(parameters_context, blobs))
        on_chain = fed.ledger.get_round(1)
        assert on_chain.status in (RoundPhase.CLOSED, RoundPhase.PUBLISHED)
        assert on_chain.aggregate_hash == expected
        assert on_chain.included_count == N
        assert all(fed.ledger.is_included(1, p.address) for p in participants)
        assert info["accepted"] == N
        assert info["aggregate_hash"] == fc.hash_hex(expected)
        assert fc.keccak256(fed.client().aggregate(1).data) == expected
        # The partial upload was swept at restart; nothing else is left in the temporary folder.
        assert not list(tmp_dir.iterdir())
        # And the aggregate decrypts to the sum of the N updates.
        decrypted = participants[1].encryptor.decrypt(fed.client().aggregate(1).data, base.schema())
        assert decrypted.contributors == N
