"""Bad input against the real service (uvicorn on a loopback port, embedded chain).

1. Every status of the error table (``fedledger_platform.aggregator.errors``) from a real HTTP
   request, asserting the status first and then the JSON body's ``code``.
2. 2,400 generated malformed, oversized, unsigned, forged and replayed requests (a seeded
   generator): every answer is 4xx, the service stays up and still accepts a legitimate
   upload, and the stored state — every row of every table and every file of the blob store —
   is byte-for-byte what it was before.
3. 503: the aggregator reaches a real Hardhat node through a TCP proxy that the test cuts.

The scenario (module fixture): round 1 runs to publication with three honest participants,
one of whom attests the hash of bytes that are not a model; in round 2 the first participant's
update is accepted; 36 more accounts, admitted before round 2 opened (so members of its mask
graph), 35 of which commit on chain to a bad blob each (another parameter set, another scale,
another schema, an aggregate posing as an update, and truncated or mutated copies of a valid
update), so that their uploads get past the commitment check and exercise the blob validation
itself; one more account is admitted after round 2 opened.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import tenseal as ts
from eth_account import Account
from eth_account.signers.local import LocalAccount
from harness import Federation, local_result, make_federation, wait_for
from tcpproxy import TcpProxy
from wire import error_code, signed, snapshot_state

import fedledger_crypto as fc
from fedledger_clients.keydealer import KeyDealer
from fedledger_clients.participant import Participant, mean_update_next_state
from fedledger_clients.tasks.base import Aggregation
from fedledger_crypto.codec import assemble_blob
from fedledger_platform.aggregator import AggregatorSettings
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.api_client import AggregatorClient, AggregatorUnavailableError
from fedledger_platform.ledger import Ledger, connect
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import queries

LIMIT = 512 * 1024  # max_upload_bytes of the service under test (a valid update is ~197 kB)
ADVERSARIES = 36
FUZZ_REQUESTS = 2_400
UPDATES = "/v1/rounds/2/updates"


class RecordingTransport(httpx.BaseTransport):
    """An HTTP transport that remembers every PUT the service accepted (201), for replays."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.accepted: list[tuple[str, str, list[tuple[str, str]], bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "PUT" and response.status_code == 201:
            self.accepted.append(
                (
                    request.method,
                    request.url.raw_path.decode(),
                    [(k, v) for k, v in request.headers.items() if k.startswith("x-fedledger")],
                    request.content,
                )
            )
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass
class Arena:
    """The scenario every test here attacks (see the module docstring)."""

    fed: Federation
    server: ServerThread
    database_url: str
    blob_dir: Path
    scope: fc.RequestScope
    participants: list[Participant]
    adversaries: list[LocalAccount]  # admitted; all but the last committed a bad blob
    bad_blobs: dict[str, bytes]  # adversary address -> the bad blob it committed to
    expected: dict[str, tuple[int, str]]  # adversary address -> the answer its blob must get
    accepted_round2: bytes  # participant 0's accepted round-2 update
    spare: bytes  # a valid round-2 update nobody committed to (participant 1's, uploaded last)
    garbage_model: bytes  # bytes that are no model, attested on chain by participant 2
    unattested_model: bytes  # a real model file nobody attested
    recorder: RecordingTransport
    latecomer: LocalAccount  # admitted after round 2 opened
    outsider: LocalAccount = field(default_factory=Account.create)  # never admitted

    @property
    def url(self) -> str:
        return self.server.url

    def snapshot(self) -> dict[str, Any]:
        return snapshot_state(self.database_url, self.blob_dir)


def _other_scale_blob(secret: Any, schema: fc.UpdateSchema, values: np.ndarray[Any, Any]) -> bytes:
    """A blob that claims the federation's parameter set but is encoded at scale 2**30."""
    params = fc.DEFAULT_PARAMS
    slots = np.concatenate([values, [1.0], np.zeros(len(schema.metric_names))])
    # Real-encoded vectors filling as many slots as the packed chunks would (two values each).
    per_chunk = 2 * params.slots
    vectors = [
        ts.ckks_vector(secret, slots[i : i + per_chunk : 2].tolist(), 2.0**30)
        for i in range(0, len(slots), per_chunk)
    ]
    return assemble_blob(
        params=params,
        kind=fc.BlobKind.UPDATE,
        schema_digest=schema.digest(),
        value_count=schema.layout.size,
        extra_slots=schema.extra_slots,
        contributors=1,
        chunks=[bytes(v.serialize()) for v in vectors],
    )


def _aggregate_posing_as_update(secret: Any, blob: bytes) -> bytes:
    """A valid blob re-labelled as an aggregate of 1,000 contributors."""
    header, vectors = fc.load_blob(blob, secret, fc.DEFAULT_PARAMS)
    return assemble_blob(
        params=fc.DEFAULT_PARAMS,
        kind=fc.BlobKind.AGGREGATE,
        schema_digest=header.schema_digest,
        value_count=header.value_count,
        extra_slots=header.extra_slots,
        contributors=1_000,
        chunks=[bytes(v.serialize()) for v in vectors],
    )


