"""Dependency aliases, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fedledger_platform.aggregator.service import AggregatorService

__all__ = ["ServiceDep"]


def get_service(request: Request) -> AggregatorService:
    """The service of the running app."""
    service: AggregatorService = request.app.state.service
    return service


ServiceDep = Annotated[AggregatorService, Depends(get_service)]
