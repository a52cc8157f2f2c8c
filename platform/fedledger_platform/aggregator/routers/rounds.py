"""``/v1/rounds``: round state, encrypted update uploads, the aggregate, and individual updates
for auditors only."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.aggregator.auth import authenticate
from fedledger_platform.aggregator.deps import ServiceDep
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.routers._common import (
    ERRORS,
    blob_response,
    receive_blob,
)
from fedledger_platform.aggregator.schemas import RoundPublic, UpdatePublic, UpdateReceiptPublic
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.ledger import AUDITOR_ROLE
from fedledger_platform.protocol import RoundPhase, parse_position, position
from fedledger_platform.storage import RoundRecord, UpdateRecord, latest_round

router = APIRouter(prefix="/rounds", tags=["rounds"])
#: The database stores round numbers as INTEGER (32-bit on PostgreSQL): a larger number in a
#: request must be a 400, not a database error.
MAX_ROUND = 2**31 - 1
RoundNumber = Annotated[int, Path(ge=1, le=MAX_ROUND, description="round number, from 1")]


def _participants(session: Session, number: int | None = None) -> dict[int, list[str]]:
    """Accepted participants by round, in address order: of round ``number``, or of every
    round in one query."""
    query = select(UpdateRecord.round_number, UpdateRecord.participant).order_by(
        UpdateRecord.round_number, UpdateRecord.participant
    )
    if number is not None:
        query = query.where(UpdateRecord.round_number == number)
    by_round: dict[int, list[str]] = {}
    for round_number, participant in session.execute(query):
        by_round.setdefault(round_number, []).append(participant)
    return by_round


def _public(record: RoundRecord, updates: list[str]) -> RoundPublic:
    return RoundPublic(
        number=record.number,
        phase=record.phase,
        base_model_hash=record.base_model_hash,
        deadline=record.deadline,
        min_updates=record.min_updates,
        accepted=len(updates),
        participants=list(updates),
        aggregate_hash=record.aggregate_hash,
        published_model_hash=record.published_model_hash,
        failure_reason=record.failure_reason,
        open_tx=record.open_tx,
        close_tx=record.close_tx,
        close_gas=record.close_gas,
    )


def _round(service: AggregatorService, number: int | None) -> RoundPublic:
    with service.db.session() as s:
        if number is None:
            record = latest_round(s)
            if record is None:
                raise ApiError(404, "not_found", f"no round opened yet ({service.status_note})")
        else:
            record = s.get(RoundRecord, number)
            if record is None:
                raise ApiError(404, "not_found", f"round {number} does not exist")
        return _public(record, _participants(s, record.number).get(record.number, []))


def _rounds(service: AggregatorService) -> list[RoundPublic]:
    with service.db.session() as s:
        records = s.scalars(select(RoundRecord).order_by(RoundRecord.number)).all()
        participants = _participants(s)
        return [_public(r, participants.get(r.number, [])) for r in records]


@router.get("", response_model=list[RoundPublic], summary="Every round")
async def rounds(service: ServiceDep) -> list[RoundPublic]:
    """All rounds, oldest first."""
    return await run_in_threadpool(_rounds, service)


_LATEST_TABLES = (RoundRecord.__tablename__, UpdateRecord.__tablename__)


def _read_latest_round(service: AggregatorService, version: int) -> RoundPublic | None:
    """Read the latest round and keep it as the answer for database generation ``version``
    (unless a write landed meanwhile)."""
    try:
        view: RoundPublic | None = _round(service, None)
    except ApiError:
        view = None
    if service.db.generation(*_LATEST_TABLES) == version:
        service.latest_round_view = (version, view)
    return view


def _failed(future: asyncio.Future[object]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


async def _latest_round(service: AggregatorService) -> RoundPublic | None:
    """The latest round, ``None`` before the first. Every waiting client asks at each phase
    change, so the answer is kept until the rounds or updates tables are written again; an
    unchanged answer needs neither the database nor a worker thread, and the clients that ask
    while it is being read wait for that one read."""
    version = service.db.generation(*_LATEST_TABLES)
    cached = service.latest_round_view
    if cached is not None and cached[0] == version:
        kept: RoundPublic | None = cached[1]
        return kept
    reading = service.latest_round_read
    if reading is None or reading[0] != version or _failed(reading[1]):
        task = asyncio.ensure_future(run_in_threadpool(_read_latest_round, service, version))
        reading = service.latest_round_read = (version, task)
    # Shielded: a caller that goes away does not cancel the read the others wait for.
    view: RoundPublic | None = await asyncio.shield(reading[1])
    return view


@router.get("/current", response_model=RoundPublic, responses=ERRORS, summary="The latest round")
async def current_round(
    service: ServiceDep,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,10}:(none|open|closing|closed|published|failed)$",
            description=(
                "long-poll: answer once the latest round has moved past `NUMBER:PHASE` (phases"
                " in order: open, closing, closed, then published or failed; `0:none` is"
                " before the first round)"
            ),
        ),
    ] = None,
    wait_s: Annotated[
        float, Query(ge=0, le=30, description="long-poll: wait at most this long for a change")
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
        latest = await _latest_round(service)
        now = position(latest.number, RoundPhase(latest.phase)) if latest else (0, 0)
        if wanted is None or now > wanted or event is None:
            break
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), remaining)
    if latest is None:
        raise ApiError(404, "not_found", f"no round opened yet ({service.status_note})")
    return latest


@router.get("/{round_number}", response_model=RoundPublic, responses=ERRORS, summary="One round")
async def get_round(round_number: RoundNumber, service: ServiceDep) -> RoundPublic:
    """A round by number."""
    return await run_in_threadpool(_round, service, round_number)


@router.put(
    "/{round_number}/updates",
    status_code=201,
    response_model=UpdateReceiptPublic,
    responses={**ERRORS, 200: {"description": "this exact update was already accepted"}},
    summary="Upload an encrypted update",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_update(
    round_number: RoundNumber, request: Request, response: Response, service: ServiceDep
) -> UpdateReceiptPublic:
    """The body is the encrypted update blob; the request is signed by the participant, and
    keccak256 of the body must equal the participant's on-chain commitment for the round."""
    pending, digest = await receive_blob(
        request, service, service.settings.max_upload_bytes, "update blob"
    )
    try:
        signer = await run_in_threadpool(authenticate, request, service, body_hash=digest)
        try:
            receipt, new = await run_in_threadpool(
                lambda: service.accept_update(
                    round_number=round_number,
                    participant=signer.address,
                    pending=pending,
                    digest=digest,
                    nonce=signer.nonce,
                )
            )
        except IntegrityError as exc:
            raise ApiError(409, "replayed_nonce", "the nonce was used concurrently") from exc
    finally:
        pending.discard()  # a no-op once the blob moved into the store
    response.status_code = 201 if new else 200
    return UpdateReceiptPublic(
        round=receipt.round_number,
        participant=receipt.participant,
        update_hash=receipt.update_hash,
        size=receipt.size,
        received_at=receipt.received_at,
        new=new,
    )


