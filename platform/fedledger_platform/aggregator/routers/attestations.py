"""``/v1/rounds/{n}/attestations``: an included participant hands over its signed model
attestation, which the aggregator relays to the ledger in a batch (the participant needs no
ether); the answer asks the first attester of a hash to upload the model's bytes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.deps import ServiceDep, SignedBlob, SignedUpload
from fedledger_platform.aggregator.openapi import refusals, signed_operation
from fedledger_platform.aggregator.routers.rounds import RoundNumber
from fedledger_platform.aggregator.schemas import AttestationCreate, AttestationReceiptPublic
from fedledger_platform.protocol import rejections as r
from fedledger_platform.protocol.rejections import MalformedRequest

router = APIRouter(prefix="/rounds", tags=["rounds"])

_MAX_ATTESTATION_BYTES = 4096

#: A signed request whose body is an :class:`AttestationCreate` (streamed and hashed like every
#: signed body, then parsed whole: it is small).
AttestationUpload = Annotated[
    SignedUpload,
    # A JSON body: an empty one fails to parse (malformed_request) like any other bad JSON.
    Depends(SignedBlob("attestation", lambda _: _MAX_ATTESTATION_BYTES, refuse_empty=False)),
]


@router.post(
    "/{round_number}/attestations",
    status_code=201,
    response_model=AttestationReceiptPublic,
    responses=refusals(
        r.NotAdmitted,
        r.NotAllowed,
        r.RoundNotClosed,
        r.BadTypedSignature,
        r.DuplicateUpdate,
        params=True,
        body=True,
        chain=True,
        ok={200: {"description": "this exact attestation was already held"}},
    ),
    summary="Hand over a signed model attestation for relaying",
    openapi_extra=signed_operation(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": AttestationCreate.model_json_schema()}},
        }
    ),
)
async def attest(
    round_number: RoundNumber,
    upload: AttestationUpload,
    response: Response,
    service: ServiceDep,
) -> AttestationReceiptPublic:
    """Signed by an included participant of the closed (or published) round; the body carries
    the model hash it derived and its EIP-712 signature of `ModelAttestation(round,
    modelHash)`, which must recover to the request's signer. The aggregator relays it to the
    ledger; should it not be on chain in time, the participant attests directly."""
    try:
        body = AttestationCreate.model_validate_json(upload.read())
    except ValueError as exc:
        raise MalformedRequest(f"body is not an attestation: {exc}") from exc
    receipt, new = await run_in_threadpool(
        lambda: service.attestations.accept(
            upload.sender,
            round_number=round_number,
            model_hash=fc.hash_from_hex(body.model_hash),
            signature=bytes.fromhex(body.signature[2:]),
        )
    )
    response.status_code = 201 if new else 200
    return AttestationReceiptPublic(
        round=receipt.round_number,
        participant=receipt.participant,
        model_hash=receipt.model_hash,
        new=new,
        upload_model=receipt.upload_model,
    )
