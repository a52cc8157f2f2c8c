"""Request signing: what verifies, and every tampering that must not."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

import fedledger_crypto as fc

SCOPE = fc.RequestScope(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
BODY = b"encrypted update bytes"
PATH = "/v1/rounds/3/updates"


def _signed(**overrides: object) -> tuple[dict[str, str], str]:
    account = Account.create()
    headers = fc.sign_request(
        account, method="PUT", path=PATH, body=BODY, scope=SCOPE, timestamp=int(time.time())
    )
    return headers, account.address


def _verify(headers: dict[str, str], **kw: object) -> str:
    args: dict[str, object] = {
        "method": "PUT",
        "path": PATH,
        "body": BODY,
        "scope": SCOPE,
        "nonces": fc.MemoryNonceRegistry(),
    }
    args.update(kw)
    return fc.verify_request(headers, **args)  # type: ignore[arg-type]


def test_valid_signature_returns_the_signer() -> None:
    headers, address = _signed()
    assert _verify(headers) == address


def test_header_names_are_case_insensitive() -> None:
    headers, address = _signed()
    assert _verify({k.lower(): v for k, v in headers.items()}) == address


@pytest.mark.parametrize(
    "change",
    [
        {"body": b"encrypted update bytez"},
        {"path": "/v1/rounds/4/updates"},
        {"method": "POST"},
        {"scope": fc.RequestScope(1, SCOPE.ledger_address)},
        {"scope": fc.RequestScope(31337, "0x" + "11" * 20)},
    ],
    ids=["body", "path", "method", "chain-id", "ledger"],
)
def test_tampered_request_fails(change: dict[str, object]) -> None:
    headers, _ = _signed()
    with pytest.raises(fc.SignatureError, match="does not match"):
        _verify(headers, **change)


def test_tampered_timestamp_fails() -> None:
    headers, _ = _signed()
    headers[fc.HEADER_TIMESTAMP] = str(int(headers[fc.HEADER_TIMESTAMP]) + 1)
    with pytest.raises(fc.SignatureError, match="does not match"):
        _verify(headers)


def test_signature_by_another_key_fails() -> None:
    headers, _ = _signed()
    headers[fc.HEADER_ADDRESS] = Account.create().address
    with pytest.raises(fc.SignatureError, match="another key"):
        _verify(headers)


def test_stale_request_fails() -> None:
    account = Account.create()
    headers = fc.sign_request(
        account, method="PUT", path=PATH, body=BODY, scope=SCOPE, timestamp=int(time.time()) - 301
    )
    with pytest.raises(fc.StaleRequestError, match="window"):
        _verify(headers)


def test_replayed_nonce_fails_and_forgeries_do_not_burn_nonces() -> None:
    headers, _ = _signed()
    registry = fc.MemoryNonceRegistry()
    forged = dict(headers, **{fc.HEADER_SIGNATURE: "0x" + "11" * 65})
    with pytest.raises(fc.SignatureError):
        _verify(forged, nonces=registry)
    _verify(headers, nonces=registry)
    with pytest.raises(fc.ReplayedNonceError):
        _verify(headers, nonces=registry)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (fc.HEADER_ADDRESS, "alice"),
        (fc.HEADER_TIMESTAMP, "yesterday"),
        (fc.HEADER_NONCE, "xyz"),
        (fc.HEADER_SIGNATURE, "0x1234"),
    ],
)
def test_malformed_headers_are_named(header: str, value: str) -> None:
    headers, _ = _signed()
    headers[header] = value
    with pytest.raises(fc.SignatureError, match=header):
        _verify(headers)


def test_missing_header_is_named() -> None:
    headers, _ = _signed()
    del headers[fc.HEADER_NONCE]
    with pytest.raises(fc.SignatureError, match="missing header X-Fedledger-Nonce"):
        _verify(headers)
