"""``/v1/federation`` and ``/v1/participants``: where the federation lives, its CKKS parameters,
and the admitted participants with their public keys (read from the chain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.deps import ParametersUpload, ServiceDep
from fedledger_platform.aggregator.openapi import refusals, signed_operation
from fedledger_platform.aggregator.routers._common import octet_stream_body
from fedledger_platform.aggregator.schemas import (
    TYPED_SIGNATURE_PATTERN,
    FederationPublic,
    ParticipantPublic,
)
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.protocol import PARAMS_SIGNATURE_HEADER
from fedledger_platform.protocol import rejections as r

router = APIRouter(tags=["federation"])


def _federation(service: AggregatorService) -> FederationPublic:
    ledger = service.ledger
    committed = ledger.encryption_params_hash()
    dealer = ledger.key_dealer()
    return FederationPublic(
        chain_id=service.chain.chain_id,
        ledger=ledger.address,
        token=ledger.token.address,
        params_id=service.params.id,
        parameters_hash=fc.hash_hex(service.parameters_hash),
        parameters_hash_on_chain=fc.hash_hex(committed) if any(committed) else None,
        key_dealer=None if int(dealer, 16) == 0 else dealer,
        participants=len(ledger.participants()),
        reward_per_update=str(ledger.reward_per_update()),
        quorum_bps=ledger.quorum_bps(),
        rounds_planned=service.settings.rounds.count,
        min_updates=service.settings.rounds.min_updates,
    )


@router.get(
    "/federation",
    response_model=FederationPublic,
    responses=refusals(chain=True),
    summary="Federation information",
)
async def federation(service: ServiceDep) -> FederationPublic:
    """Chain id, contract addresses, CKKS parameter set and hash, dealer, reward and quorum."""
    return await run_in_threadpool(_federation, service)


@router.get(
    "/federation/parameters",
    response_class=Response,
    responses={
        200: {
            "description": "the parameters-only context (TenSEAL serialization, no keys)",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "headers": {
                "X-Fedledger-Hash": {
                    "description": "keccak256 of the body; check it against the chain instead",
                    "schema": {"type": "string"},
                }
            },
        }
    },
    summary="The parameters-only CKKS context",
)
async def parameters(service: ServiceDep) -> Response:
    """The public parameters (no keys): enough to add ciphertexts, not to decrypt them.
    Check ``keccak256(body)`` against the ledger's ``encryptionParamsHash``."""
    return Response(
        service.parameters_bytes,
        media_type="application/octet-stream",
        headers={"X-Fedledger-Hash": fc.hash_hex(service.parameters_hash)},
    )


@router.put(
    "/federation/parameters",
    status_code=201,
    responses=refusals(
        r.NotAllowed,
        r.WrongParameters,
        r.CommitmentMismatch,
        r.BadTypedSignature,
        body=True,
        chain=True,
        ok={200: {"description": "already published"}},
    ),
    summary="The key dealer publishes the parameters-only context",
    openapi_extra=signed_operation(**octet_stream_body(non_empty=False)),
)
async def publish_parameters(
    upload: ParametersUpload,
    service: ServiceDep,
    response: Response,
    params_signature: Annotated[
        str | None,
        Header(
            alias=PARAMS_SIGNATURE_HEADER,
            pattern=TYPED_SIGNATURE_PATTERN,
            description="the key dealer's EIP-712 signature of `EncryptionParams(keccak256("
            "body))`, 65 bytes 0x-hex: relayed to commit the hash when none is on chain yet",
        ),
    ] = None,
) -> dict[str, str]:
    """Signed by the key dealer; the body must hash to the on-chain parameters hash — which
    the aggregator first commits from the dealer's signature in the header when the chain has
    none — and must not carry a secret key."""
    signature = bytes.fromhex(params_signature[2:]) if params_signature else None
    new = await run_in_threadpool(
        service.keys.publish_parameters, upload.sender, upload.read(), signature
    )
    response.status_code = 201 if new else 200
    return {"hash": fc.hash_hex(upload.digest)}


@router.get(
    "/participants",
    response_model=list[ParticipantPublic],
    responses=refusals(chain=True),
    summary="Admitted participants",
)
async def participants(service: ServiceDep) -> list[ParticipantPublic]:
    """Admitted participants with the public keys registered on chain."""
    members = await run_in_threadpool(service.keys.members)
    return [
        ParticipantPublic(
            address=m.address, public_key="0x" + m.public_key.hex(), has_sealed_key=m.has_sealed_key
        )
        for m in members
    ]