def _mutate(rng: random.Random, blob: bytes) -> bytes:
    """A truncated, extended or corrupted copy of ``blob``."""
    data = bytearray(blob)
    header_end = fc.parse_header(blob, fc.DEFAULT_PARAMS).chunk_spans[0][0]
    how = rng.randrange(7)
    if how == 0:
        return bytes(data[: rng.randrange(1, len(data))])
    if how == 1:
        return bytes(data) + rng.randbytes(rng.randrange(1, 4096))
    if how == 2:  # a byte of the header or chunk table
        i = rng.randrange(header_end)
        data[i] ^= 1 << rng.randrange(8)
    elif how == 3:  # a span of a chunk overwritten
        start = rng.randrange(header_end, len(data) - 64)
        data[start : start + 64] = rng.randbytes(64)
    elif how == 4:  # a chunk's first bytes (its TenSEAL/SEAL framing)
        start = header_end + rng.choice([0, 1, 2, 3, 8, 16])
        data[start : start + 4] = rng.randbytes(4)
    elif how == 5:  # a chunk dropped, the table untouched
        return bytes(data[: header_end + 1000]) + bytes(data[header_end + 70_000 :])
    else:  # bytes swapped between two places
        i, j = rng.randrange(len(data)), rng.randrange(len(data))
        data[i], data[j] = data[j], data[i]
    return bytes(data)


def _reference_answer(
    context: Any, schema: fc.UpdateSchema, accepted: bytes, blob: bytes, tmp: Path
) -> tuple[int, str] | None:
    """What the service must answer for ``blob`` after ``accepted``; ``None`` if it is valid."""
    reference = fc.StreamingAggregator(context, schema_digest=schema.digest())
    reference.add(accepted)
    path = tmp / "candidate.bin"
    path.write_bytes(blob)
    try:
        reference.add_file(path, kind=fc.BlobKind.UPDATE)
    except fc.ParameterMismatchError:
        return 422, "wrong_parameters"
    except fc.SchemaMismatchError:
        return 422, "wrong_schema"
    except fc.BlobError:
        return 400, "malformed_blob"
    return None


def _fresh_postgres_database(server_url: str) -> str:
    import psycopg

    name = f"fedledger_bad_input_{random.randrange(16**8):08x}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def arena(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Arena]:
    tmp = tmp_path_factory.mktemp("bad-input")
    fed = make_federation(tmp, participants=3)
    recorder = RecordingTransport()
    try:
        database_url = (
            f"sqlite:///{tmp / 'aggregator.db'}"
            if request.param == "sqlite"
            else _fresh_postgres_database(request.getfixturevalue("postgres_server"))
        )
        settings = AggregatorSettings(
            chain="embedded",
            database_url=database_url,
            blob_dir=tmp / "blobs",
            poll_interval_s=0.05,
            max_upload_bytes=LIMIT,
            rounds={"count": 2, "min_updates": 3, "timeout_s": 3600},  # type: ignore[arg-type]
        )
        server = fed.serve(settings)
        scope = fc.RequestScope(fed.chain.chain_id, fed.ledger.address)
        participants = [
            Participant(
                account,
                ledger=fed.ledger,
                client=AggregatorClient(
                    server.url, account=account, scope=scope, transport=recorder
                ),
                max_clients=16,
            )
            for account in fed.accounts
        ]
        dealer = KeyDealer(participants[0])
        dealer.set_up()
        dealer.seal_pending()
        for p in participants[1:]:
            p.receive_key()
        reader = fed.client(server)

        # Round 1, to publication; participant 2 attests bytes that are not a model.
        wait_for(lambda: (c := reader.current_round()) and c["phase"] == "open", what="round 1")
        base1 = participants[0].base_model(1)
        for i, p in enumerate(participants):
            p.submit(
                1,
                p.encrypt(base1, local_result(i, 1), aggregation=Aggregation.MEAN, round_number=1),
            )
        wait_for(lambda: fed.ledger.get_round(1).status is RoundPhase.CLOSED, what="close 1")
        garbage_model = b"these bytes are not a safetensors model file " * 3
        fed.ledger.attest_model(participants[2].account, 1, fc.keccak256(garbage_model))
        # Admitted before round 2 opens, so members of its mask graph.
        adversaries = [Account.create() for _ in range(ADVERSARIES)]
        for account in adversaries:
            fed.chain.fund(account.address, 10**18)
            fed.ledger.admit_participant(fed.operator, account.address, fc.public_key_of(account))
        for p in participants[:2]:
            p.finish(1, base1, aggregation=Aggregation.MEAN, next_state=mean_update_next_state)
        wait_for(
            lambda: (c := reader.current_round()) and c["number"] == 2 and c["phase"] == "open",
            what="round 2",
        )

        # Round 2: participant 0's update is accepted; adversaries commit to bad blobs.
        base2 = participants[0].base_model(2)
        schema = base2.schema()
        accepted_round2 = participants[0].encrypt(
            base2, local_result(0, 2), aggregation=Aggregation.MEAN, round_number=2
        )
        participants[0].submit(2, accepted_round2)
        # The snapshot every test compares must not move under it: the relayer records the
        # accepted commitment on chain a moment after the upload.
        service = server.server.config.app.state.service

        def relayed() -> bool:
            with service.db.session() as s:
                return not queries.pending_commitments(s, 2)

        wait_for(relayed, what="round 2's accepted commitment on chain")
        spare = participants[1].encrypt(
            base2, local_result(1, 2), aggregation=Aggregation.MEAN, round_number=2
        )
        published = reader.model(fed.ledger.get_round(1).published_model_hash).data
        unattested_model = published[:-4] + struct.pack("<f", 12.5)  # one value changed

        secret = fc.load_secret_context(participants[0].secret_context, fc.DEFAULT_PARAMS)
        context = fc.load_parameters_context(reader.parameters(), fc.DEFAULT_PARAMS)
        values = schema.layout.flatten(local_result(2, 2).update)
        precise = fc.UpdateEncryptor(fc.create_secret_context(fc.PRECISE_PARAMS))
        other_schema = fc.UpdateSchema(fc.TensorLayout.vector(schema.layout.size), ("x", "y"))
        rng = random.Random(4)
        bad: list[bytes] = [
            b"FLDG" + rng.randbytes(5_000),
            precise.encrypt(
                schema,
                values,
                weight=1.0,
                metrics={"correct": 1.0, "total": 2.0},
                headroom=fc.HeadroomPolicy(fc.PRECISE_PARAMS, max_clients=16),
            ),
            _other_scale_blob(secret, schema, values),
            participants[0].encryptor.encrypt(
                other_schema,
                values,
                weight=1.0,
                metrics={"x": 1.0, "y": 2.0},
                headroom=fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=16),
            ),
            _aggregate_posing_as_update(secret, spare),
        ]
        expected: list[tuple[int, str]] = [
            (400, "malformed_blob"),
            (422, "wrong_parameters"),
            (422, "wrong_parameters"),
            (422, "wrong_schema"),
            (400, "malformed_blob"),
        ]
        for blob, answer in zip(bad, expected, strict=True):
            assert _reference_answer(context, schema, accepted_round2, blob, tmp) == answer
        seen = {fc.keccak256(b) for b in bad}
        while len(bad) < ADVERSARIES - 1:
            candidate = _mutate(rng, spare)
            answer = _reference_answer(context, schema, accepted_round2, candidate, tmp)
            if answer is None or fc.keccak256(candidate) in seen:
                continue  # still a valid update (or a repeat): not bad input
            seen.add(fc.keccak256(candidate))
            bad.append(candidate)
            expected.append(answer)
        latecomer = Account.create()  # admitted after round 2 opened: not one of its members
        fed.ledger.admit_participant(fed.operator, latecomer.address, fc.public_key_of(latecomer))
        for account, blob in zip(adversaries, bad, strict=False):
            fed.ledger.commit_update(account, 2, fc.keccak256(blob))
        yield Arena(
            fed=fed,
            server=server,
            database_url=database_url,
            blob_dir=tmp / "blobs",
            scope=scope,
            participants=participants,
            adversaries=adversaries,
            bad_blobs={a.address: b for a, b in zip(adversaries, bad, strict=False)},
            expected={a.address: e for a, e in zip(adversaries, expected, strict=False)},
            accepted_round2=accepted_round2,
            spare=spare,
            garbage_model=garbage_model,
            unattested_model=unattested_model,
            recorder=recorder,
            latecomer=latecomer,
        )
    finally:
        fed.close()
        recorder.close()


