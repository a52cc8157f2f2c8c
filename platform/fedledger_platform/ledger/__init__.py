"""The ledger: connecting to a chain, the contract binding, deployment files, compilation."""

from fedledger_platform.ledger.binding import (
    AGGREGATOR_ROLE,
    AUDITOR_ROLE,
    OPERATOR_ROLE,
    Ledger,
    LedgerEvent,
    RoundInfo,
    TxResult,
)
from fedledger_platform.ledger.chain import EMBEDDED, Chain, connect, is_rpc_url
from fedledger_platform.ledger.deployment import Deployment

__all__ = [
    "AGGREGATOR_ROLE",
    "AUDITOR_ROLE",
    "EMBEDDED",
    "OPERATOR_ROLE",
    "Chain",
    "Deployment",
    "Ledger",
    "LedgerEvent",
    "RoundInfo",
    "TxResult",
    "connect",
    "is_rpc_url",
]
