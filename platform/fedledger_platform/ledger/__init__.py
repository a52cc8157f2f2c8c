"""The ledger: connecting to a chain, the contract binding, relayed messages, deployment files,
compilation."""

from fedledger_platform.ledger.binding import (
    AGGREGATOR_ROLE,
    AUDITOR_ROLE,
    OPERATOR_ROLE,
    RELAYER_ROLE,
    Ledger,
)
from fedledger_platform.ledger.chain import EMBEDDED, Chain, connect, is_rpc_url
from fedledger_platform.ledger.deployment import Deployment
from fedledger_platform.ledger.membership import Membership, RoundMembers
from fedledger_platform.ledger.relay import (
    LedgerDomain,
    SignatureFormatError,
    SignedItem,
    recover_signer,
    sign_encryption_params,
    sign_model_attestation,
    sign_update_commitment,
)
from fedledger_platform.ledger.results import (
    LedgerEvent,
    MaskingConfig,
    RejectedItem,
    RelayResult,
    RoundInfo,
    TxResult,
)

__all__ = [
    "AGGREGATOR_ROLE",
    "AUDITOR_ROLE",
    "EMBEDDED",
    "OPERATOR_ROLE",
    "RELAYER_ROLE",
    "Chain",
    "Deployment",
    "Ledger",
    "LedgerDomain",
    "LedgerEvent",
    "MaskingConfig",
    "Membership",
    "RejectedItem",
    "RelayResult",
    "RoundInfo",
    "RoundMembers",
    "SignatureFormatError",
    "SignedItem",
    "TxResult",
    "connect",
    "is_rpc_url",
    "recover_signer",
    "sign_encryption_params",
    "sign_model_attestation",
    "sign_update_commitment",
]
