"""``/v1/federation`` and ``/v1/participants``: where the federation lives, its CKKS parameters,
and the admitted participants with their public keys (read from the chain)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.auth import Signer, authenticate
from fedledger_platform.aggregator.deps import ServiceDep
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.routers._common import ERRORS, read_body
from fedledger_platform.aggregator.schemas import FederationPublic, ParticipantPublic
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.storage import ParametersRecord, SealedKeyRecord

router = APIRouter(tags=["federation"])
ZERO = bytes(20)


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


@router.get("/federation", response_model=FederationPublic, summary="Federation information")
async def federation(service: ServiceDep) -> FederationPublic:
    """Chain id, contract addresses, CKKS parameter set and hash, dealer, reward and quorum."""
    return await run_in_threadpool(_federation, service)


@router.get(
    "/federation/parameters",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
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


def _publish_parameters(service: AggregatorService, signer: Signer, body: bytes) -> bool:
    if signer.address != service.ledger.key_dealer():
        raise ApiError(
            403, "not_allowed", f"only the key dealer may publish parameters ({signer.address})"
        )
    try:
        fc.load_parameters_context(body, service.params)
    except fc.ContextError as exc:
        raise ApiError(422, "wrong_parameters", str(exc)) from exc
    digest = fc.keccak256(body)
    if body != service.parameters_bytes:
        raise ApiError(422, "wrong_parameters", "not the canonical parameters of this federation")
    if service.ledger.encryption_params_hash() != digest:
        raise ApiError(
            422, "commitment_mismatch", "keccak256 of the parameters differs from the on-chain hash"
        )
    try:
        with service.db.session() as s:
            if s.get(ParametersRecord, 1) is not None:
                return False
            s.add(
                ParametersRecord(
                    id=1,
                    params_id=service.params.id,
                    data=body,
                    hash=fc.hash_hex(digest),
                    published_by=signer.address,
                    published_at=int(time.time()),
                )
            )
            s.add(signer.nonce)
    except IntegrityError:  # published concurrently (the same canonical bytes), or a replay
        with service.db.session() as s:
            if s.get(ParametersRecord, 1) is None:
                raise ApiError(409, "replayed_nonce", "the nonce was used concurrently") from None
        return False
    return True


@router.put(
    "/federation/parameters",
    status_code=201,
    responses={**ERRORS, 200: {"description": "already published"}},
    summary="The key dealer publishes the parameters-only context",
)
async def publish_parameters(
    request: Request, service: ServiceDep, response: Response
) -> dict[str, str]:
    """Signed by the key dealer; the body must hash to the on-chain parameters hash and must
    not carry a secret key."""
    body = await read_body(request, 1 << 20)
    signer = await run_in_threadpool(authenticate, request, service, body=body)
    new = await run_in_threadpool(_publish_parameters, service, signer, body)
    response.status_code = 201 if new else 200
    return {"hash": fc.hash_hex(fc.keccak256(body))}


def _participants(service: AggregatorService) -> list[ParticipantPublic]:
    with service.db.session() as s:
        sealed = set(s.scalars(select(SealedKeyRecord.recipient)).all())
    return [
        ParticipantPublic(
            address=address,
            public_key="0x" + service.ledger.participant_public_key(address).hex(),
            has_sealed_key=address in sealed,
        )
        for address in service.ledger.participants()
    ]


@router.get(
    "/participants", response_model=list[ParticipantPublic], summary="Admitted participants"
)
async def participants(service: ServiceDep) -> list[ParticipantPublic]:
    """Admitted participants with the public keys registered on chain."""
    return await run_in_threadpool(_participants, service)
