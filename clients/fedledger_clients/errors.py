"""The participant's own refusal: what it finds the chain and the aggregator disagree on."""

from __future__ import annotations

from fedledger_platform.errors import FedledgerError

__all__ = ["ProtocolError"]


class ProtocolError(FedledgerError):
    """Something the chain and the aggregator disagree on: refuse to go on with it."""
