"""The served API against its own OpenAPI schema: schemathesis generates requests for every
operation (a bounded number each, valid ones and, where an operation takes input, invalid ones)
against the real aggregator on a loopback port, on the embedded chain, with a federation whose
first round is open and holds one update. Valid requests to signed operations carry a real
signature of an admitted participant, so they reach the operation's own checks. No answer may
be a 5xx or violate the schema (status codes, error codes, content types, headers)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from harness import Federation, local_result, make_federation, wait_for
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from wire import error_code, signed

import fedledger_crypto as fc
from fedledger_clients.tasks.base import Aggregation
from fedledger_platform.aggregator.routers.rounds import MAX_WAIT_S
from fedledger_platform.aggregator.server import ServerThread

EXAMPLES = 20
ROOT = Path(__file__).resolve().parents[2]


def fed_scope(fed: Federation) -> fc.RequestScope:
    return fc.RequestScope(fed.chain.chain_id, fed.ledger.address)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Federation, ServerThread]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    fed = make_federation(tmp)
    try:
        server = fed.serve(fed.settings(f"sqlite:///{tmp / 'agg.db'}", count=1))
        participants = fed.join(server)
        reader = fed.client(server)
        wait_for(lambda: (c := reader.current_round()) and c["phase"] == "open", what="round 1")
        p = participants[0]
        blob = p.encrypt(
            p.base_model(1), local_result(0, 1), aggregation=Aggregation.MEAN, round_number=1
        )
        p.submit(1, blob)
        yield fed, server
    finally:
        fed.close()


@pytest.fixture(scope="module")
def api_schema(served: tuple[Federation, ServerThread]) -> Any:
    _, server = served
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


PATHS = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
#: Every operation with valid requests, and those that take input with invalid ones too.
CASES = [
    (f"{method.upper()} {path}", mode)
    for path, methods in PATHS.items()
    for method, operation in methods.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(operation)
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_operation_answers_within_its_schema(
    served: tuple[Federation, ServerThread], api_schema: Any, label: str, mode: GenerationMode
) -> None:
    fed, _ = served
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    signed = any(
        p["name"] == fc.HEADER_SIGNATURE for p in operation.definition.raw.get("parameters", [])
    )
    scope = fed_scope(fed)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        if case.query and isinstance(case.query.get("wait_s"), int | float):
            # The long-poll limit is tested on its own; here a long wait only slows the run.
            case.query["wait_s"] = min(case.query["wait_s"], 0.2)
        excluded = []
        if signed and mode is GenerationMode.POSITIVE:
            # A real signature by an admitted participant over exactly what will be sent, so
            # that the request reaches the operation's own checks (and their refusals).
            kwargs = case.as_transport_kwargs(base_url=api_schema.get_base_url())
            prepared = requests.Request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                data=kwargs.get("data"),
            ).prepare()
            body = prepared.body or b""
            case.headers = {
                **(case.headers or {}),
                **fc.sign_request(
                    fed.accounts[1],
                    method=case.method,
                    path=prepared.path_url,
                    body=body.encode() if isinstance(body, str) else body,
                    scope=scope,
                ),
            }
            # A verified request may still be refused for what it means (a body that is not
            # the committed update: 422 commitment_mismatch), which the schema cannot express;
            # every such answer must still be documented for the operation, as checked.
            excluded.append(positive_data_acceptance)
        case.call_and_validate(excluded_checks=excluded)

    check()


# ------------------------------------------------------------ what generated requests found


def test_an_unsupported_method_is_405_with_allow(served: tuple[Federation, ServerThread]) -> None:
    _, server = served
    # Execute
    response = httpx.request("TRACE", server.url + "/v1/health")
    # Assert
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_path_address_is_checked_as_documented(served: tuple[Federation, ServerThread]) -> None:
    fed, server = served
    participant = fed.accounts[1]
    # Prepare: the documented pattern, in every letter case, including a broken EIP-55 checksum
    mixed = "0x" + "".join(
        c.upper() if i % 2 else c.lower() for i, c in enumerate(participant.address[2:])
    )
    for spelling in (
        participant.address.lower(),
        participant.address.upper().replace("X", "x"),
        mixed,
    ):
        path = f"/v1/keys/{spelling}"
        headers = signed(participant, fed_scope(fed), "GET", path)
        # Execute
        response = httpx.get(server.url + path, headers=headers)
        # Assert: the participant's own sealed key, whatever the spelling
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["recipient"] == participant.address
    # Outside the pattern: 400 before the signature is looked at
    response = httpx.get(server.url + "/v1/keys/" + participant.address[2:])
    assert response.status_code == 400 and error_code(response) == "malformed_request"


def test_the_long_poll_limit_is_the_documented_one(served: tuple[Federation, ServerThread]) -> None:
    _, server = served
    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())
    (wait,) = [
        p
        for p in documented["paths"]["/v1/rounds/current"]["get"]["parameters"]
        if p["name"] == "wait_s"
    ]
    limit = wait["schema"]["maximum"]
    assert limit == MAX_WAIT_S
    url = server.url + "/v1/rounds/current"
    # Over the limit: refused at once
    over = httpx.get(url, params={"after": "1:open", "wait_s": limit + 0.5})
    assert over.status_code == 400 and error_code(over) == "malformed_request"
    # Within it: the answer comes when the wait is over, not later (nothing changes meanwhile)
    started = time.monotonic()
    answer = httpx.get(url, params={"after": "1:open", "wait_s": 1.5}, timeout=limit + 10)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and answer.json()["number"] == 1
    assert 1.5 <= elapsed < 1.5 + 5
