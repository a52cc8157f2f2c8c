"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fedledger_crypto as fc
from fedledger_platform.ledger.devnet import HardhatNode, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def secret_context() -> Any:
    """One secret CKKS context of the default parameter set (key generation takes ~15 ms)."""
    return fc.create_secret_context(fc.DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def parameters_context(secret_context: Any) -> Any:
    """The parameters-only context derived from ``secret_context``."""
    return fc.load_parameters_context(fc.parameters_bytes(secret_context), fc.DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def encryptor(secret_context: Any) -> fc.UpdateEncryptor:
    """A participant-side encryptor over ``secret_context``."""
    return fc.UpdateEncryptor(secret_context)


@pytest.fixture(scope="session")
def hardhat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``hardhat node`` for the whole session, started and stopped here.

    Never skipped: when Hardhat is not installed the tests fail and say `make setup`.
    """
    log_path = tmp_path_factory.mktemp("hardhat") / "node.log"
    with log_path.open("wb") as log, HardhatNode(port=free_port(), log=log) as node:
        yield node.url
