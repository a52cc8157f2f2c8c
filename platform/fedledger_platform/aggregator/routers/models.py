"""``/v1/models``: published global models (safetensors bytes) for consumers, and uploads of
model bytes whose hash participants attested on chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.auth import Signer, authenticate
from fedledger_platform.aggregator.deps import ServiceDep
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.routers._common import (
    ERRORS,
    blob_response,
    parse_hash,
    receive_blob,
)
from fedledger_platform.aggregator.routers.rounds import MAX_ROUND
from fedledger_platform.aggregator.schemas import ModelPublic
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import ModelRecord, RoundRecord
from fedledger_platform.storage.blobs import PendingBlob

router = APIRouter(prefix="/models", tags=["models"])
_MAX_MODEL_BYTES = 1 << 30


def _latest(service: AggregatorService) -> tuple[RoundRecord, bytes]:
    with service.db.session() as s:
        records = s.scalars(
            select(RoundRecord)
            .where(RoundRecord.phase == RoundPhase.PUBLISHED)
            .order_by(RoundRecord.number.desc())
        ).all()
    for record in records:
        assert record.published_model_hash is not None
        digest = fc.hash_from_hex(record.published_model_hash)
        if service.blobs.exists(digest):
            return record, digest
    raise ApiError(404, "not_found", "no published model has been stored yet")


@router.get(
    "/latest",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    summary="The latest published global model",
)
async def latest_model(service: ServiceDep) -> StreamingResponse:
    """safetensors bytes of the most recent model published on chain. Headers:
    ``X-Fedledger-Hash`` (keccak256, equal to the on-chain published hash),
    ``X-Fedledger-Round``, ``X-Fedledger-Ledger`` and ``X-Fedledger-Chain-Id``."""
    record, digest = await run_in_threadpool(_latest, service)
    return blob_response(
        service,
        digest,
        {
            "X-Fedledger-Round": str(record.number),
            "X-Fedledger-Ledger": service.ledger.address,
            "X-Fedledger-Chain-Id": str(service.chain.chain_id),
            "X-Fedledger-Tx": record.close_tx or "",
        },
    )


def _model(service: AggregatorService, digest: bytes) -> ModelRecord:
    with service.db.session() as s:
        record = s.get(ModelRecord, fc.hash_hex(digest))
    if record is None:
        raise ApiError(404, "not_found", f"model {fc.hash_hex(digest)} is not stored")
    return record


@router.get(
    "/{model_hash}",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    summary="A stored model by hash",
)
async def model(model_hash: str, service: ServiceDep) -> StreamingResponse:
    """The initial model or any model stored after attestation, by keccak256."""
    digest = parse_hash(model_hash, "model hash")
    record = await run_in_threadpool(_model, service, digest)
    return blob_response(service, digest, {"X-Fedledger-Round": str(record.round_number)})


@router.get(
    "/{model_hash}/info", response_model=ModelPublic, responses=ERRORS, summary="Model metadata"
)
async def model_info(model_hash: str, service: ServiceDep) -> ModelPublic:
    """Where a stored model comes from and whether it is published."""
    digest = parse_hash(model_hash, "model hash")
    record = await run_in_threadpool(_model, service, digest)
    with service.db.session() as s:
        published = (
            s.scalars(
                select(RoundRecord.number)
                .where(RoundRecord.published_model_hash == record.hash)
                .limit(1)
            ).first()
            is not None
        )
    return ModelPublic(
        hash=record.hash, round=record.round_number, size=record.size, published=published
    )


def _store(
    service: AggregatorService,
    signer: Signer,
    *,
    digest: bytes,
    round_number: int,
    pending: PendingBlob,
    body_hash: bytes,
) -> bool:
    if not service.is_admitted(signer.address):
        raise ApiError(403, "not_admitted", f"{signer.address} is not an admitted participant")
    if body_hash != digest:
        raise ApiError(
            422,
            "commitment_mismatch",
            f"keccak256 of the body is {fc.hash_hex(body_hash)}, not {fc.hash_hex(digest)}",
        )
    if service.ledger.attestation_count(round_number, digest) < 1:
        raise ApiError(
            422,
            "not_attested",
            f"no included participant attested {fc.hash_hex(digest)} for round {round_number}",
        )
    body = pending.path.read_bytes()  # authenticated, hash-checked and attested: now parse it
    try:
        _, new = service.store_model(
            body,
            round_number=round_number,
            uploaded_by=signer.address,
            nonce=signer.nonce,
            digest=body_hash,
        )
    except IntegrityError as exc:
        raise ApiError(409, "replayed_nonce", "the nonce was used concurrently") from exc
    return new


@router.put(
    "/{model_hash}",
    status_code=201,
    responses={**ERRORS, 200: {"description": "already stored"}},
    summary="Upload the bytes of an attested model",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_model(
    model_hash: str,
    request: Request,
    response: Response,
    service: ServiceDep,
    round_number: Annotated[
        int, Query(alias="round", ge=1, le=MAX_ROUND, description="the round attested")
    ],
) -> dict[str, str]:
    """Signed by an admitted participant; accepted only when keccak256 of the body is the path's
    hash and that hash is attested on chain for ``round``."""
    digest = parse_hash(model_hash, "model hash")
    limit = min(service.settings.max_upload_bytes, _MAX_MODEL_BYTES)
    pending, body_hash = await receive_blob(request, service, limit, "model")
    try:
        signer = await run_in_threadpool(authenticate, request, service, body_hash=body_hash)
        new = await run_in_threadpool(
            lambda: _store(
                service,
                signer,
                digest=digest,
                round_number=round_number,
                pending=pending,
                body_hash=body_hash,
            )
        )
    finally:
        pending.discard()
    response.status_code = 201 if new else 200
    return {"hash": fc.hash_hex(digest)}
