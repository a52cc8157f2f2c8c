"""Requests on the wire for the aggregator's bad-input and crash tests: signed headers built
by hand (so that tests can sign one thing and send another), error codes, and byte-exact
snapshots of the aggregator's stored state (every table's rows, every blob file's hash)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from sqlalchemy import MetaData, create_engine, select

import fedledger_crypto as fc

__all__ = ["StateSnapshot", "error_code", "signed", "snapshot_state"]


def signed(
    account: LocalAccount,
    scope: fc.RequestScope,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers of ``method path`` with ``body`` (path includes the query)."""
    return fc.sign_request(
        account,
        method=method,
        path=path,
        body=body,
        scope=scope,
        timestamp=timestamp,
        nonce=nonce,
    )


def error_code(response: httpx.Response) -> str | None:
    """The ``error.code`` of a JSON error body (``None`` for anything else)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None


StateSnapshot = dict[str, Any]


def snapshot_state(database_url: str, blob_dir: Path) -> StateSnapshot:
    """Every row of every table (sorted) and every file under the blob store with its sha256.

    Two snapshots compare equal exactly when the stored state is byte-for-byte the same.
    """
    engine = create_engine(database_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        tables: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                rows = conn.execute(select(table)).all()
                tables[name] = sorted((tuple(r) for r in rows), key=repr)
    finally:
        engine.dispose()
    files = {
        str(path.relative_to(blob_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(blob_dir.rglob("*"))
        if path.is_file()
    }
    directories = sorted(str(p.relative_to(blob_dir)) for p in blob_dir.rglob("*") if p.is_dir())
    return {"tables": tables, "files": files, "directories": directories}
