"""``/v1/keys``: the secret context sealed by the key dealer to each participant.

The aggregator stores the sealed copies but can open none; each participant may read only its
own (a signed GET whose signer is the recipient).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from fedledger_platform.aggregator.deps import Recipient, SealedKeyUpload, ServiceDep, Signer
from fedledger_platform.aggregator.openapi import refusals, signed_operation
from fedledger_platform.aggregator.schemas import SealedKeyCreate, SealedKeyPublic
from fedledger_platform.protocol import rejections as r
from fedledger_platform.protocol.rejections import MalformedRequest

router = APIRouter(prefix="/keys", tags=["keys"])


@router.put(
    "/{recipient}",
    status_code=201,
    responses=refusals(
        r.NotAllowed,
        r.NotAdmitted,
        r.BadSealedKey,
        r.DuplicateUpdate,
        params=True,
        body=True,
        chain=True,
        ok={200: {"description": "this exact copy was already stored"}},
    ),
    summary="The key dealer uploads a sealed secret context",
    openapi_extra=signed_operation(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": SealedKeyCreate.model_json_schema()}},
        }
    ),
)
async def upload_sealed_key(
    recipient: Recipient, upload: SealedKeyUpload, response: Response, service: ServiceDep
) -> dict[str, str]:
    """Signed by the key dealer; the copy must carry the dealer's signature over it."""
    try:
        sealed = SealedKeyCreate.model_validate_json(upload.read())
    except ValueError as exc:
        raise MalformedRequest(f"body is not a sealed key: {exc}") from exc
    new = await run_in_threadpool(
        lambda: service.keys.store_sealed_key(
            upload.sender,
            recipient,
            ciphertext=sealed.ciphertext,
            dealer_signature=sealed.dealer_signature,
        )
    )
    response.status_code = 201 if new else 200
    return {"recipient": recipient}


@router.get(
    "/{recipient}",
    response_model=SealedKeyPublic,
    responses=refusals(r.NotAllowed, r.NotFound, params=True, signed=True),
    summary="A participant fetches its own sealed key",
    openapi_extra=signed_operation(),
)
async def fetch_sealed_key(
    recipient: Recipient, signer: Signer, service: ServiceDep
) -> SealedKeyPublic:
    """A signed GET whose signer must be the recipient."""
    record = await run_in_threadpool(service.keys.sealed_key, signer, recipient)
    return SealedKeyPublic(
        recipient=record.recipient,
        dealer=record.dealer,
        ciphertext="0x" + record.ciphertext.hex(),
        dealer_signature="0x" + record.dealer_signature.hex(),
        uploaded_at=record.uploaded_at,
    )
