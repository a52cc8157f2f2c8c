"""Helpers shared by the routers."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.schemas import ErrorBody
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.storage.blobs import PendingBlob

__all__ = [
    "ERRORS",
    "blob_response",
    "parse_hash",
    "read_body",
    "receive_blob",
    "require_signature_headers",
]

#: OpenAPI documentation of the error body for the statuses a route can return.
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "malformed request, blob or model",
        401: "missing, invalid or stale signature",
        403: "sender not admitted or not allowed",
        404: "not found",
        409: "duplicate, round not open, or replayed nonce",
        413: "body too large",
        422: "commitment mismatch, wrong parameters or schema, not attested",
        503: "chain unreachable or not ready; retry",
    }.items()
}


def parse_hash(text: str, what: str = "hash") -> bytes:
    """A 0x-hex 32-byte hash from a path or query parameter; 400 otherwise."""
    try:
        return fc.hash_from_hex(text)
    except ValueError as exc:
        raise ApiError(400, "malformed_request", f"{what}: {exc}") from exc


def require_signature_headers(request: Request) -> None:
    """401 before reading a large body when the request is not signed at all."""
    for header in (fc.HEADER_ADDRESS, fc.HEADER_TIMESTAMP, fc.HEADER_NONCE, fc.HEADER_SIGNATURE):
        if header.lower() not in request.headers:
            raise ApiError(
                401, "missing_signature", f"missing header {header}; every write must be signed"
            )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes with 413."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "malformed_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise ApiError(413, "too_large", f"body of {declared} bytes exceeds {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise ApiError(413, "too_large", f"body exceeds {limit} bytes")
        parts.append(piece)
    return b"".join(parts)


async def receive_blob(
    request: Request, service: AggregatorService, limit: int, what: str
) -> tuple[PendingBlob, bytes]:
    """Stream a signed request's body to a temporary file while hashing it.

    Refuses an unsigned request (401) before reading the body, and more than ``limit`` bytes
    (413) without holding them; returns the pending blob and the body's keccak256. The caller
    must ``discard()`` the pending blob unless it moved it into the store.
    """
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ApiError(400, "malformed_request", "Content-Length is not a number")
    if declared is not None and int(declared) > limit:
        raise ApiError(413, "too_large", f"{what} of {declared} bytes exceeds {limit} bytes")
    require_signature_headers(request)
    pending = service.blobs.pending(limit)
    try:
        try:
            async for piece in request.stream():
                pending.write(piece)
        except OverflowError:
            raise ApiError(413, "too_large", f"{what} exceeds {limit} bytes") from None
        digest = await run_in_threadpool(pending.finish)
        if pending.size == 0:
            raise ApiError(400, "malformed_blob", f"empty body: the body must be the {what}")
    except BaseException:
        pending.discard()
        raise
    return pending, digest


def blob_response(
    service: AggregatorService, digest: bytes, headers: dict[str, str]
) -> StreamingResponse:
    """Stream a stored blob with its hash and any chain references in headers."""
    if not service.blobs.exists(digest):
        raise ApiError(404, "not_found", f"blob 0x{digest.hex()} is not stored")
    size = service.blobs.size(digest)
    return StreamingResponse(
        service.blobs.aiter_pieces(digest),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "X-Fedledger-Hash": "0x" + digest.hex(), **headers},
    )
