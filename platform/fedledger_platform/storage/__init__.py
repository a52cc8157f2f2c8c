"""Persistent state of the aggregator: a SQL database (SQLite or PostgreSQL) and a
content-addressed blob store on disk; :mod:`~fedledger_platform.storage.queries` holds every
query the aggregator runs."""

from fedledger_platform.storage import queries
from fedledger_platform.storage.blobs import BlobStore, BlobStoreError
from fedledger_platform.storage.db import Database
from fedledger_platform.storage.queries import latest_round
from fedledger_platform.storage.tables import (
    AttestationRecord,
    DroppedRecord,
    ModelRecord,
    NonceRecord,
    ParametersRecord,
    RevealRecord,
    RoundRecord,
    SealedKeyRecord,
    UpdateRecord,
)

__all__ = [
    "AttestationRecord",
    "BlobStore",
    "BlobStoreError",
    "Database",
    "DroppedRecord",
    "ModelRecord",
    "NonceRecord",
    "ParametersRecord",
    "RevealRecord",
    "RoundRecord",
    "SealedKeyRecord",
    "UpdateRecord",
    "latest_round",
    "queries",
]
