"""``/v1/rounds/{n}/reveals``: surviving members' signed reveals of the mask seeds they share
with dropped members, and the public list of them (docs/protocol.md, §15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_crypto import masking as mk
from fedledger_platform.aggregator.deps import ServiceDep, SignedBlob, SignedUpload
from fedledger_platform.aggregator.openapi import refusals, signed_operation
from fedledger_platform.aggregator.routers.rounds import RoundNumber
from fedledger_platform.aggregator.schemas import RevealPublic, RevealsCreate, RevealsPublic
from fedledger_platform.protocol import rejections as r
from fedledger_platform.protocol.rejections import MalformedRequest
from fedledger_platform.storage import RevealRecord

router = APIRouter(prefix="/rounds", tags=["rounds"])

_MAX_REVEALS_BYTES = 1 << 20
# A JSON body: an empty one fails to parse (malformed_request) like any other bad JSON.
RevealUpload = Annotated[
    SignedUpload, Depends(SignedBlob("reveals", lambda _: _MAX_REVEALS_BYTES, refuse_empty=False))
]


def _parse(body: bytes, revealer: str) -> list[mk.Reveal]:
    try:
        listed = RevealsCreate.model_validate_json(body).reveals
        return [
            mk.Reveal(
                revealer,
                r.dropped,
                bytes.fromhex(r.point[2:]),
                bytes.fromhex(r.challenge[2:]),
                bytes.fromhex(r.response[2:]),
            )
            for r in listed
        ]
    except (ValidationError, fc.MaskingError) as exc:  # RevealError is a MaskingError
        raise MalformedRequest(f"reveals: {exc}") from exc


def _public(record: RevealRecord) -> RevealPublic:
    return RevealPublic(
        revealer=record.revealer,
        dropped=record.dropped,
        point="0x" + record.point.hex(),
        challenge="0x" + record.challenge.hex(),
        response="0x" + record.response.hex(),
        received_at=record.received_at,
    )


@router.post(
    "/{round_number}/reveals",
    status_code=201,
    response_model=list[RevealPublic],
    responses=refusals(
        r.NotFound,
        r.NotAdmitted,
        r.NotAllowed,
        r.RoundNotUnmasking,
        r.BadReveal,
        r.DuplicateUpdate,
        params=True,
        body=True,
        chain=True,
        ok={200: {"description": "these exact reveals were already stored"}},
    ),
    summary="Reveal the mask seeds shared with dropped members (surviving members only)",
    openapi_extra=signed_operation(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": RevealsCreate.model_json_schema()}},
        }
    ),
)
async def post_reveals(
    round_number: RoundNumber, upload: RevealUpload, response: Response, service: ServiceDep
) -> list[RevealPublic]:
    """Signed by a member whose update the round accepted, while the round is ``unmasking``:
    for each dropped mask neighbour, the point both derive their pair seed from, with a
    Chaum–Pedersen proof checked against the two keys registered on chain. All or none are
    stored; an identical repeat is answered with what is stored."""
    reveals = _parse(upload.read(), upload.sender.address)
    stored, new = await run_in_threadpool(
        service.unmasking.accept, upload.sender, round_number, reveals
    )
    response.status_code = 201 if new else 200
    return [_public(r) for r in stored]


@router.get(
    "/{round_number}/reveals",
    response_model=RevealsPublic,
    responses=refusals(r.NotFound, params=True),
    summary="A round's dropped members and the reveals of their mask seeds",
)
async def get_reveals(round_number: RoundNumber, service: ServiceDep) -> RevealsPublic:
    """Public: a revealed seed removes only the mask between a survivor and a member whose
    update is not in the sum (and is bound to this round). Auditors verify every reveal."""
    listing = await run_in_threadpool(service.unmasking.listing, round_number)
    return RevealsPublic(
        round=listing.round_number,
        phase=listing.phase,
        dropped=listing.dropped,
        reveals=[_public(r) for r in listing.reveals],
        reveals_hash=fc.hash_hex(listing.reveals_hash) if listing.reveals_hash else None,
    )
