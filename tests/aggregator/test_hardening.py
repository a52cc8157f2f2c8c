"""Replayed signed reads, streamed model uploads, nonce purging, JSON for every error."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from harness import Federation
from wire import error_code, signed

import fedledger_crypto as fc
from fedledger_platform.storage import NonceRecord


def _scope(federation: Federation) -> fc.RequestScope:
    return fc.RequestScope(federation.chain.chain_id, federation.ledger.address)


def test_a_captured_signed_read_cannot_be_replayed(federation: Federation, tmp_path: Path) -> None:
    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    federation.join(server)
    alice = federation.accounts[1]
    path = f"/v1/keys/{alice.address}"
    headers = signed(alice, _scope(federation), "GET", path)
    first = httpx.get(server.url + path, headers=headers)
    assert first.status_code == 200
    replay = httpx.get(server.url + path, headers=headers)
    assert replay.status_code == 409 and error_code(replay) == "replayed_nonce"
    # A rejected read (someone else's key) records nothing: the same nonce still works for Alice.
    bob = federation.accounts[2]
    other = signed(bob, _scope(federation), "GET", path, nonce="ab" * 16)
    assert httpx.get(server.url + path, headers=other).status_code == 403
    mine = signed(alice, _scope(federation), "GET", path, nonce="ab" * 16)
    assert httpx.get(server.url + path, headers=mine).status_code == 200


def test_model_uploads_stream_and_are_checked_before_parsing(
    federation: Federation, tmp_path: Path
) -> None:
    settings = federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1)
    settings.max_upload_bytes = 4096
    server = federation.serve(settings)
    federation.join(server)
    alice = federation.accounts[1]
    digest = fc.keccak256(b"x" * 10_000)
    path = f"/v1/models/{fc.hash_hex(digest)}?round=1"
    # Unsigned: refused before the body is read.
    unsigned = httpx.put(server.url + path, content=b"x" * 100)
    assert unsigned.status_code == 401 and error_code(unsigned) == "missing_signature"
    # Over the limit, declared or streamed in chunks: 413 without buffering it.
    body = b"x" * 10_000
    headers = signed(alice, _scope(federation), "PUT", path, body)
    too_big = httpx.put(server.url + path, content=body, headers=headers)
    assert too_big.status_code == 413 and error_code(too_big) == "too_large"
    chunked = httpx.put(
        server.url + path,
        content=iter([body[:2048], body[2048:]]),
        headers=signed(alice, _scope(federation), "PUT", path, body),
    )
    assert chunked.status_code == 413
    # Within the limit but not attested: 422, and nothing stored.
    small = b"not a model"
    small_path = f"/v1/models/{fc.hash_hex(fc.keccak256(small))}?round=1"
    answer = httpx.put(
        server.url + small_path,
        content=small,
        headers=signed(alice, _scope(federation), "PUT", small_path, small),
    )
    assert answer.status_code == 422 and error_code(answer) == "not_attested"
    assert not list((tmp_path / "blobs" / "tmp").glob("*.part"))


def test_expired_nonces_are_purged(federation: Federation, tmp_path: Path) -> None:
    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    service = server.server.config.app.state.service  # type: ignore[attr-defined]
    with service.db.session() as s:
        s.add(NonceRecord(address=federation.accounts[0].address, nonce="0" * 32, expires_at=1))
        s.add(
            NonceRecord(
                address=federation.accounts[0].address,
                nonce="1" * 32,
                expires_at=int(time.time()) + 600,
            )
        )
    service.coordinator.purge_nonces()
    with service.db.session() as s:
        left = [r.nonce for r in s.query(NonceRecord).all()]
    assert left == ["1" * 32]


def test_unknown_routes_and_methods_answer_json(federation: Federation, tmp_path: Path) -> None:
    server = federation.serve(federation.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1))
    missing = httpx.get(server.url + "/v1/nope")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong = httpx.delete(server.url + "/v1/rounds/current")
    assert wrong.status_code == 405 and error_code(wrong) == "method_not_allowed"
