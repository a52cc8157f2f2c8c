"""Refusals → HTTP: every protocol refusal has its status in the one table, and a signature
error's code follows from its type (not from its message)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_account import Account
from starlette.requests import Request
from wire import signed

import fedledger_crypto as fc
from fedledger_platform.aggregator.auth import authenticate
from fedledger_platform.aggregator.errors import STATUS, status_of
from fedledger_platform.protocol import rejections
from fedledger_platform.storage import Database, NonceRecord

SCOPE = fc.RequestScope(31337, "0x" + "ab" * 20)
PATH = "/v1/keys/0x" + "cd" * 20


def _refusals() -> list[type[rejections.Rejection]]:
    named = (getattr(rejections, name) for name in rejections.__all__)
    return [
        c for c in named if issubclass(c, rejections.Rejection) and c is not rejections.Rejection
    ]


def test_every_refusal_has_a_status_and_its_own_code() -> None:
    refusals = _refusals()
    statuses = {cls.code: status_of(cls("why")) for cls in refusals}
    assert len(statuses) == len(refusals)  # one code per refusal
    assert all(400 <= s < 500 or s == 503 for s in statuses.values()), statuses
    assert statuses["base_model_missing"] == statuses["not_ready"] == 503  # retried by clients
    assert set(STATUS) <= set(refusals)


def _request(headers: dict[str, str]) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'auth.db'}")
    database.migrate()
    return database


def _refusal(headers: dict[str, str], db: Database) -> str:
    with pytest.raises(rejections.Rejection) as raised:
        authenticate(_request(headers), scope=SCOPE, db=db, window_s=300)
    return raised.value.code


def test_signature_errors_map_by_type(db: Database) -> None:
    # Prepare
    account = Account.create()
    good = signed(account, SCOPE, "GET", PATH)
    unsigned = dict(good)
    del unsigned[fc.HEADER_SIGNATURE]
    odd_address = good | {fc.HEADER_ADDRESS: "missing header"}  # a bad value, not a missing one
    stale = signed(account, SCOPE, "GET", PATH, timestamp=int(time.time()) - 3_600)
    other_path = signed(account, SCOPE, "GET", PATH + "x")

    # Execute / Assert
    assert _refusal(unsigned, db) == "missing_signature"
    assert _refusal(odd_address, db) == "bad_signature"
    assert _refusal(other_path, db) == "bad_signature"
    assert _refusal(stale, db) == "stale_request"
    sender = authenticate(_request(good), scope=SCOPE, db=db, window_s=300)
    assert sender.address == account.address
    assert sender.expires_at == int(good[fc.HEADER_TIMESTAMP]) + 301
    with db.session() as s:  # checked, not used up: the accepting transaction records it
        assert s.query(NonceRecord).count() == 0
        s.add(
            NonceRecord(address=account.address, nonce=sender.nonce, expires_at=sender.expires_at)
        )
    assert _refusal(good, db) == "replayed_nonce"
