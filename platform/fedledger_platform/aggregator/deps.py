"""Dependencies of the routes, as ``Annotated`` aliases so that route signatures read like prose.

``Signer`` is a verified signed request without a body; ``UpdateUpload`` and its siblings are a
signed request whose body was streamed to a pending blob — the one path every signed upload
takes: the declared size refused (413) and the signature headers required (401) before the body
is read, the body streamed to disk up to the limit while its keccak256 is computed, then the
signature verified over that hash. The nonce is checked here and used up by the transaction
that accepts the request.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.auth import authenticate
from fedledger_platform.aggregator.nonces import Sender
from fedledger_platform.aggregator.openapi import ADDRESS_PATTERN, HASH_PATTERN
from fedledger_platform.aggregator.routers.round_views import LatestRoundCache
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.aggregator.settings import AggregatorSettings
from fedledger_platform.protocol.rejections import (
    MalformedBlob,
    MalformedRequest,
    MissingSignature,
    TooLarge,
)
from fedledger_platform.storage.blobs import PendingBlob

__all__ = [
    "MAX_MODEL_BYTES",
    "LatestRoundDep",
    "ModelHash",
    "ModelUpload",
    "ParametersUpload",
    "Participant",
    "Recipient",
    "SealedKeyUpload",
    "ServiceDep",
    "SignedBlob",
    "SignedUpload",
    "Signer",
    "UpdateUpload",
    "parse_address",
]

MAX_MODEL_BYTES = 1 << 30
_MAX_PARAMETERS_BYTES = 1 << 20
_MAX_SEALED_KEY_BYTES = 4 << 20


# Dependencies that never block are coroutines: FastAPI runs a plain function in a worker
# thread, a hop every request would pay for nothing.


async def _service(request: Request) -> AggregatorService:
    service: AggregatorService = request.app.state.service
    return service


async def _latest_round(request: Request) -> LatestRoundCache:
    cache: LatestRoundCache = request.app.state.latest_round
    return cache


ServiceDep = Annotated[AggregatorService, Depends(_service)]
LatestRoundDep = Annotated[LatestRoundCache, Depends(_latest_round)]


# ---------------------------------------------------------------------- path parameters


def _path_text(pattern: str, description: str) -> Any:
    """A path parameter documented with ``pattern`` and checked by the dependency itself, so
    that a bad one is refused at once, before the signature or any body is read."""
    return Path(description=description, json_schema_extra={"pattern": pattern})


def parse_address(text: str) -> str:
    """The checksummed form of an Ethereum address in a request; refused otherwise.

    The documented pattern (0x and 40 hex digits, any letter case) is the whole rule: a
    mixed-case address is not refused for its EIP-55 checksum.
    """
    if not re.fullmatch(ADDRESS_PATTERN, text):
        raise MalformedRequest(f"{text!r} is not an Ethereum address (0x and 40 hex digits)")
    return to_checksum_address(text)


async def _recipient(
    recipient: Annotated[str, _path_text(ADDRESS_PATTERN, "the recipient's address")],
) -> str:
    return parse_address(recipient)


async def _participant(
    participant: Annotated[str, _path_text(ADDRESS_PATTERN, "the participant's address")],
) -> str:
    return parse_address(participant)


async def _model_hash(
    model_hash: Annotated[str, _path_text(HASH_PATTERN, "keccak256 of the model's bytes")],
) -> bytes:
    if not re.fullmatch(HASH_PATTERN, model_hash):
        raise MalformedRequest(f"model hash {model_hash!r} is not 0x and 64 hex digits")
    return fc.hash_from_hex(model_hash)


#: Addresses in the path (checksummed; refused before the signature or any body is read).
Recipient = Annotated[str, Depends(_recipient)]
Participant = Annotated[str, Depends(_participant)]
#: A model's keccak256 in the path (refused before any body is read).
ModelHash = Annotated[bytes, Depends(_model_hash)]


# ---------------------------------------------------------------------- signed requests


def _authenticate(
    request: Request, service: AggregatorService, body_hash: bytes | None = None
) -> Sender:
    return authenticate(
        request,
        scope=service.scope,
        db=service.db,
        window_s=service.settings.signature_window_s,
        body_hash=body_hash,
    )


async def _signer(request: Request, service: ServiceDep) -> Sender:
    return await run_in_threadpool(_authenticate, request, service)


#: The verified sender of a signed request without a body (a signed GET).
Signer = Annotated[Sender, Depends(_signer)]


@dataclass(frozen=True)
class SignedUpload:
    """A signed request's body, on disk, with its keccak256 and its verified sender."""

    sender: Sender
    pending: PendingBlob
    digest: bytes

    @property
    def path(self) -> FilePath:
        """The file holding the body."""
        return self.pending.path

    def read(self) -> bytes:
        """The body's bytes (for the small bodies that are parsed whole)."""
        return self.pending.path.read_bytes()


class SignedBlob:
    """The dependency that receives a signed body (see the module docstring).

    ``what`` names the body in refusals; ``limit`` is its size limit under the settings;
    ``refuse_empty``: an empty body is refused before its signature is checked.
    """

    def __init__(
        self,
        what: str,
        limit: Callable[[AggregatorSettings], int],
        *,
        refuse_empty: bool = True,
    ) -> None:
        self.what = what
        self.limit = limit
        self.refuse_empty = refuse_empty

    async def __call__(self, request: Request, service: ServiceDep) -> AsyncIterator[SignedUpload]:
        """Yield the received upload; its pending blob is deleted after the response unless
        the request moved it into the store."""
        limit = self.limit(service.settings)
        declared = request.headers.get("content-length")
        if declared is not None and not declared.isdigit():
            raise MalformedRequest("Content-Length is not a number")
        if declared is not None and int(declared) > limit:
            raise TooLarge(f"{self.what} of {declared} bytes exceeds {limit} bytes")
        for header in (
            fc.HEADER_ADDRESS,
            fc.HEADER_TIMESTAMP,
            fc.HEADER_NONCE,
            fc.HEADER_SIGNATURE,
        ):
            if header.lower() not in request.headers:
                raise MissingSignature(f"missing header {header}; every write must be signed")
        pending = service.blobs.pending(limit)
        try:
            try:
                async for piece in request.stream():
                    pending.write(piece)
            except OverflowError:
                raise TooLarge(f"{self.what} exceeds {limit} bytes") from None
            digest = await run_in_threadpool(pending.finish)
            if self.refuse_empty and pending.size == 0:
                raise MalformedBlob(f"empty body: the body must be the {self.what}")
            sender = await run_in_threadpool(_authenticate, request, service, digest)
            yield SignedUpload(sender, pending, digest)
        finally:
            pending.discard()  # a no-op once the blob moved into the store


UpdateUpload = Annotated[
    SignedUpload, Depends(SignedBlob("update blob", lambda s: s.max_upload_bytes))
]
ModelUpload = Annotated[
    SignedUpload,
    Depends(SignedBlob("model", lambda s: min(s.max_upload_bytes, MAX_MODEL_BYTES))),
]
ParametersUpload = Annotated[
    SignedUpload,
    Depends(SignedBlob("parameters", lambda _: _MAX_PARAMETERS_BYTES, refuse_empty=False)),
]
SealedKeyUpload = Annotated[
    SignedUpload,
    Depends(SignedBlob("sealed key", lambda _: _MAX_SEALED_KEY_BYTES, refuse_empty=False)),
]
