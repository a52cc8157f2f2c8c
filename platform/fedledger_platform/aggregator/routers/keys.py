"""``/v1/keys``: the secret context sealed by the key dealer to each participant.

The aggregator stores the sealed copies but can open none; each participant may read only its
own (a signed GET whose signer is the recipient).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.aggregator.auth import Signer, authenticate
from fedledger_platform.aggregator.deps import ServiceDep
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.routers._common import ERRORS, read_body
from fedledger_platform.aggregator.schemas import SealedKeyCreate, SealedKeyPublic
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.storage import SealedKeyRecord

router = APIRouter(prefix="/keys", tags=["keys"])
_MAX_SEALED_BYTES = 4 << 20


def _address(text: str) -> str:
    if not Web3.is_address(text):
        raise ApiError(400, "malformed_request", f"{text!r} is not an Ethereum address")
    return Web3.to_checksum_address(text)


def _hex_bytes(text: str, what: str) -> bytes:
    body = text[2:] if text.startswith("0x") else text
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ApiError(400, "malformed_request", f"{what} is not hex") from None


def _store(
    service: AggregatorService, signer: Signer, recipient: str, sealed: SealedKeyCreate
) -> bool:
    dealer = service.ledger.key_dealer()
    if signer.address != dealer:
        raise ApiError(403, "not_allowed", f"only the key dealer ({dealer}) may upload sealed keys")
    if not service.ledger.is_participant(recipient):
        raise ApiError(403, "not_admitted", f"recipient {recipient} is not an admitted participant")
    copy = fc.SealedKey(
        recipient=recipient,
        ciphertext=_hex_bytes(sealed.ciphertext, "ciphertext"),
        dealer_signature=_hex_bytes(sealed.dealer_signature, "dealer_signature"),
    )
    # The aggregator cannot open the copy, but it checks the dealer's signature so that it never
    # stores (and participants never fetch) a copy the dealer did not make.
    try:
        recovered = fc.sealed_key_signer(copy, service.scope)
    except fc.SealingError as exc:
        raise ApiError(422, "bad_sealed_key", str(exc)) from exc
    if recovered != dealer:
        raise ApiError(422, "bad_sealed_key", "the dealer signature does not match this copy")
    try:
        with service.db.session() as s:
            existing = s.get(SealedKeyRecord, recipient)
            if existing is not None and existing.ciphertext == copy.ciphertext:
                return False
            if existing is not None:  # the dealer re-sealed (e.g. after re-admission)
                s.delete(existing)
                s.flush()
            s.add(
                SealedKeyRecord(
                    recipient=recipient,
                    ciphertext=copy.ciphertext,
                    dealer_signature=copy.dealer_signature,
                    dealer=dealer,
                    uploaded_at=int(time.time()),
                )
            )
            s.add(signer.nonce)
    except IntegrityError as exc:  # a concurrent upload for the same recipient, or a replay
        raise ApiError(409, "duplicate", f"a concurrent upload for {recipient} won") from exc
    return True


@router.put(
    "/{recipient}",
    status_code=201,
    responses={**ERRORS, 200: {"description": "this exact copy was already stored"}},
    summary="The key dealer uploads a sealed secret context",
)
async def upload_sealed_key(
    recipient: str, request: Request, response: Response, service: ServiceDep
) -> dict[str, str]:
    """Signed by the key dealer; the copy must carry the dealer's signature over it."""
    address = _address(recipient)
    body = await read_body(request, _MAX_SEALED_BYTES)
    try:
        sealed = SealedKeyCreate.model_validate_json(body)
    except ValueError as exc:
        raise ApiError(400, "malformed_request", f"body is not a sealed key: {exc}") from exc
    signer = await run_in_threadpool(authenticate, request, service, body=body)
    new = await run_in_threadpool(_store, service, signer, address, sealed)
    response.status_code = 201 if new else 200
    return {"recipient": address}


def _fetch(service: AggregatorService, signer: Signer, recipient: str) -> SealedKeyPublic:
    if signer.address != recipient:
        raise ApiError(403, "not_allowed", "a participant may read only its own sealed key")
    with service.db.session() as s:
        record = s.get(SealedKeyRecord, recipient)
    if record is None:
        raise ApiError(
            404, "not_found", f"no sealed key for {recipient} yet (the key dealer seals it)"
        )
    service.use_nonce(signer.nonce)
    return SealedKeyPublic(
        recipient=record.recipient,
        dealer=record.dealer,
        ciphertext="0x" + record.ciphertext.hex(),
        dealer_signature="0x" + record.dealer_signature.hex(),
        uploaded_at=record.uploaded_at,
    )


@router.get(
    "/{recipient}",
    response_model=SealedKeyPublic,
    responses=ERRORS,
    summary="A participant fetches its own sealed key",
)
async def fetch_sealed_key(
    recipient: str, request: Request, service: ServiceDep
) -> SealedKeyPublic:
    """A signed GET whose signer must be the recipient."""
    address = _address(recipient)
    signer = await run_in_threadpool(authenticate, request, service)
    return await run_in_threadpool(_fetch, service, signer, address)
