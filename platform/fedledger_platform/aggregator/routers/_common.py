"""What the routers share: the raw request body of an upload and streaming a stored blob."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

import fedledger_crypto as fc
from fedledger_platform.protocol.rejections import NotFound
from fedledger_platform.storage import BlobStore

__all__ = ["OCTET_STREAM_BODY", "blob_response"]

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
