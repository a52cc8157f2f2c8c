"""Persistent state of the aggregator: a SQL database (SQLite or PostgreSQL) and a
content-addressed blob store on disk."""

from fedledger_platform.storage.blobs import BlobStore, BlobStoreError
from fedledger_platform.storage.db import Database
from fedledger_platform.storage.tables import (
    ModelRecord,
    NonceRecord,
    ParametersRecord,
    RoundRecord,
    SealedKeyRecord,
    UpdateRecord,
    latest_round,
)

__all__ = [
    "BlobStore",
    "BlobStoreError",
    "Database",
    "ModelRecord",
    "NonceRecord",
    "ParametersRecord",
    "RoundRecord",
    "SealedKeyRecord",
    "UpdateRecord",
    "latest_round",
]
