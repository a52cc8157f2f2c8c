"""What the routers share: the documented error responses and streaming a stored blob."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

import fedledger_crypto as fc
from fedledger_platform.aggregator.schemas import ErrorBody
from fedledger_platform.protocol.rejections import NotFound
from fedledger_platform.storage import BlobStore

__all__ = ["BLOB", "ERRORS", "OCTET_STREAM_BODY", "blob_response"]

#: OpenAPI documentation of the error body for the statuses a route can return.
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "malformed request, blob or model",
        401: "missing, invalid or stale signature",
        403: "sender not admitted or not allowed",
        404: "not found",
        409: "duplicate, round not open (or not closed), or replayed nonce",
        413: "body too large",
        422: "commitment mismatch, wrong parameters or schema, not attested, bad typed signature",
        503: "chain unreachable or not ready; retry",
    }.items()
}

#: The responses of a route that streams a stored blob.
BLOB: dict[int | str, dict[str, object]] = {
    **ERRORS,
    200: {"content": {"application/octet-stream": {}}},
}

#: OpenAPI documentation of a raw binary request body (streamed, never parsed by FastAPI).
OCTET_STREAM_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def blob_response(blobs: BlobStore, digest: bytes, headers: dict[str, str]) -> StreamingResponse:
    """Stream a stored blob with its hash and any chain references in headers."""
    if not blobs.exists(digest):
        raise NotFound(f"blob {fc.hash_hex(digest)} is not stored")
    return StreamingResponse(
        blobs.aiter_pieces(digest),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(blobs.size(digest)),
            "X-Fedledger-Hash": fc.hash_hex(digest),
            **headers,
        },
    )
