"""A typed client of the aggregator's REST API, for participants, auditors and consumers.

Mutating requests (and the GETs that need an identity) are signed with the caller's account
(``fedledger_crypto.signing``). Errors come back as :class:`AggregatorError` with the server's
status and code; an unreachable server or a 503 is :class:`AggregatorUnavailableError`, which
callers retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_crypto import masking as mk
from fedledger_platform.errors import FedledgerError
from fedledger_platform.protocol import (
    COMMITMENT_SIGNATURE_HEADER,
    PARAMS_SIGNATURE_HEADER,
    RoundPhase,
)

__all__ = [
    "AggregatorClient",
    "AggregatorError",
    "AggregatorUnavailableError",
    "Blob",
    "ServedReveals",
]


class AggregatorError(FedledgerError):
    """The aggregator answered with an error (``status``, ``code``, ``message``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"aggregator answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AggregatorUnavailableError(AggregatorError):
    """The aggregator is unreachable, or answered 503; retrying later may succeed."""


@dataclass(frozen=True)
class Blob:
    """Bytes served by the aggregator, with the hash and chain references from its headers."""

    data: bytes
    hash: bytes
    round_number: int | None
    tx: str | None
    hash_header: str | None = None  # X-Fedledger-Hash as served: a claim, never evidence

    def verify(self, expected: bytes) -> None:
        """Raise ``ValueError`` unless keccak256 of the bytes equals ``expected``."""
        actual = fc.keccak256(self.data)
        if actual != expected:
            raise ValueError(
                f"served bytes hash to {fc.hash_hex(actual)}, "
                f"the chain says {fc.hash_hex(expected)}"
            )


@dataclass(frozen=True)
class ServedReveals:
    """``GET /v1/rounds/{n}/reveals``: the dropped members and their reveals, as served (an
    auditor verifies each; a reveal that does not parse is listed in ``malformed``)."""

    round_number: int
    phase: str
    dropped: list[str]
    reveals: list[mk.Reveal]
    reveals_hash: bytes | None
    malformed: list[str]


def _reveal_json(reveal: mk.Reveal) -> dict[str, str]:
    return {
        "dropped": reveal.dropped,
        "point": "0x" + reveal.point.hex(),
        "challenge": "0x" + reveal.challenge.hex(),
        "response": "0x" + reveal.response.hex(),
    }


def _reveal_of(item: dict[str, Any]) -> mk.Reveal:
    return mk.Reveal(
        str(item["revealer"]),
        str(item["dropped"]),
        bytes.fromhex(str(item["point"])[2:]),
        bytes.fromhex(str(item["challenge"])[2:]),
        bytes.fromhex(str(item["response"])[2:]),
    )


class AggregatorClient:
    """HTTP client of one aggregator. Thread-safe (httpx clients are)."""

    def __init__(
        self,
        base_url: str,
        *,
        account: LocalAccount | None = None,
        scope: fc.RequestScope | None = None,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self._scope = scope
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AggregatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    @property
    def scope(self) -> fc.RequestScope:
        """Chain id and ledger address signatures are bound to (asked once from the server)."""
        if self._scope is None:
            info = self.federation()
            self._scope = fc.RequestScope(int(info["chain_id"]), str(info["ledger"]))
        return self._scope

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        signed: bool = False,
        params: dict[str, Any] | None = None,
        content_type: str = "application/octet-stream",
        body_hash: bytes | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = httpx.URL(path, params=params)
        headers: dict[str, str] = dict(extra_headers or {})
        if body:
            headers["Content-Type"] = content_type
        if signed:
            if self.account is None:
                raise FedledgerError(f"{method} {path} must be signed: give the client an account")
            target = url.path + (f"?{url.query.decode()}" if url.query else "")
            headers.update(
                fc.sign_request(
                    self.account,
                    method=method,
                    path=target,
                    body=body,
                    scope=self.scope,
                    body_hash=body_hash,
                )
            )
        try:
            response = self._http.request(method, url, content=body or None, headers=headers)
        except httpx.TransportError as exc:
            raise AggregatorUnavailableError(0, "unreachable", f"{self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                status, code, message = (
                    int(error["status"]),
                    str(error["code"]),
                    str(error["message"]),
                )
            except (ValueError, KeyError, TypeError):
                status, code, message = response.status_code, "http_error", response.text[:500]
            cls = AggregatorUnavailableError if status == 503 else AggregatorError
            raise cls(status, code, message)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _blob(self, path: str, *, signed: bool = False) -> Blob:
        response = self._request("GET", path, signed=signed)
        header = response.headers.get("x-fedledger-hash")
        round_header = response.headers.get("x-fedledger-round")
        return Blob(
            data=response.content,
            hash=fc.hash_from_hex(header) if header else fc.keccak256(response.content),
            round_number=int(round_header) if round_header else None,
            tx=response.headers.get("x-fedledger-tx") or None,
            hash_header=header,
        )

    # ------------------------------------------------------------------ federation

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``."""
        result: dict[str, Any] = self._json("GET", "/v1/health")
        return result

    def federation(self) -> dict[str, Any]:
        """``GET /v1/federation``."""
        result: dict[str, Any] = self._json("GET", "/v1/federation")
        return result

    def parameters(self) -> bytes:
        """``GET /v1/federation/parameters``: the parameters-only context."""
        return self._request("GET", "/v1/federation/parameters").content

    def publish_parameters(self, data: bytes, *, params_signature: bytes | None = None) -> None:
        """``PUT /v1/federation/parameters`` (key dealer); with ``params_signature`` (its
        signed ``EncryptionParams``, 65 bytes) the aggregator first commits the hash on chain
        for it when none is."""
        headers = (
            {PARAMS_SIGNATURE_HEADER: "0x" + params_signature.hex()} if params_signature else None
        )
        self._request(
            "PUT", "/v1/federation/parameters", body=data, signed=True, extra_headers=headers
        )

    def participants(self) -> list[dict[str, Any]]:
        """``GET /v1/participants``."""
        result: list[dict[str, Any]] = self._json("GET", "/v1/participants")
        return result

    # ------------------------------------------------------------------ keys

    def upload_sealed_key(self, sealed: fc.SealedKey) -> None:
        """``PUT /v1/keys/{recipient}`` (key dealer)."""
        body = json.dumps(
            {
                "ciphertext": "0x" + sealed.ciphertext.hex(),
                "dealer_signature": "0x" + sealed.dealer_signature.hex(),
            }
        ).encode()
        self._request(
            "PUT",
            f"/v1/keys/{sealed.recipient}",
            body=body,
            signed=True,
            content_type="application/json",
        )

    def fetch_sealed_key(self) -> fc.SealedKey:
        """``GET /v1/keys/{own address}`` (signed)."""
        if self.account is None:
            raise FedledgerError("fetching a sealed key needs the recipient's account")
        data = self._json("GET", f"/v1/keys/{self.account.address}", signed=True)
        return fc.SealedKey(
            recipient=data["recipient"],
            ciphertext=bytes.fromhex(data["ciphertext"][2:]),
            dealer_signature=bytes.fromhex(data["dealer_signature"][2:]),
        )

    # ------------------------------------------------------------------ rounds

    def rounds(self) -> list[dict[str, Any]]:
        """``GET /v1/rounds``."""
        result: list[dict[str, Any]] = self._json("GET", "/v1/rounds")
        return result

    def current_round(
        self, *, after: tuple[int, RoundPhase] | None = None, wait_s: float = 0.0
    ) -> dict[str, Any] | None:
        """``GET /v1/rounds/current``; ``None`` before the first round.

        With ``after`` (a ``(number, phase)``: the one seen last, or a later one awaited) the
        server answers as soon as the latest round has moved past it, or after ``wait_s``
        seconds (a long-poll).
        """
        params: dict[str, Any] | None = None
        if after is not None:
            params = {"after": f"{after[0]}:{after[1]}", "wait_s": wait_s}
        try:
            result: dict[str, Any] = self._json("GET", "/v1/rounds/current", params=params)
        except AggregatorError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def round(self, number: int) -> dict[str, Any]:
        """``GET /v1/rounds/{n}``."""
        result: dict[str, Any] = self._json("GET", f"/v1/rounds/{number}")
        return result

    def upload_update(
        self,
        number: int,
        blob: bytes,
        *,
        blob_hash: bytes | None = None,
        commitment_signature: bytes | None = None,
    ) -> dict[str, Any]:
        """``PUT /v1/rounds/{n}/updates`` (signed); returns the receipt.

        ``blob_hash`` (keccak256 of ``blob``, i.e. the commitment) saves hashing it again;
        ``commitment_signature`` (the signed ``UpdateCommitment``, 65 bytes) is relayed by the
        aggregator — without it the participant must have committed on chain itself.
        """
        headers = (
            {COMMITMENT_SIGNATURE_HEADER: "0x" + commitment_signature.hex()}
            if commitment_signature
            else None
        )
        result: dict[str, Any] = self._json(
            "PUT",
            f"/v1/rounds/{number}/updates",
            body=blob,
            signed=True,
            body_hash=blob_hash,
            extra_headers=headers,
        )
        return result

    def attest(self, number: int, model_hash: bytes, signature: bytes) -> dict[str, Any]:
        """``POST /v1/rounds/{n}/attestations`` (signed): hand over a signed
        ``ModelAttestation`` (65 bytes) for relaying; the receipt says whether to upload the
        model's bytes (``upload_model``)."""
        body = json.dumps(
            {"model_hash": fc.hash_hex(model_hash), "signature": "0x" + signature.hex()}
        ).encode()
        result: dict[str, Any] = self._json(
            "POST",
            f"/v1/rounds/{number}/attestations",
            body=body,
            signed=True,
            content_type="application/json",
        )
        return result

    def updates(self, number: int) -> list[dict[str, Any]]:
        """``GET /v1/rounds/{n}/updates``: metadata only."""
        result: list[dict[str, Any]] = self._json("GET", f"/v1/rounds/{number}/updates")
        return result

    def update_blob(self, number: int, participant: str) -> Blob:
        """``GET /v1/rounds/{n}/updates/{participant}`` (signed, auditors only)."""
        return self._blob(f"/v1/rounds/{number}/updates/{participant}", signed=True)

    def aggregate(self, number: int) -> Blob:
        """``GET /v1/rounds/{n}/aggregate``."""
        return self._blob(f"/v1/rounds/{number}/aggregate")

    def submit_reveals(self, number: int, reveals: list[mk.Reveal]) -> list[dict[str, Any]]:
        """``POST /v1/rounds/{n}/reveals`` (signed by the revealer): the reveals as stored."""
        body = json.dumps({"reveals": [_reveal_json(r) for r in reveals]}).encode()
        result: list[dict[str, Any]] = self._json(
            "POST",
            f"/v1/rounds/{number}/reveals",
            body=body,
            signed=True,
            content_type="application/json",
        )
        return result

    def reveals(self, number: int) -> ServedReveals:
        """``GET /v1/rounds/{n}/reveals``: a round's dropped members and their reveals."""
        data = self._json("GET", f"/v1/rounds/{number}/reveals")
        parsed, malformed = [], []
        for item in data["reveals"]:
            try:
                parsed.append(_reveal_of(item))
            except (KeyError, ValueError) as exc:  # a RevealError is a ValueError
                malformed.append(f"{item.get('revealer')} for {item.get('dropped')}: {exc}")
        digest = data.get("reveals_hash")
        return ServedReveals(
            round_number=int(data["round"]),
            phase=str(data["phase"]),
            dropped=[str(d) for d in data["dropped"]],
            reveals=parsed,
            reveals_hash=fc.hash_from_hex(digest) if digest else None,
            malformed=malformed,
        )

    # ------------------------------------------------------------------ models

    def model(self, model_hash: bytes) -> Blob:
        """``GET /v1/models/{hash}``."""
        return self._blob(f"/v1/models/{fc.hash_hex(model_hash)}")

    def model_info(self, model_hash: bytes) -> dict[str, Any]:
        """``GET /v1/models/{hash}/info``: a stored model's metadata (404 when not stored)."""
        result: dict[str, Any] = self._json("GET", f"/v1/models/{fc.hash_hex(model_hash)}/info")
        return result

    def latest_model(self) -> Blob:
        """``GET /v1/models/latest``."""
        return self._blob("/v1/models/latest")

    def upload_model(self, model_hash: bytes, round_number: int, data: bytes) -> bool:
        """``PUT /v1/models/{hash}?round=n`` (signed); ``True`` when newly stored."""
        response = self._request(
            "PUT",
            f"/v1/models/{fc.hash_hex(model_hash)}",
            body=data,
            signed=True,
            params={"round": round_number},
        )
        return response.status_code == 201
