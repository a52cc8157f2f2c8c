"""docs/openapi.json is the schema the code serves."""

from __future__ import annotations

import json
from pathlib import Path

from fedledger_platform.aggregator import AggregatorSettings, create_app

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_is_current() -> None:
    served = create_app(AggregatorSettings()).openapi()
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == served, "docs/openapi.json is stale: run `fedledger openapi`"


def test_every_route_is_versioned_and_documents_errors() -> None:
    spec = create_app(AggregatorSettings()).openapi()
    for path, operations in spec["paths"].items():
        assert path.startswith("/v1/"), path
        for method, operation in operations.items():
            if method == "put":
                assert {"400", "401", "409"} <= set(operation["responses"]), (path, method)
