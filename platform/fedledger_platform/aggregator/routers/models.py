"""``/v1/models``: published global models (safetensors bytes) for consumers, and uploads of
model bytes whose hash participants attested on chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.deps import ModelHash, ModelUpload, ServiceDep
from fedledger_platform.aggregator.openapi import blob_ok, refusals, signed_operation
from fedledger_platform.aggregator.routers._common import blob_response, octet_stream_body
from fedledger_platform.aggregator.routers.rounds import MAX_ROUND
from fedledger_platform.aggregator.schemas import ModelPublic
from fedledger_platform.protocol import rejections as r

router = APIRouter(prefix="/models", tags=["models"])


@router.get(
    "/latest",
    response_class=StreamingResponse,
    responses=refusals(
        r.NotFound,
        ok=blob_ok(
            "the latest published model (safetensors)",
            ("X-Fedledger-Round", "X-Fedledger-Ledger", "X-Fedledger-Chain-Id", "X-Fedledger-Tx"),
        ),
    ),
    summary="The latest published global model",
)
async def latest_model(service: ServiceDep) -> StreamingResponse:
    """safetensors bytes of the most recent model published on chain. Headers:
    ``X-Fedledger-Hash`` (keccak256, equal to the on-chain published hash),
    ``X-Fedledger-Round``, ``X-Fedledger-Ledger`` and ``X-Fedledger-Chain-Id``."""
    record = await run_in_threadpool(service.models.latest_published)
    assert record.published_model_hash is not None
    return blob_response(
        service.blobs,
        fc.hash_from_hex(record.published_model_hash),
        {
            "X-Fedledger-Round": str(record.number),
            "X-Fedledger-Ledger": service.ledger.address,
            "X-Fedledger-Chain-Id": str(service.chain.chain_id),
            "X-Fedledger-Tx": record.close_tx or "",
        },
    )


@router.get(
    "/{model_hash}",
    response_class=StreamingResponse,
    responses=refusals(
        r.NotFound, params=True, ok=blob_ok("the model (safetensors)", ("X-Fedledger-Round",))
    ),
    summary="A stored model by hash",
)
async def model(model_hash: ModelHash, service: ServiceDep) -> StreamingResponse:
    """The initial model or any model stored after attestation, by keccak256."""
    record = await run_in_threadpool(service.models.model, model_hash)
    return blob_response(service.blobs, model_hash, {"X-Fedledger-Round": str(record.round_number)})


@router.get(
    "/{model_hash}/info",
    response_model=ModelPublic,
    responses=refusals(r.NotFound, params=True),
    summary="Model metadata",
)
async def model_info(model_hash: ModelHash, service: ServiceDep) -> ModelPublic:
    """Where a stored model comes from and whether it is published."""
    record, published = await run_in_threadpool(service.models.info, model_hash)
    return ModelPublic(
        hash=record.hash, round=record.round_number, size=record.size, published=published
    )


@router.put(
    "/{model_hash}",
    status_code=201,
    responses=refusals(
        r.MalformedBlob,
        r.MalformedModel,
        r.NotAdmitted,
        r.CommitmentMismatch,
        r.NotAttested,
        params=True,
        body=True,
        chain=True,
        ok={200: {"description": "already stored"}},
    ),
    summary="Upload the bytes of an attested model",
    openapi_extra=signed_operation(**octet_stream_body(non_empty=True)),
)
async def upload_model(
    model_hash: ModelHash,
    round_number: Annotated[
        int, Query(alias="round", ge=1, le=MAX_ROUND, description="the round attested")
    ],
    upload: ModelUpload,
    response: Response,
    service: ServiceDep,
) -> dict[str, str]:
    """Signed by an admitted participant; accepted only when keccak256 of the body is the path's
    hash and that hash is attested on chain for ``round``."""
    new = await run_in_threadpool(
        lambda: service.models.accept_upload(
            upload.sender,
            model_hash=model_hash,
            round_number=round_number,
            body=upload.path,
            body_hash=upload.digest,
        )
    )
    response.status_code = 201 if new else 200
    return {"hash": fc.hash_hex(model_hash)}
