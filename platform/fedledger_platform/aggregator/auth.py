"""Request authentication: the signature headers of a request → its verified :class:`Sender`.

Each signature error of ``fedledger_crypto`` becomes the refusal of its type (no message is
searched); the nonce is only checked here, and used up by the transaction that accepts the
request (:mod:`fedledger_platform.aggregator.nonces`).
"""

from __future__ import annotations

from fastapi import Request

import fedledger_crypto as fc
from fedledger_crypto.errors import MissingSignatureError
from fedledger_platform.aggregator.nonces import Sender
from fedledger_platform.protocol.rejections import (
    BadSignature,
    MissingSignature,
    Rejection,
    ReplayedNonce,
    StaleRequest,
)
from fedledger_platform.storage import Database

__all__ = ["authenticate", "signed_path"]

#: The refusal of each signature error (a subclass by its nearest listed ancestor).
_REFUSALS: dict[type[fc.SignatureError], type[Rejection]] = {
    MissingSignatureError: MissingSignature,
    fc.StaleRequestError: StaleRequest,
    fc.ReplayedNonceError: ReplayedNonce,
    fc.SignatureError: BadSignature,
}


class _CheckOnly:
    """A NonceRegistry that only *checks*: the accepting transaction records the nonce."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def use(self, address: str, nonce: str, *, expires_at: float) -> bool:
        Sender(address, nonce, int(expires_at)).check_unused(self._db)  # raises when used
        return True


def signed_path(request: Request) -> str:
    """The path the client signed: path plus query string, exactly as sent."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def authenticate(
    request: Request,
    *,
    scope: fc.RequestScope,
    db: Database,
    window_s: int,
    body_hash: bytes | None = None,
) -> Sender:
    """Verify the signature headers over the request (an empty body unless ``body_hash``);
    refuses a missing, bad or stale signature and a used nonce."""
    headers = dict(request.headers.items())
    try:
        address = fc.verify_request(
            headers,
            method=request.method,
            path=signed_path(request),
            body_hash=body_hash,
            scope=scope,
            nonces=_CheckOnly(db),
            window_s=window_s,
        )
    except fc.SignatureError as exc:
        refusal = next(_REFUSALS[c] for c in type(exc).__mro__ if c in _REFUSALS)
        raise refusal(str(exc)) from exc
    timestamp = int(headers[fc.HEADER_TIMESTAMP.lower()])  # verified: Unix seconds
    return Sender(address, headers[fc.HEADER_NONCE.lower()], timestamp + window_s + 1)