def _updates(service: AggregatorService, number: int) -> list[UpdatePublic]:
    with service.db.session() as s:
        if s.get(RoundRecord, number) is None:
            raise ApiError(404, "not_found", f"round {number} does not exist")
        records = s.scalars(
            select(UpdateRecord)
            .where(UpdateRecord.round_number == number)
            .order_by(UpdateRecord.participant)
        ).all()
    return [
        UpdatePublic(
            participant=r.participant,
            update_hash=r.blob_hash,
            size=r.size,
            received_at=r.received_at,
        )
        for r in records
    ]


@router.get(
    "/{round_number}/updates",
    response_model=list[UpdatePublic],
    responses=ERRORS,
    summary="Metadata of a round's accepted updates",
)
async def list_updates(round_number: RoundNumber, service: ServiceDep) -> list[UpdatePublic]:
    """Who submitted which hash (public: the hashes are on chain anyway); not the bytes."""
    return await run_in_threadpool(_updates, service, round_number)


@router.get(
    "/{round_number}/aggregate",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    summary="The encrypted aggregate of a closed round",
)
async def aggregate(round_number: RoundNumber, service: ServiceDep) -> StreamingResponse:
    """The homomorphic sum of the included updates; ``X-Fedledger-Hash`` is its keccak256,
    ``X-Fedledger-Tx`` the closeRound transaction that recorded it on chain."""
    record = await run_in_threadpool(_round, service, round_number)
    if record.aggregate_hash is None:
        raise ApiError(
            404, "not_found", f"round {round_number} has no aggregate yet ({record.phase})"
        )
    return blob_response(
        service,
        fc.hash_from_hex(record.aggregate_hash),
        {"X-Fedledger-Round": str(round_number), "X-Fedledger-Tx": record.close_tx or ""},
    )


def _auditor_blob(
    service: AggregatorService, request: Request, number: int, participant: str
) -> bytes:
    signer = authenticate(request, service)
    if not service.ledger.has_role(AUDITOR_ROLE, signer.address):
        raise ApiError(
            403,
            "not_allowed",
            "individual updates are served to auditors only (AUDITOR_ROLE on the ledger); "
            "participants share the CKKS key and must never see each other's updates",
        )
    with service.db.session() as s:
        record = s.get(UpdateRecord, (number, participant))
    if record is None:
        raise ApiError(404, "not_found", f"no update from {participant} in round {number}")
    service.use_nonce(signer.nonce)  # a captured auditor request cannot be replayed
    return fc.hash_from_hex(record.blob_hash)


@router.get(
    "/{round_number}/updates/{participant}",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    summary="One participant's encrypted update (auditors only)",
)
async def update_blob(
    round_number: RoundNumber, participant: str, request: Request, service: ServiceDep
) -> StreamingResponse:
    """A signed GET by an account holding AUDITOR_ROLE on the ledger."""
    if not Web3.is_address(participant):
        raise ApiError(400, "malformed_request", f"{participant!r} is not an Ethereum address")
    address = Web3.to_checksum_address(participant)
    digest = await run_in_threadpool(_auditor_blob, service, request, round_number, address)
    return blob_response(service, digest, {"X-Fedledger-Round": str(round_number)})