def _sealed_key_json(dealer: LocalAccount, scope: fc.RequestScope) -> bytes:
    """A well-formed sealed-key body signed by ``dealer`` (sealed to a throwaway key)."""
    sealed = fc.seal_key(
        b"not the federation's key",
        recipient_public_key=fc.public_key_of(Account.create()),
        dealer=dealer,
        scope=scope,
    )
    return (
        '{"ciphertext": "0x'
        + sealed.ciphertext.hex()
        + '", "dealer_signature": "0x'
        + sealed.dealer_signature.hex()
        + '"}'
    ).encode()


def test_every_error_status_from_a_real_request(arena: Arena) -> None:
    # Prepare
    p0, p1, p2 = (p.account for p in arena.participants)
    scope, before = arena.scope, arena.snapshot()
    first_adversary, precise, scaled, schema_adv, aggregate_adv = arena.adversaries[:5]
    no_commitment = arena.adversaries[-1]
    http = httpx.Client(base_url=arena.url, timeout=60)

    def put(account: LocalAccount, path: str, body: bytes, **kw: Any) -> httpx.Response:
        return http.put(path, content=body, headers=signed(account, scope, "PUT", path, body, **kw))

    def get(account: LocalAccount, path: str) -> httpx.Response:
        return http.get(path, headers=signed(account, scope, "GET", path))

    model_path = f"/v1/models/{fc.hash_hex(fc.keccak256(arena.garbage_model))}?round=1"
    unattested_path = f"/v1/models/{fc.hash_hex(fc.keccak256(arena.unattested_model))}?round=1"
    oversized = b"\x01" * (LIMIT + 1)
    replay = next(r for r in arena.recorder.accepted if r[1] == UPDATES)
    cases: list[tuple[str, httpx.Response, int, str]] = [
        # 400
        ("round number", put(p1, "/v1/rounds/two/updates", arena.spare), 400, "malformed_request"),
        (
            "blob",
            put(first_adversary, UPDATES, arena.bad_blobs[first_adversary.address]),
            400,
            "malformed_blob",
        ),
        ("empty blob", put(p1, UPDATES, b""), 400, "malformed_blob"),
        ("round out of range", http.get(f"/v1/rounds/{2**31}"), 400, "malformed_request"),
        (
            "aggregate as update",
            put(aggregate_adv, UPDATES, arena.bad_blobs[aggregate_adv.address]),
            400,
            "malformed_blob",
        ),
        ("model", put(p2, model_path, arena.garbage_model), 400, "malformed_model"),
        (
            "JSON",
            put(p0, f"/v1/keys/{p1.address}", b'{"ciphertext": "0x00",'),
            400,
            "malformed_request",
        ),
        # 401
        ("missing signature", http.put(UPDATES, content=arena.spare), 401, "missing_signature"),
        (
            "signature over another body",
            http.put(
                UPDATES,
                content=arena.spare,
                headers=signed(p1, scope, "PUT", UPDATES, arena.accepted_round2),
            ),
            401,
            "bad_signature",
        ),
        (
            "stale timestamp",
            put(p1, UPDATES, arena.spare, timestamp=int(time.time()) - 3_600),
            401,
            "stale_request",
        ),
        # 403
        ("not admitted", put(arena.outsider, UPDATES, arena.spare), 403, "not_admitted"),
        ("admitted after opening", put(arena.latecomer, UPDATES, arena.spare), 403, "not_member"),
        ("another's sealed key", get(p1, f"/v1/keys/{p2.address}"), 403, "not_allowed"),
        ("an individual update", get(p1, f"/v1/rounds/1/updates/{p0.address}"), 403, "not_allowed"),
        (
            "parameters from a non-dealer",
            put(p1, "/v1/federation/parameters", http.get("/v1/federation/parameters").content),
            403,
            "not_allowed",
        ),
        (
            "sealed key from a non-dealer",
            put(p1, f"/v1/keys/{p2.address}", _sealed_key_json(p1, scope)),
            403,
            "not_allowed",
        ),
        (
            "sealed key for a non-participant",
            put(p0, f"/v1/keys/{arena.outsider.address}", _sealed_key_json(p0, scope)),
            403,
            "not_admitted",
        ),
        # 404
        ("round", http.get("/v1/rounds/42"), 404, "not_found"),
        ("model", http.get(f"/v1/models/0x{'00' * 32}"), 404, "not_found"),
        ("route", http.get("/v1/no-such-thing"), 404, "not_found"),
        (
            "update (auditor)",
            http.get(
                f"/v1/rounds/2/updates/{p2.address}",
                headers=signed(
                    arena.fed.auditor, scope, "GET", f"/v1/rounds/2/updates/{p2.address}"
                ),
            ),
            404,
            "not_found",
        ),
        # 409
        ("different update", put(p0, UPDATES, arena.spare), 409, "duplicate"),
        (
            "closed round",
            put(first_adversary, "/v1/rounds/1/updates", arena.bad_blobs[first_adversary.address]),
            409,
            "round_not_open",
        ),
        (
            "round never opened",
            put(first_adversary, "/v1/rounds/7/updates", arena.bad_blobs[first_adversary.address]),
            409,
            "round_not_open",
        ),
        (
            "replayed nonce",
            http.put(replay[1], content=replay[3], headers=replay[2]),
            409,
            "replayed_nonce",
        ),
        # 413
        ("Content-Length", put(p1, UPDATES, oversized), 413, "too_large"),
        ("Content-Length, unsigned", http.put(UPDATES, content=oversized), 413, "too_large"),
        (
            "chunked",
            http.put(
                UPDATES,
                content=iter([oversized[:LIMIT], oversized[LIMIT:]]),
                headers=signed(p1, scope, "PUT", UPDATES, oversized),
            ),
            413,
            "too_large",
        ),
        # 422
        ("commitment", put(no_commitment, UPDATES, arena.spare), 422, "commitment_mismatch"),
        (
            "another parameter set",
            put(precise, UPDATES, arena.bad_blobs[precise.address]),
            422,
            "wrong_parameters",
        ),
        (
            "another scale",
            put(scaled, UPDATES, arena.bad_blobs[scaled.address]),
            422,
            "wrong_parameters",
        ),
        (
            "another schema",
            put(schema_adv, UPDATES, arena.bad_blobs[schema_adv.address]),
            422,
            "wrong_schema",
        ),
        (
            "model not attested",
            put(p0, unattested_path, arena.unattested_model),
            422,
            "not_attested",
        ),
    ]
    # Assert: the status first, then the code; and nothing was stored.
    for what, response, status, code in cases:
        assert response.status_code == status, (what, response.text)
        assert error_code(response) == code, (what, response.text)
    assert {c[2] for c in cases} == {400, 401, 403, 404, 409, 413, 422}
    chunked = next(c for c in cases if c[0] == "chunked")[1]
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert arena.snapshot() == before
    http.close()


