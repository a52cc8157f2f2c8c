"""``/v1/rounds``: round state, encrypted update uploads, the aggregate, and individual updates
for auditors only."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.aggregator.deps import (
    LatestRoundDep,
    Participant,
    ServiceDep,
    Signer,
    UpdateUpload,
)
from fedledger_platform.aggregator.openapi import blob_ok, refusals, signed_operation
from fedledger_platform.aggregator.routers._common import blob_response, octet_stream_body
from fedledger_platform.aggregator.routers.round_views import round_view, rounds_view, updates_view
from fedledger_platform.aggregator.schemas import (
    TYPED_SIGNATURE_PATTERN,
    RoundPublic,
    UpdatePublic,
    UpdateReceiptPublic,
)
from fedledger_platform.protocol import (
    COMMITMENT_SIGNATURE_HEADER,
    RoundPhase,
    parse_position,
    position,
)
from fedledger_platform.protocol import rejections as r
from fedledger_platform.protocol.rejections import NotFound

router = APIRouter(prefix="/rounds", tags=["rounds"])
#: The database stores round numbers as INTEGER (32-bit on PostgreSQL): a larger number in a
#: request must be a 400, not a database error.
MAX_ROUND = 2**31 - 1
RoundNumber = Annotated[int, Path(ge=1, le=MAX_ROUND, description="round number, from 1")]
#: The longest a long-poll of ``GET /v1/rounds/current`` may wait (``wait_s``), in seconds.
MAX_WAIT_S = 30


@router.get("", response_model=list[RoundPublic], summary="Every round")
async def rounds(service: ServiceDep) -> list[RoundPublic]:
    """All rounds, oldest first."""
    return await run_in_threadpool(rounds_view, service.db)


@router.get(
    "/current",
    response_model=RoundPublic,
    responses=refusals(r.NotFound, params=True),
    summary="The latest round",
)
async def current_round(
    service: ServiceDep,
    latest_round: LatestRoundDep,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,10}:(none|open|unmasking|closing|closed|published|failed)$",
            description=(
                "long-poll: answer once the latest round has moved past `NUMBER:PHASE` (phases"
                " in order: open, unmasking, closing, closed, then published or failed; `0:none` is"
                " before the first round)"
            ),
        ),
    ] = None,
    wait_s: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description=(
                f"long-poll: wait at most this many seconds (0 to {MAX_WAIT_S}) for a change; "
                "the answer never comes later than that"
            ),
        ),
    ] = 0.0,
) -> RoundPublic:
    """The most recent round, whatever its phase.

    With ``after`` and ``wait_s``, the answer comes as soon as the latest round has moved past
    ``after``, or after ``wait_s`` seconds with the round as it is: clients learn of every
    change they wait for at once without polling. A client passes the ``number:phase`` it last
    saw to hear of any change, or a later one it expects (``3:closing`` after uploading to round
    3: woken when round 3 is closed or failed, not while it is being summed).
    """
    deadline = asyncio.get_running_loop().time() + wait_s
    wanted = position(*parse_position(after)) if after is not None else None
    while True:
        event = service.round_signal.current()  # taken before the read: no change is missed
        latest = await latest_round.get()
        now = position(latest.number, RoundPhase(latest.phase)) if latest else (0, 0)
        if wanted is None or now > wanted or event is None:
            break
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), remaining)
    if latest is None:
        raise NotFound(f"no round opened yet ({service.coordinator.status_note})")
    return latest


@router.get(
    "/{round_number}",
    response_model=RoundPublic,
    responses=refusals(r.NotFound, params=True),
    summary="One round",
)
async def get_round(round_number: RoundNumber, service: ServiceDep) -> RoundPublic:
    """A round by number."""
    return await run_in_threadpool(round_view, service.db, round_number)


@router.put(
    "/{round_number}/updates",
    status_code=201,
    response_model=UpdateReceiptPublic,
    responses=refusals(
        r.MalformedBlob,
        r.NotAdmitted,
        r.NotMember,
        r.RoundNotOpen,
        r.SeedsRevealed,
        r.DuplicateUpdate,
        r.CommitmentMismatch,
        r.BadTypedSignature,
        r.WrongParameters,
        r.WrongSchema,
        r.NotReady,
        r.BaseModelMissing,
        params=True,
        body=True,
        chain=True,
        ok={200: {"description": "this exact update was already accepted"}},
    ),
    summary="Upload an encrypted update",
    openapi_extra=signed_operation(**octet_stream_body(non_empty=True)),
)
async def upload_update(
    round_number: RoundNumber,
    upload: UpdateUpload,
    response: Response,
    service: ServiceDep,
    commitment_signature: Annotated[
        str | None,
        Header(
            alias=COMMITMENT_SIGNATURE_HEADER,
            pattern=TYPED_SIGNATURE_PATTERN,
            description="the participant's EIP-712 signature of `UpdateCommitment(round, "
            "keccak256(body))`, 65 bytes 0x-hex; the aggregator relays it to the ledger",
        ),
    ] = None,
) -> UpdateReceiptPublic:
    """The body is the encrypted update blob; the request is signed by the participant. Its
    commitment is the signed `UpdateCommitment` in the header (the aggregator relays it: the
    participant needs no ether) or, without the header, the participant's own on-chain
    commitment for the round, which keccak256 of the body must equal."""
    signature = bytes.fromhex(commitment_signature[2:]) if commitment_signature else None
    receipt, new = await run_in_threadpool(
        lambda: service.intake.accept(
            upload.sender,
            round_number=round_number,
            pending=upload.pending,
            digest=upload.digest,
            commitment_signature=signature,
        )
    )
    response.status_code = 201 if new else 200
    return UpdateReceiptPublic(
        round=receipt.round_number,
        participant=receipt.participant,
        update_hash=receipt.update_hash,
        size=receipt.size,
        received_at=receipt.received_at,
        new=new,
    )


@router.get(
    "/{round_number}/updates",
    response_model=list[UpdatePublic],
    responses=refusals(r.NotFound, params=True),
    summary="Metadata of a round's accepted updates",
)
async def list_updates(round_number: RoundNumber, service: ServiceDep) -> list[UpdatePublic]:
    """Who submitted which hash (public: the hashes are on chain anyway); not the bytes."""
    return await run_in_threadpool(updates_view, service.db, round_number)


@router.get(
    "/{round_number}/aggregate",
    response_class=StreamingResponse,
    responses=refusals(
        r.NotFound,
        params=True,
        ok=blob_ok("the aggregate blob", ("X-Fedledger-Round", "X-Fedledger-Tx")),
    ),
    summary="The encrypted aggregate of a closed round",
)
async def aggregate(round_number: RoundNumber, service: ServiceDep) -> StreamingResponse:
    """The homomorphic sum of the included updates; ``X-Fedledger-Hash`` is its keccak256,
    ``X-Fedledger-Tx`` the closeRound transaction that recorded it on chain."""
    record = await run_in_threadpool(round_view, service.db, round_number)
    if record.aggregate_hash is None:
        raise NotFound(f"round {round_number} has no aggregate yet ({record.phase})")
    return blob_response(
        service.blobs,
        fc.hash_from_hex(record.aggregate_hash),
        {"X-Fedledger-Round": str(round_number), "X-Fedledger-Tx": record.close_tx or ""},
    )


@router.get(
    "/{round_number}/updates/{participant}",
    response_class=StreamingResponse,
    responses=refusals(
        r.NotAllowed,
        r.NotFound,
        params=True,
        signed=True,
        chain=True,
        ok=blob_ok("the update blob", ("X-Fedledger-Round",)),
    ),
    summary="One participant's encrypted update (auditors only)",
    openapi_extra=signed_operation(),
)
async def update_blob(
    round_number: RoundNumber, participant: Participant, signer: Signer, service: ServiceDep
) -> StreamingResponse:
    """A signed GET by an account holding AUDITOR_ROLE on the ledger."""
    digest = await run_in_threadpool(
        service.intake.stored_update, signer, round_number, participant
    )
    return blob_response(service.blobs, digest, {"X-Fedledger-Round": str(round_number)})
