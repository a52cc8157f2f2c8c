"""The chain every ledger test runs on: the embedded chain and a real Hardhat node."""

from __future__ import annotations

import pytest

from fedledger_platform.ledger import Chain, connect


@pytest.fixture(
    params=["embedded", pytest.param("hardhat", marks=pytest.mark.hardhat)], scope="module"
)
def chain(request: pytest.FixtureRequest) -> Chain:
    """A fresh embedded chain, or the session's Hardhat node, per test module."""
    if request.param == "embedded":
        return connect()
    return connect(request.getfixturevalue("hardhat_url"))
