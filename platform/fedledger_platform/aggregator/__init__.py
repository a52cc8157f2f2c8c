"""The aggregator service: a FastAPI app that accepts signed encrypted updates, sums them
homomorphically without being able to decrypt them, and records rounds on chain."""

from fedledger_platform.aggregator.app import API_VERSION, build_service, create_app
from fedledger_platform.aggregator.intake import UpdateReceipt
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.aggregator.settings import (
    AggregatorSettings,
    RelaySettings,
    RoundSettings,
    load_settings,
)

__all__ = [
    "API_VERSION",
    "AggregatorService",
    "AggregatorSettings",
    "RelaySettings",
    "RoundSettings",
    "UpdateReceipt",
    "build_service",
    "create_app",
    "load_settings",
]
