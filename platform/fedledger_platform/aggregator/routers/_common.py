"""What the routers share: the raw request body of an upload and streaming a stored blob."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

import fedledger_crypto as fc
from fedledger_platform.protocol.rejections import NotFound
from fedledger_platform.storage import BlobStore

__all__ = ["blob_response", "octet_stream_body"]


def octet_stream_body(*, non_empty: bool) -> dict[str, object]:
    """OpenAPI documentation of a raw binary request body (streamed, never parsed by FastAPI);
    ``non_empty``: an empty body is refused (400) before the signature is checked."""
    schema: dict[str, object] = {"type": "string", "format": "binary"}
    if non_empty:
        schema["minLength"] = 1
    return {
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": schema}},
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