# ---------------------------------------------------------------------- generated requests


@dataclass
class Case:
    """One generated request and, when it is determined, the answer it must get."""

    kind: str
    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    statuses: set[int] | None = None
    codes: set[str] | None = None
    chunked: bool = False


def _hdr(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]


class Generator:
    """A seeded source of bad requests against the arena."""

    def __init__(self, arena: Arena, seed: int) -> None:
        self.arena = arena
        self.rng = random.Random(seed)
        self.scope = arena.scope
        self.strangers = [Account.create() for _ in range(4)]
        self.p0, self.p1, self.p2 = (p.account for p in arena.participants)
        self.auditor = arena.fed.auditor
        self.committed = [a for a in arena.adversaries if a.address in arena.bad_blobs]
        self.replays = list(arena.recorder.accepted)
        self.precise_parameters = fc.parameters_bytes(fc.create_secret_context(fc.PRECISE_PARAMS))
        assert len(self.replays) >= 6  # parameters, 3 sealed keys, updates, models

    # -------------------------------------------------------------- pieces

    def body(self) -> bytes:
        r = self.rng
        choice = r.randrange(6)
        if choice == 0:
            return r.randbytes(r.randrange(1, 2048))
        if choice == 1:
            return b"FLDG" + r.randbytes(r.randrange(0, 4096))
        if choice == 2:
            return self.arena.spare
        if choice == 3:
            return _mutate(r, self.arena.spare)
        if choice == 4:
            return r.choice(list(self.arena.bad_blobs.values()))
        return b'{"ciphertext": "0x' + r.randbytes(r.randrange(0, 64)).hex().encode() + b'"}'

    def garbage_segment(self) -> str:
        alphabet = "abcxyz0123456789-_.~%!$&'()*+,;=:@"
        text = "".join(self.rng.choice(alphabet) for _ in range(self.rng.randrange(1, 24)))
        return text.replace("%", "%25") if self.rng.random() < 0.5 else text

    def bad_path(self) -> str:
        r, seg = self.rng, self.garbage_segment()
        return r.choice(
            [
                f"/v1/{seg}",
                f"/{seg}",
                f"/v1/rounds/{seg}",
                f"/v1/rounds/{r.choice([0, -1, 3, 99, 2**31 - 1, 2**31, 2**63, 10**30])}",
                f"/v1/rounds/{r.randrange(3, 10**6)}/aggregate",
                "/v1/rounds/2/aggregate",
                f"/v1/rounds/{seg}/updates",
                f"/v1/rounds/2/updates/{seg}",
                f"/v1/rounds/1/updates/{self.p0.address}",
                f"/v1/models/{seg}",
                f"/v1/models/0x{r.randbytes(32).hex()}",
                f"/v1/models/0x{r.randbytes(32).hex()}/info",
                f"/v1/keys/{seg}",
                f"/v1/keys/{self.p1.address}",
                f"/v1/{seg}/{seg}/{seg}",
                "/v1/rounds/2/updates/" + "a" * r.randrange(100, 3000),
            ]
        )

    def sign(
        self, account: LocalAccount, method: str, path: str, body: bytes, **kw: Any
    ) -> list[tuple[bytes, bytes]]:
        return _hdr(signed(account, self.scope, method, path, body, **kw))

    def by(
        self,
        account: LocalAccount,
        kind: str,
        method: str,
        path: str,
        body: bytes,
        *,
        expect: tuple[set[int], set[str]],
    ) -> Case:
        """A request signed by ``account`` over exactly what is sent, and its answer."""
        headers = self.sign(account, method, path, body)
        return Case(kind, method, path, headers, body, *expect)

    # -------------------------------------------------------------- categories

    def random_route(self) -> Case:
        method = self.rng.choice(["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"])
        body = b"" if method in ("GET", "OPTIONS") else self.body()
        return Case("random route", method, self.bad_path(), [], body)

    def wrong_method(self) -> Case:
        path = self.rng.choice(
            [
                "/v1/health",
                "/v1/federation",
                "/v1/rounds",
                "/v1/rounds/2",
                UPDATES,
                "/v1/participants",
                "/v1/models/latest",
                "/v1/federation/parameters",
            ]
        )
        method = self.rng.choice(["POST", "DELETE", "PATCH"])
        return Case("wrong method", method, path, [], self.body(), {405})

    def unsigned_write(self) -> Case:
        path = self.rng.choice(
            [
                UPDATES,
                "/v1/federation/parameters",
                f"/v1/keys/{self.p1.address}",
                f"/v1/models/0x{self.rng.randbytes(32).hex()}?round=1",
            ]
        )
        body = self.body()
        codes = (
            {"missing_signature"} if path == UPDATES else {"missing_signature", "malformed_request"}
        )
        return Case("unsigned", "PUT", path, [], body, {400, 401}, codes)

    def malformed_headers(self) -> Case:
        r = self.rng
        body = self.body()
        headers = dict(signed(r.choice([self.p1, self.p2]), self.scope, "PUT", UPDATES, body))
        name = r.choice(list(headers))
        mangled = {
            fc.HEADER_ADDRESS: [
                "",
                "0x",
                "0x" + "g" * 40,
                "0x" + "ab" * 19,
                "0x" + "ab" * 21,
                "bob",
                headers[fc.HEADER_ADDRESS].lower()[2:],
            ],
            fc.HEADER_TIMESTAMP: [
                "",
                "-1",
                "1e9",
                "+" + headers[fc.HEADER_TIMESTAMP],
                "9" * 13,
                "0x10",
                "\u00b2\u00b3",
                "1.5",
                "NaN",
            ],
            fc.HEADER_NONCE: ["", "0", "A" * 32, "g" * 32, "a" * 31, "a" * 33, "a" * 4096],
            fc.HEADER_SIGNATURE: [
                "",
                "0x",
                "0x" + "00" * 65,
                "0x" + "ff" * 65,
                "00" * 66,
                "0x" + "ab" * 64,
                "0x" + "zz" * 65,
                "0x" + "ab" * 66,
            ],
        }[name]
        drop = r.random() < 0.3
        if drop:
            del headers[name]
        else:
            headers[name] = r.choice(mangled)
        raw = [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
        return Case(
            "malformed signature headers",
            "PUT",
            UPDATES,
            raw,
            body,
            {401},
            {"missing_signature", "bad_signature"},
        )

    def forged(self) -> Case:
        r = self.rng
        account = r.choice([self.p0, self.p1, self.p2, *self.committed[:5]])
        body = self.body()
        how = r.randrange(7)
        signed_body, signed_path, method = body, UPDATES, "PUT"
        scope = self.scope
        if how == 0:
            signed_body = body + b"\x00"
        elif how == 1:
            signed_body = r.choice([*self.arena.bad_blobs.values(), self.arena.spare])
            if signed_body == body:
                signed_body = body[:-1]
        elif how == 2:
            signed_path = "/v1/rounds/3/updates"
        elif how == 3:
            method = "POST"
        elif how == 4:
            scope = fc.RequestScope(self.scope.chain_id + 1, self.scope.ledger_address)
        elif how == 5:
            scope = fc.RequestScope(self.scope.chain_id, Account.create().address)
        headers = signed(account, scope, method, signed_path, signed_body)
        if how == 6:  # a header changed after signing
            key = r.choice([fc.HEADER_TIMESTAMP, fc.HEADER_NONCE, fc.HEADER_ADDRESS])
            if key == fc.HEADER_TIMESTAMP:
                headers[key] = str(int(headers[key]) + r.choice([-1, 1]))
            elif key == fc.HEADER_NONCE:
                headers[key] = f"{r.getrandbits(128):032x}"
            else:
                headers[key] = r.choice(
                    [a for a in (self.p0, self.p1, self.p2) if a != account]
                ).address
        return Case(
            "forged signature", "PUT", UPDATES, _hdr(headers), body, {401}, {"bad_signature"}
        )

    def stale(self) -> Case:
        body = self.body()
        skew = self.rng.choice([-1, 1]) * self.rng.randrange(400, 10**7)
        headers = self.sign(self.p1, "PUT", UPDATES, body, timestamp=int(time.time()) + skew)
        return Case("stale", "PUT", UPDATES, headers, body, {401}, {"stale_request"})

    def stranger(self) -> Case:
        r, account = self.rng, self.rng.choice(self.strangers)
        choice = r.randrange(5)
        if choice == 0:
            body = r.choice([self.arena.spare, *self.arena.bad_blobs.values()])
            return self.by(
                account, "not admitted", "PUT", UPDATES, body, expect=({403}, {"not_admitted"})
            )
        if choice == 1:
            body = self.body()
            path = f"/v1/models/{fc.hash_hex(fc.keccak256(body))}?round={r.choice([1, 2])}"
            return self.by(
                account, "not admitted (model)", "PUT", path, body, expect=({403}, {"not_admitted"})
            )
        if choice == 2:
            body = self.body()
            path = "/v1/federation/parameters"
            return self.by(
                account,
                "not the dealer (parameters)",
                "PUT",
                path,
                body,
                expect=({403}, {"not_allowed"}),
            )
        if choice == 3:
            path = f"/v1/keys/{self.p2.address}"
            body = _sealed_key_json(account, self.scope)
            return self.by(
                account,
                "not the dealer (sealed key)",
                "PUT",
                path,
                body,
                expect=({403}, {"not_allowed"}),
            )
        path = r.choice(
            [
                f"/v1/keys/{self.p1.address}",
                f"/v1/keys/{account.address}",
                f"/v1/rounds/1/updates/{self.p0.address}",
            ]
        )
        return self.by(
            account,
            "stranger reads",
            "GET",
            path,
            b"",
            expect=({403, 404}, {"not_allowed", "not_found"}),
        )

    def participant_reads(self) -> Case:
        r = self.rng
        reader = r.choice([self.p1, self.p2, *self.committed[:3]])
        others = [a for a in (self.p0, self.p1, self.p2) if a != reader]
        path = r.choice(
            [
                f"/v1/keys/{r.choice(others).address}",
                f"/v1/rounds/{r.choice([1, 2])}/updates/{r.choice(others).address}",
            ]
        )
        return self.by(
            reader, "participant reads another's", "GET", path, b"", expect=({403}, {"not_allowed"})
        )

    def replay(self) -> Case:
        method, path, headers, body = self.rng.choice(self.replays)
        return Case(
            "replay",
            method,
            path,
            _hdr(dict(headers)),
            body,
            {409, 401},
            {"replayed_nonce", "stale_request"},
        )

    def committed_blob(self) -> Case:
        r = self.rng
        account = r.choice(self.committed)
        blob = self.arena.bad_blobs[account.address]
        status, code = self.arena.expected[account.address]
        round_number = r.choice([2, 2, 2, 2, 1, 3, 2**31 - 1])
        path = f"/v1/rounds/{round_number}/updates"
        if round_number != 2:
            status, code = 409, "round_not_open"
        return self.by(account, "committed bad blob", "PUT", path, blob, expect=({status}, {code}))

    def commitment_mismatch(self) -> Case:
        r = self.rng
        account = r.choice([self.p1, self.p2, self.arena.adversaries[-1], *self.committed])
        blob = r.choice([self.arena.spare, self.body(), *self.arena.bad_blobs.values()])
        if (
            account.address in self.arena.bad_blobs
            and blob == self.arena.bad_blobs[account.address]
        ):
            blob = blob + b"\x00"
        if not blob:
            blob = b"\x00"
        return self.by(
            account,
            "commitment mismatch",
            "PUT",
            UPDATES,
            blob,
            expect=({422}, {"commitment_mismatch"}),
        )

    def duplicate(self) -> Case:
        blob = self.rng.choice([self.arena.spare, *self.arena.bad_blobs.values(), self.body()])
        if blob == self.arena.accepted_round2 or not blob:
            blob = self.arena.spare
        return self.by(self.p0, "duplicate", "PUT", UPDATES, blob, expect=({409}, {"duplicate"}))

    def oversized(self) -> Case:
        r = self.rng
        body = r.randbytes(LIMIT + r.randrange(1, 65_536))
        chunked = r.random() < 0.5
        sign = r.random() < 0.7
        headers = self.sign(self.p1, "PUT", UPDATES, body) if sign else []
        if chunked and not sign:  # an unsigned chunked upload is refused before its body is read
            return Case("oversized", "PUT", UPDATES, [], body, {401}, {"missing_signature"}, True)
        return Case("oversized", "PUT", UPDATES, headers, body, {413}, {"too_large"}, chunked)

    def models(self) -> Case:
        r = self.rng
        account = r.choice([self.p0, self.p1, self.p2])
        choice = r.randrange(5)
        body = r.choice([self.arena.garbage_model, self.arena.unattested_model, self.body()])
        digest = fc.keccak256(body)
        round_text: str = str(r.choice([1, 2]))
        statuses, codes = {422}, {"not_attested"}
        if body == self.arena.garbage_model and round_text == "1":
            statuses, codes = {400}, {"malformed_model"}
        if choice == 0:
            digest = fc.keccak256(body + b"!")
            statuses, codes = {422}, {"commitment_mismatch"}
        elif choice == 1:
            round_text = r.choice(["0", "-3", "x", "", str(2**64), str(10**40), "1.5"])
            statuses, codes = {400}, {"malformed_request"}
        path = f"/v1/models/{fc.hash_hex(digest)}?round={round_text}"
        if choice == 2:
            path = f"/v1/models/{r.choice(['0x12', '0x' + 'zz' * 32, 'latest'])}?round=1"
            statuses, codes = {400, 405}, {"malformed_request", "method_not_allowed"}
        return self.by(account, "model upload", "PUT", path, body, expect=(statuses, codes))

    def dealer_writes(self) -> Case:
        r = self.rng
        dealer = self.p0
        if r.random() < 0.5:
            path = "/v1/federation/parameters"
            body = r.choice([self.body(), self.precise_parameters, b"\x00" * 64])
            return self.by(
                dealer, "dealer parameters", "PUT", path, body, expect=({422}, {"wrong_parameters"})
            )
        recipient = r.choice([self.p1, self.p2, r.choice(self.strangers)])
        path = f"/v1/keys/{recipient.address}"
        choice = r.randrange(3)
        if choice == 0:
            body = self.body()
            statuses, codes = {400}, {"malformed_request"}  # not JSON, or no dealer_signature
        elif choice == 1:  # a copy signed by someone else than the dealer
            body = _sealed_key_json(r.choice(self.strangers), self.scope)
            statuses, codes = {422}, {"bad_sealed_key"}
        else:
            body = (
                b'{"ciphertext": "0x'
                + r.randbytes(40).hex().encode()
                + b'", "dealer_signature": "0x'
                + r.randbytes(r.choice([64, 65, 66])).hex().encode()
                + b'"}'
            )
            statuses, codes = {422}, {"bad_sealed_key"}
        if recipient in self.strangers and choice != 0:
            statuses, codes = {403}, {"not_admitted"}
        return self.by(dealer, "dealer sealed key", "PUT", path, body, expect=(statuses, codes))

    def generate(self, count: int) -> list[Case]:
        makers = [
            (self.random_route, 4),
            (self.wrong_method, 1),
            (self.unsigned_write, 2),
            (self.malformed_headers, 3),
            (self.forged, 3),
            (self.stale, 1),
            (self.stranger, 2),
            (self.participant_reads, 1),
            (self.replay, 2),
            (self.committed_blob, 4),
            (self.commitment_mismatch, 2),
            (self.duplicate, 1),
            (self.oversized, 1),
            (self.models, 2),
            (self.dealer_writes, 2),
        ]
        population = [m for m, weight in makers for _ in range(weight)]
        return [self.rng.choice(population)() for _ in range(count)]


def _send(client: httpx.Client, case: Case) -> httpx.Response:
    content: Any = case.body
    if case.chunked:
        content = iter([case.body[i : i + 65_536] for i in range(0, len(case.body), 65_536)])
    return client.request(case.method, case.path, headers=case.headers, content=content)


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes; return what came back before the server closed or went quiet."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered (or closed) before reading everything
            pass
        try:
            while piece := sock.recv(65_536):
                chunks.append(piece)
        except OSError:  # timeout or reset
            pass
    return b"".join(chunks)


def _raw_requests(rng: random.Random, count: int) -> list[bytes]:
    """Requests that are broken at the HTTP level."""
    out = []
    for _ in range(count):
        choice = rng.randrange(6)
        if choice == 0:
            out.append(rng.randbytes(rng.randrange(1, 2000)) + b"\r\n\r\n")
        elif choice == 1:
            out.append(
                b"PUT "
                + UPDATES.encode()
                + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
                + rng.choice([b"-1", b"abc", b"1, 2", b"\xb2", b"99999999999999999999999"])
                + b"\r\n\r\nxx"
            )
        elif choice == 2:
            out.append(
                b"PUT " + UPDATES.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
        elif choice == 3:
            out.append(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        elif choice == 4:
            out.append(
                b"PUT " + UPDATES.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                b"chunked\r\n\r\nzz\r\n" + rng.randbytes(50) + b"\r\n"
            )
        else:
            out.append(
                b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
            )
    return out


def test_generated_bad_requests_answer_4xx_and_change_nothing(arena: Arena) -> None:
    # Prepare
    cases = Generator(arena, seed=20_260).generate(FUZZ_REQUESTS)
    raw = _raw_requests(random.Random(7), 60)
    before = arena.snapshot()
    local = threading.local()
    clients: list[httpx.Client] = []

    def send(case: Case) -> tuple[Case, int, str | None, str]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=arena.url, timeout=60)
            clients.append(local.client)
        try:
            response = _send(local.client, case)
        except httpx.HTTPError as exc:  # a dropped connection counts as a failure too
            return case, 0, None, repr(exc)
        return case, response.status_code, error_code(response), response.text[:300]

    # Execute: four concurrent senders, then HTTP-level garbage over raw sockets.
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(send, cases))
    finally:
        for client in clients:
            client.close()
    raw_answers = [_raw_exchange(arena.server.port, data) for data in raw]

    # Assert: every answer is a 4xx (and the expected one where it is determined) ...
    wrong = [
        (case.kind, case.method, case.path, case.statuses, case.codes, status, code, text[:100])
        for case, status, code, text in results
        if not 400 <= status < 500
        or (case.statuses is not None and status not in case.statuses)
        or (case.codes is not None and code not in case.codes)
    ]
    assert not wrong, "\n".join(map(repr, wrong[:10]))
    by_status = Counter(status for _, status, _, _ in results)
    assert len(results) >= 2_000 and set(by_status) >= {400, 401, 403, 404, 405, 409, 413, 422}
    for answer in raw_answers:
        if answer:  # the server may also just close the connection
            status = int(answer.split(b" ", 2)[1])
            assert 400 <= status < 500, answer[:200]
    # ... the service is up and healthy, and nothing it stores changed ...
    health = httpx.get(f"{arena.url}/v1/health", timeout=30).json()
    assert health["status"] == "ok", health
    assert arena.snapshot() == before
    # ... and a legitimate upload still succeeds.
    p1 = arena.participants[1]
    receipt = p1.submit(2, arena.spare)
    assert receipt.uploaded_now and receipt.relayed
    assert arena.snapshot() != before


# ---------------------------------------------------------------------- 503


@pytest.mark.hardhat
def test_chain_unreachable_is_503_and_the_service_recovers(
    hardhat_url: str, tmp_path: Path
) -> None:
    # Prepare: the aggregator talks to a real Hardhat node through a proxy the test can cut.
    node = urlsplit(hardhat_url)
    assert node.hostname is not None and node.port is not None
    with TcpProxy(node.hostname, node.port) as proxy:
        chain = connect(proxy.url, timeout_s=5)
        operator = chain.faucet()
        aggregator, auditor, participant = Account.create(), Account.create(), Account.create()
        for account in (aggregator, auditor, participant):
            chain.fund(account.address, 10**19)
        ledger, _ = deploy_federation(chain, operator, aggregator=aggregator.address)
        ledger.admit_participant(operator, participant.address, fc.public_key_of(participant))
        fed = Federation(
            chain,
            Ledger(chain, ledger.address),
            operator,
            aggregator,
            auditor,
            [participant],
            tmp_path,
        )
        try:
            server = fed.serve(fed.settings(f"sqlite:///{tmp_path / 'aggregator.db'}"))
            scope = fc.RequestScope(chain.chain_id, ledger.address)
            body = b"FLDG" + bytes(100)
            client = fed.client(server, participant)
            assert httpx.get(f"{server.url}/v1/health").status_code == 200
            before = snapshot_state(f"sqlite:///{tmp_path / 'aggregator.db'}", tmp_path / "blobs")

            # Execute: the node becomes unreachable.
            proxy.cut()
            upload = httpx.put(
                f"{server.url}{UPDATES}",
                content=body,
                headers=signed(participant, scope, "PUT", UPDATES, body),
                timeout=60,
            )
            health = httpx.get(f"{server.url}/v1/health", timeout=60)
            with pytest.raises(AggregatorUnavailableError) as raised:
                client.federation()

            # Assert: 503 chain_unavailable with Retry-After, a retryable error for clients,
            # nothing stored; and the service works again once the node is back.
            assert upload.status_code == 503, upload.text
            assert error_code(upload) == "chain_unavailable"
            assert upload.headers["retry-after"]
            assert health.status_code == 503 and error_code(health) == "chain_unavailable"
            assert raised.value.status == 503 and raised.value.code == "chain_unavailable"
            proxy.restore()
            wait_for(
                lambda: httpx.get(f"{server.url}/v1/health", timeout=60).json()["status"] == "ok",
                what="the service to recover",
            )
            again = httpx.put(
                f"{server.url}{UPDATES}",
                content=body,
                headers=signed(participant, scope, "PUT", UPDATES, body),
                timeout=60,
            )
            assert again.status_code == 409 and error_code(again) == "round_not_open"
            after = snapshot_state(f"sqlite:///{tmp_path / 'aggregator.db'}", tmp_path / "blobs")
            assert after == before
        finally:
            fed.close()
