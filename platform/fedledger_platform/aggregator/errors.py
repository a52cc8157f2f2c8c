"""API errors: every failure is a JSON body naming the cause, with the right status.

Body: ``{"error": {"status": 409, "code": "round_not_open", "message": "..."}}``. The parts of
the aggregator raise :class:`~fedledger_platform.protocol.rejections.Rejection` subclasses, one
per code; :data:`STATUS` is the one place that gives each its HTTP status:

| status | codes |
|---|---|
| 400 | ``malformed_request``, ``malformed_blob``, ``malformed_model`` |
| 401 | ``missing_signature``, ``bad_signature``, ``stale_request`` |
| 403 | ``not_admitted``, ``not_allowed``, ``not_member`` |
| 404 | ``not_found`` |
| 409 | ``duplicate``, ``round_not_open``, ``round_not_closed``, ``replayed_nonce``,
  ``round_not_unmasking``, ``seeds_revealed`` |
| 413 | ``too_large`` |
| 422 | ``commitment_mismatch``, ``wrong_parameters``, ``wrong_schema``, ``not_attested``,
  ``bad_sealed_key``, ``bad_reveal``, ``bad_typed_signature`` |
| 500 | ``internal_error`` (a bug: the server log has the traceback) |
| 502 | ``chain_error`` (the chain refused a read or transaction) |
| 503 | ``chain_unavailable``, ``not_ready``, ``base_model_missing`` (retry; ``Retry-After`` set) |
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fedledger_platform.errors import ChainUnavailableError, LedgerError
from fedledger_platform.protocol import rejections as r

__all__ = ["STATUS", "install_error_handlers", "status_of"]

#: The HTTP status of each refusal (a subclass answers with its nearest listed ancestor's).
STATUS: dict[type[r.Rejection], int] = {
    r.MalformedRequest: 400,
    r.MalformedBlob: 400,
    r.MalformedModel: 400,
    r.MissingSignature: 401,
    r.BadSignature: 401,
    r.StaleRequest: 401,
    r.NotAdmitted: 403,
    r.NotAllowed: 403,
    r.NotMember: 403,
    r.NotFound: 404,
    r.DuplicateUpdate: 409,
    r.RoundNotOpen: 409,
    r.RoundNotClosed: 409,
    r.ReplayedNonce: 409,
    r.RoundNotUnmasking: 409,
    r.SeedsRevealed: 409,
    r.TooLarge: 413,
    r.CommitmentMismatch: 422,
    r.WrongParameters: 422,
    r.WrongSchema: 422,
    r.NotAttested: 422,
    r.BadSealedKey: 422,
    r.BadReveal: 422,
    r.BadTypedSignature: 422,
    r.NotReady: 503,
}
_RETRY_AFTER = {"Retry-After": "2"}


def status_of(rejection: r.Rejection) -> int:
    """The HTTP status of ``rejection`` (500 for a refusal the table lacks: a bug)."""
    for cls in type(rejection).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _body(status: int, code: str, message: str) -> dict[str, dict[str, object]]:
    return {"error": {"status": status, "code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the JSON body; nothing escapes as an HTML page or a stack trace."""

    @app.exception_handler(r.Rejection)
    async def _rejected(_: Request, exc: r.Rejection) -> JSONResponse:
        status = status_of(exc)
        headers = _RETRY_AFTER if status == 503 else None
        return JSONResponse(_body(status, exc.code, exc.message), status, headers)

    @app.exception_handler(ChainUnavailableError)
    async def _chain_down(_: Request, exc: ChainUnavailableError) -> JSONResponse:
        return JSONResponse(
            _body(503, "chain_unavailable", f"the chain is unreachable, retry later: {exc}"),
            503,
            _RETRY_AFTER,
        )

    @app.exception_handler(LedgerError)
    async def _chain_error(_: Request, exc: LedgerError) -> JSONResponse:
        return JSONResponse(_body(502, "chain_error", f"the chain refused a request: {exc}"), 502)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback by Starlette; the client gets JSON, never an HTML page.
        return JSONResponse(
            _body(500, "internal_error", f"unexpected {type(exc).__name__}; see the server log"),
            500,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse(_body(400, "malformed_request", problems), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        if exc.status_code == 405:
            code = "method_not_allowed"
        # Starlette's headers carry what the status promises: `Allow` on a 405 (RFC 9110).
        return JSONResponse(
            _body(exc.status_code, code, str(exc.detail)), exc.status_code, exc.headers
        )
