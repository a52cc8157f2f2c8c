"""FederationSpec checks: a spec that cannot run is refused before anything starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fedledger_app.federation import FederationSpec, check_spec
from fedledger_platform.errors import ConfigurationError


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"clients": 1}, "clients must be at least 2, got 1"),
        ({"rounds": 0}, "rounds must be at least 1, got 0"),
        ({"min_updates": 9}, "min_updates must be between 1 and clients (8), got 9"),
        ({"min_updates": 0}, "min_updates must be between 1 and clients (8), got 0"),
        ({"chain": "ws://127.0.0.1:8545"}, "chain 'ws://127.0.0.1:8545' is neither"),
        ({"client_processes": True}, "client processes need a chain outside this process"),
        ({"task": "nope"}, "unknown task 'nope'"),
    ],
)
def test_check_spec_names_the_offending_field(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    spec = FederationSpec(out=tmp_path / "out", **changes)  # type: ignore[arg-type]
    with pytest.raises((ConfigurationError, KeyError), match=re.escape(message)):
        check_spec(spec)
    assert not (tmp_path / "out").exists()


def test_check_spec_accepts_every_chain_kind(tmp_path: Path) -> None:
    for chain in ("embedded", "hardhat", "http://127.0.0.1:8545", "https://devnet.example"):
        check_spec(FederationSpec(out=tmp_path, chain=chain, min_updates=5))
