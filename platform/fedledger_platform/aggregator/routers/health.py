"""``/v1/health``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from fedledger_platform.aggregator.deps import ServiceDep
from fedledger_platform.aggregator.openapi import refusals
from fedledger_platform.aggregator.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthPublic,
    responses=refusals(chain=True),
    summary="Liveness and coordinator status",
)
async def health(service: ServiceDep) -> HealthPublic:
    """Whether the service runs, which round it is on and what it waits for."""
    current = await run_in_threadpool(service.ledger.current_round)
    coordinator = service.coordinator
    return HealthPublic(
        status="degraded" if coordinator.last_error else "ok",
        chain_id=service.chain.chain_id,
        current_round=current,
        note=coordinator.status_note,
        last_error=coordinator.last_error,
    )
