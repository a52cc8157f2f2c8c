"""Request authentication: signature headers → signer address, with nonce and role checks."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

import fedledger_crypto as fc
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.storage import NonceRecord

__all__ = ["Signer", "authenticate", "signed_path"]


@dataclass(frozen=True)
class Signer:
    """The verified sender of a request and the nonce row to store if it is accepted."""

    address: str
    nonce: NonceRecord


class _CheckOnly:
    """A NonceRegistry that only *checks*: the accepting transaction records the nonce."""

    def __init__(self, service: AggregatorService) -> None:
        self._service = service

    def use(self, address: str, nonce: str, *, expires_at: float) -> bool:
        self._service.check_nonce(address, nonce)  # raises 409 when used
        return True


def signed_path(request: Request) -> str:
    """The path the client signed: path plus query string, exactly as sent."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def authenticate(
    request: Request,
    service: AggregatorService,
    *,
    body: bytes = b"",
    body_hash: bytes | None = None,
) -> Signer:
    """Verify the signature headers; 401 for a bad or missing signature, 409 for a replay."""
    headers = {k: v for k, v in request.headers.items()}
    try:
        address = fc.verify_request(
            headers,
            method=request.method,
            path=signed_path(request),
            body=body,
            body_hash=body_hash,
            scope=service.scope,
            nonces=_CheckOnly(service),
            window_s=service.settings.signature_window_s,
        )
    except fc.StaleRequestError as exc:
        raise ApiError(401, "stale_request", str(exc)) from exc
    except fc.ReplayedNonceError as exc:
        raise ApiError(409, "replayed_nonce", str(exc)) from exc
    except fc.SignatureError as exc:
        code = "missing_signature" if "missing header" in str(exc) else "bad_signature"
        raise ApiError(401, code, str(exc)) from exc
    nonce = headers.get(fc.HEADER_NONCE.lower(), "")
    timestamp = int(headers.get(fc.HEADER_TIMESTAMP.lower(), time.time()))
    return Signer(
        address=address,
        nonce=service.nonce_record(address, nonce, timestamp, service.settings.signature_window_s),
    )
