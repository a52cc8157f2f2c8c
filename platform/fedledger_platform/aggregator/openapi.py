"""The OpenAPI description of the REST API beyond what FastAPI infers from the routes.

- the signature headers as four ``apiKey`` security schemes required together, and as header
  parameters of every signed operation (with the formats ``verify_request`` enforces);
- the error responses of each operation, generated from the typed refusals it can answer with
  (``fedledger_platform.protocol.rejections``): per status, a body schema whose ``code`` is the
  enum of exactly those codes, and one example per code;
- the response headers of the byte-serving operations.

A route lists the refusals of its own work; :func:`refusals` adds those of the dependencies it
declares (path and query parameters, a signature, a signed body, chain reads).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import fedledger_crypto as fc
from fedledger_platform.aggregator.errors import STATUS
from fedledger_platform.protocol import rejections as r

__all__ = [
    "ADDRESS_PATTERN",
    "CHAIN_ERROR",
    "CHAIN_UNAVAILABLE",
    "HASH_PATTERN",
    "SECURITY_SCHEMES",
    "blob_ok",
    "install_openapi",
    "refusals",
    "signed_operation",
]

#: An Ethereum address in a path: 0x and 40 hex digits, any letter case (no checksum check).
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
#: A keccak256 digest in a path: 0x and 64 hex digits, any letter case.
HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"


class _Code:
    """An error code the REST layer answers with that is not a protocol refusal."""

    def __init__(self, code: str, status: int, doc: str) -> None:
        self.code = code
        self.status = status
        self.__doc__ = doc


#: The chain refused a read or a transaction (502).
CHAIN_ERROR = _Code("chain_error", 502, "The chain refused a read or a transaction.")
#: The chain did not answer (503, with ``Retry-After``).
CHAIN_UNAVAILABLE = _Code("chain_unavailable", 503, "The chain is unreachable; retry later.")

Refusal = type[r.Rejection] | _Code

_SIGNATURE: tuple[Refusal, ...] = (
    r.MissingSignature,
    r.BadSignature,
    r.StaleRequest,
    r.ReplayedNonce,
)
_CHAIN: tuple[Refusal, ...] = (CHAIN_ERROR, CHAIN_UNAVAILABLE)

_SCHEME_NAMES = {
    fc.HEADER_ADDRESS: "fedledgerAddress",
    fc.HEADER_TIMESTAMP: "fedledgerTimestamp",
    fc.HEADER_NONCE: "fedledgerNonce",
    fc.HEADER_SIGNATURE: "fedledgerSignature",
}
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    fc.HEADER_ADDRESS: {
        "type": "string",
        "pattern": ADDRESS_PATTERN,
        "description": "the signer's Ethereum address (any letter case)",
        "example": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
    },
    fc.HEADER_TIMESTAMP: {
        "type": "string",
        "pattern": r"^[0-9]{1,12}$",
        "description": (
            "Unix seconds at signing, decimal ASCII digits; refused outside "
            "±signature_window_s (300 s by default) of the server clock"
        ),
        "example": "1700000000",
    },
    fc.HEADER_NONCE: {
        "type": "string",
        "pattern": r"^[0-9a-f]{32}$",
        "description": "32 lowercase hex digits, never reused by the same signer",
        "example": "00112233445566778899aabbccddeeff",
    },
    fc.HEADER_SIGNATURE: {
        "type": "string",
        "pattern": r"^0x[0-9a-fA-F]{130}$",
        "description": (
            "EIP-191 (personal_sign) signature, r‖s‖v, over the canonical request "
            "(docs/protocol.md, Request signing)"
        ),
        "example": "0x" + "11" * 64 + "1b",
    },
}

#: The four signature headers as security schemes (an operation requires all four together).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    _SCHEME_NAMES[header]: {
        "type": "apiKey",
        "in": "header",
        "name": header,
        "description": schema["description"],
    }
    for header, schema in _HEADER_SCHEMAS.items()
}


def signed_operation(**extra: Any) -> dict[str, Any]:
    """``openapi_extra`` of a signed operation: the security requirement and the header
    parameters, merged with ``extra`` (e.g. a raw request body)."""
    return {
        "security": [{name: [] for name in _SCHEME_NAMES.values()}],
        "parameters": [
            {
                "name": header,
                "in": "header",
                "required": True,
                "description": schema["description"],
                "schema": {k: v for k, v in schema.items() if k != "description"},
            }
            for header, schema in _HEADER_SCHEMAS.items()
        ],
        **extra,
    }


def _status(refusal: Refusal) -> int:
    if isinstance(refusal, _Code):
        return refusal.status
    for cls in refusal.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    raise ValueError(f"{refusal.__name__} has no HTTP status in aggregator.errors.STATUS")


def _doc(refusal: Refusal) -> str:
    return " ".join((refusal.__doc__ or "").split())


def _error_response(status: int, found: list[Refusal]) -> dict[str, Any]:
    codes = sorted({f.code for f in found})
    response: dict[str, Any] = {
        "description": "; ".join(f"`{f.code}`: {_doc(f)}" for f in found),
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "code", "message"],
                            "properties": {
                                "status": {"type": "integer", "enum": [status]},
                                "code": {"type": "string", "enum": codes},
                                "message": {
                                    "type": "string",
                                    "description": "the cause and, where there is one, the fix",
                                },
                            },
                        }
                    },
                },
                "examples": {
                    f.code: {
                        "summary": _doc(f),
                        "value": {"error": {"status": status, "code": f.code, "message": _doc(f)}},
                    }
                    for f in found
                },
            }
        },
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "schema": {"type": "string", "pattern": r"^[0-9]+$"},
            }
        }
    return response


def refusals(
    *own: Refusal,
    params: bool = False,
    signed: bool = False,
    body: bool = False,
    chain: bool = False,
    ok: dict[int | str, dict[str, Any]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation: ``ok`` (its success responses) plus one error
    response per status, listing the refusals of its own work (``own``) and of its
    dependencies: validated path or query ``params`` (``malformed_request``), a ``signed``
    request, a signed ``body`` (its size, Content-Length and emptiness), ``chain`` reads."""
    found: list[Refusal] = list(own)
    if params or body:
        found.append(r.MalformedRequest)
    if body:
        found.append(r.TooLarge)
    if signed or body:
        found.extend(_SIGNATURE)
    if chain:
        found.extend(_CHAIN)
    by_status: dict[int, list[Refusal]] = {}
    for refusal in found:
        group = by_status.setdefault(_status(refusal), [])
        if all(f.code != refusal.code for f in group):
            group.append(refusal)
    responses: dict[int | str, dict[str, Any]] = dict(ok or {})
    for status in sorted(by_status):
        responses[status] = _error_response(status, by_status[status])
    return responses


def _header(description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {"description": description, "schema": schema}


#: The response headers of the byte-serving operations, by name.
BLOB_HEADERS: dict[str, dict[str, Any]] = {
    "X-Fedledger-Hash": _header(
        "keccak256 of the body, 0x-hex; informative only: verify the bytes against the chain",
        r"^0x[0-9a-f]{64}$",
    ),
    "X-Fedledger-Round": _header("the round the bytes belong to", r"^[0-9]+$"),
    "X-Fedledger-Tx": _header("the transaction that recorded the hash on chain (may be empty)"),
    "X-Fedledger-Ledger": _header("the ledger contract's address"),
    "X-Fedledger-Chain-Id": _header("the chain id", r"^[0-9]+$"),
}


def blob_ok(description: str, headers: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    """The 200 response of an operation that streams stored bytes with ``headers``."""
    return {
        200: {
            "description": description,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "headers": {name: BLOB_HEADERS[name] for name in ("X-Fedledger-Hash", *headers)},
        }
    }


def install_openapi(app: FastAPI, *, description: str) -> None:
    """Serve the generated schema with the security schemes added to its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
